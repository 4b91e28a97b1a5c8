/**
 * WebSockets as browsers and real backends speak them, through `holdfast proxy`: headless Chromium
 * opens WebSockets to a `ws` backend and to Python's `websockets` (Debian) backend through the
 * proxy, plain and over TLS, and its tunnel survives the proxy closing its other, idle connections.
 * The CLI's `--tunnel-idle-timeout` closes an idle tunnel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { WebSocket, WebSocketServer } from 'ws';
import { PYTHON, startProxy, stopChild, tempDir } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const WS_BACKEND_PY = join(here, 'fixtures', 'ws_backend.py');
const CLI = join(here, '..', '..', 'src', 'cli', 'proxy.ts');

const PAGE = '<!doctype html><title>ws</title><h1>ws</h1>';

/** A node:http backend serving a page at `/` and a `ws` echo at `/ws`. */
async function nodeBackend(t: import('node:test').TestContext): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(PAGE);
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(bin ? d : `node: ${d.toString()}`)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Python's `websockets` echo server, in its own process. */
async function pythonBackend(t: import('node:test').TestContext): Promise<string> {
  const child = spawn(PYTHON, [WS_BACKEND_PY], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => stopChild(child));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 200 && !/port \d+/.test(out); i++) await new Promise((r) => setTimeout(r, 25));
  const port = /port (\d+)/.exec(out)?.[1];
  assert.ok(port !== undefined, 'the Python websockets backend did not start');
  return `http://127.0.0.1:${port}`;
}

/** In the page: opens `url`, sends `text`, resolves with the first answer (socket kept in window.sockets). */
function roundTrip(url: string, text: string, key: string): string {
  return `new Promise((resolve, reject) => {
    const ws = new WebSocket(${JSON.stringify(url)});
    (window.sockets ??= {})[${JSON.stringify(key)}] = ws;
    ws.onopen = () => ws.send(${JSON.stringify(text)});
    ws.onmessage = (e) => resolve(String(e.data));
    ws.onerror = () => reject(new Error('websocket error'));
  })`;
}

/** In the page: another message on an open socket. */
function again(key: string, text: string): string {
  return `new Promise((resolve, reject) => {
    const ws = window.sockets[${JSON.stringify(key)}];
    ws.onmessage = (e) => resolve(String(e.data));
    ws.onclose = () => reject(new Error('closed'));
    ws.send(${JSON.stringify(text)});
  })`;
}

test('Chromium: WebSockets through the proxy to ws and to Python websockets, plain and TLS', async (t) => {
  const node = await nodeBackend(t);
  const python = await pythonBackend(t);
  const dir = tempDir(t, 'hf-ws-tls-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  const toNode = await startProxy(t, { upstreams: [node] });
  const toPython = await startProxy(t, { upstreams: [python] });
  const overTls = await startProxy(t, { upstreams: [node], server: { onError: () => {}, tls } });

  const profile = tempDir(t, 'hf-ws-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--ignore-certificate-errors'],
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const loaded = await page.goto(`${toNode.url}/`, { waitUntil: 'load', timeout: 20_000 });
  assert.equal(loaded?.status(), 200);
  const wsUrl = (u: string): string => u.replace(/^http/, 'ws');

  assert.equal(await page.evaluate(roundTrip(`${wsUrl(toNode.url)}/ws`, 'hello', 'node')), 'node: hello');
  assert.equal(await page.evaluate(roundTrip(`${wsUrl(toPython.url)}/`, 'hello python', 'python')), 'hello python');
  assert.equal(toNode.stats.tunnels.active, 1);
  assert.equal(toPython.stats.tunnels.active, 1);

  // The proxy closes its idle connections (as in a reload): the page's keep-alive connection goes,
  // the tunnels stay.
  toNode.server.closeIdle();
  toPython.server.closeIdle();
  assert.equal(await page.evaluate(again('node', 'still there')), 'node: still there');
  assert.equal(await page.evaluate(again('python', 'still there')), 'still there');

  const tlsPage = await page.goto(`${overTls.url}/`, { waitUntil: 'load', timeout: 20_000 });
  assert.equal(tlsPage?.status(), 200);
  assert.equal(await page.evaluate(roundTrip(`${wsUrl(overTls.url)}/ws`, 'over tls', 'tls')), 'node: over tls');
  assert.equal(overTls.stats.tunnels.opened, 1);
});

test('holdfast proxy CLI: --tunnel-idle-timeout closes an idle tunnel', async (t) => {
  const node = await nodeBackend(t);
  const child = spawn(process.execPath, [CLI, '--listen', '127.0.0.1:0', '--upstream', node, '--tunnel-idle-timeout', '300'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => stopChild(child));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let url: string | undefined;
  for (let i = 0; i < 200 && url === undefined; i++) {
    url = /listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1];
    if (url === undefined) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(url !== undefined, `no listening line: ${out}`);
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.send('one');
  const [first] = (await once(ws, 'message')) as [Buffer];
  assert.equal(first.toString(), 'node: one');
  const [code] = (await once(ws, 'close')) as [number];
  // The proxy closed the TCP connection without a close frame: the client sees 1006.
  assert.equal(code, 1006);
});

test('holdfast proxy CLI: --upgrade-protocols with an invalid token is a usage error', async () => {
  const child = spawn(process.execPath, [CLI, '--upstream', 'http://127.0.0.1:1', '--upgrade-protocols', 'web socket'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 2);
  assert.match(err, /--upgrade-protocols/);
});
