/**
 * Upgrades through the proxy: a WebSocket (or another allowed protocol) is asked for again on a
 * fresh upstream connection and, on 101, the two sockets are joined as a tunnel — backpressure,
 * half-close and an idle timeout included — holding one upstream slot. Whatever is not a granted
 * upgrade stays HTTP on both connections: the bytes after a refused upgrade are parsed as the next
 * request, and a 101 nobody asked for is an upstream error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startProxy, startOrigin, rawExchange } from './helpers.ts';
import { until } from '../support.ts';
import { RawClient } from '../server/helpers.ts';
import { createProxy, type TunnelRecord } from '../../src/proxy/index.ts';
import { ProxyFront } from '../../src/proxy/front.ts';
import { RouteTable, type ProxyRoute } from '../../src/proxy/routes.ts';

/** A `ws` echo server (on node:http, an independent peer); closed after the test. */
async function wsBackend(t: import('node:test').TestContext): Promise<{ url: string; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 32 * 1024 * 1024 });
  await once(wss, 'listening');
  wss.on('connection', (ws, req) => {
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      if (text === 'headers') ws.send(JSON.stringify(req.headers));
      else if (text.startsWith('close:')) ws.close(Number(text.slice(6)), 'bye');
      else ws.send(data, { binary: isBinary });
    });
  });
  t.after(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, wss };
}

async function open(t: import('node:test').TestContext, url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { maxPayload: 32 * 1024 * 1024 });
  t.after(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

function nextMessage(ws: WebSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => resolve(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[])));
    ws.once('error', reject);
    // A tunnel cut under the socket must fail the wait, not hang it.
    ws.once('close', (code: number) => reject(new Error(`closed (${code}) before a message`)));
  });
}

/** A raw upstream: answers each upgrade request head with `onUpgrade(socket, head)`. */
async function rawBackend(t: import('node:test').TestContext, onRequest: (socket: net.Socket, head: string) => void): Promise<string> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      s.removeListener('data', onData);
      const rest = buf.slice(end + 4);
      if (rest.length > 0) s.unshift(Buffer.from(rest, 'latin1'));
      onRequest(s, buf.slice(0, end));
    };
    s.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  t.after(() => { for (const s of sockets) s.destroy(); server.close(); });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const UPGRADE_HEAD = (path: string, protocol = 'websocket'): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: ${protocol}\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

test('proxy: a WebSocket is tunnelled (text, binary, close codes) and counted', async (t) => {
  const backend = await wsBackend(t);
  const records: TunnelRecord[] = [];
  const proxy = await startProxy(t, { upstreams: [backend.url], onTunnel: (r) => records.push(r) });
  const ws = await open(t, `${proxy.url.replace('http', 'ws')}/chat`);
  ws.send('hello');
  assert.equal((await nextMessage(ws)).toString(), 'hello');
  ws.send(Buffer.from([1, 2, 3]));
  assert.deepEqual(await nextMessage(ws), Buffer.from([1, 2, 3]));
  // The upstream saw the upgrade asked again, with the proxy's additions.
  ws.send('headers');
  const seen = JSON.parse((await nextMessage(ws)).toString()) as Record<string, string>;
  assert.equal(seen['upgrade'], 'websocket');
  assert.match(seen['connection'] ?? '', /upgrade/i);
  assert.match(seen['via'] ?? '', /holdfast/);
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(proxy.stats.tunnels.active, 1);
  assert.equal(proxy.upstreams[0]!.active, 1);
  ws.send('close:4001');
  const [code] = (await once(ws, 'close')) as [number];
  assert.equal(code, 4001);
  await until(() => records.length === 1, { what: 'the tunnel record' });
  const r = records[0]!;
  assert.equal(r.protocol, 'websocket');
  assert.equal(r.target, '/chat');
  assert.ok(r.bytesFromClient > 0 && r.bytesFromUpstream > 0);
  assert.equal(proxy.stats.tunnels.opened, 1);
  assert.equal(proxy.stats.tunnels.active, 0);
  assert.equal(proxy.stats.tunnels.bytesFromClient, r.bytesFromClient);
  assert.equal(proxy.upstreams[0]!.active, 0);
});

test('proxy: a 16 MB message crosses the tunnel both ways', async (t) => {
  const backend = await wsBackend(t);
  const proxy = await startProxy(t, { upstreams: [backend.url] });
  const ws = await open(t, `${proxy.url.replace('http', 'ws')}/big`);
  const big = Buffer.alloc(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 1000) big[i] = i & 0xff;
  ws.send(big);
  const back = await nextMessage(ws);
  assert.ok(back.equals(big));
});

test('proxy: half-close passes through the tunnel (a FIN, then the answer)', async (t) => {
  // The upstream answers only after the client's FIN: without half-close passed on, it never does.
  const upstream = await rawBackend(t, (s) => {
    s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-count\r\nConnection: Upgrade\r\n\r\n');
    let n = 0;
    s.on('data', (d: Buffer) => { n += d.length; });
    s.on('end', () => s.end(`got ${n}`));
  });
  const proxy = await startProxy(t, { upstreams: [upstream], upgradeProtocols: ['websocket', 'x-count'] });
  const c = new RawClient(proxy.server.port);
  t.after(() => c.destroy());
  c.write(UPGRADE_HEAD('/', 'x-count'));
  assert.ok(await c.waitFor((d) => d.includes('\r\n\r\n')));
  c.write('12345');
  c.socket.end();
  const ending = await c.ended;
  assert.equal(ending.error, null);
  assert.match(ending.data.toString('latin1'), /^HTTP\/1\.1 101 [\s\S]*\r\n\r\ngot 5$/);
});

test('proxy: upgradeProtocols [] turns upgrades off: the request goes on as a plain one, Upgrade removed', async (t) => {
  let seen = '';
  const upstream = await rawBackend(t, (s, head) => {
    seen = head;
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain');
  });
  const proxy = await startProxy(t, { upstreams: [upstream], upgradeProtocols: [] });
  const c = new RawClient(proxy.server.port);
  t.after(() => c.destroy());
  c.write(UPGRADE_HEAD('/'));
  assert.ok(await c.waitFor((d) => d.toString('latin1').endsWith('plain')));
  assert.match(c.data.toString('latin1'), /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(seen, /^upgrade:/im);
});

test('proxy: an idle tunnel is closed at its timeout', async (t) => {
  const backend = await wsBackend(t);
  const proxy = await startProxy(t, { upstreams: [backend.url], timeouts: { tunnelIdle: 300 } });
  const ws = await open(t, `${proxy.url.replace('http', 'ws')}/idle`);
  ws.send('still alive');
  assert.equal((await nextMessage(ws)).toString(), 'still alive');
  await once(ws, 'close');
  await until(() => proxy.stats.tunnels.idleTimeouts === 1, { what: 'the idle timeout counted' });
  assert.equal(proxy.stats.tunnels.active, 0);
});

test('proxy: a backend that dies mid-message closes the client side cleanly (FIN, no hang)', async (t) => {
  const upstream = await rawBackend(t, (s) => {
    s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    // A text frame announcing 100 bytes, 10 of them sent, then the backend is gone.
    s.write(Buffer.from([0x81, 100, ...Buffer.from('0123456789')]));
    setImmediate(() => s.destroy());
  });
  const proxy = await startProxy(t, { upstreams: [upstream] });
  const c = new RawClient(proxy.server.port);
  t.after(() => c.destroy());
  c.write(UPGRADE_HEAD('/'));
  const ending = await c.ended;
  assert.equal(ending.fin, true);
  assert.equal(ending.error, null);
  assert.ok(ending.data.includes(Buffer.from('0123456789')));
});

test('proxy: bytes after a refused upgrade are parsed as HTTP, never tunnelled', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(req.url === '/ws' ? 426 : 200, { 'content-type': 'text/plain' });
    res.end(`origin ${req.url}`);
  });
  const proxy = await startProxy(t, { upstreams: [origin.url] });
  const { data } = await rawExchange(proxy.server.port, UPGRADE_HEAD('/ws') + 'GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(data, /^HTTP\/1\.1 426 [\s\S]*origin \/ws[\s\S]*HTTP\/1\.1 200 [\s\S]*origin \/second$/);
  assert.deepEqual(origin.seen.map((s) => s.url), ['/ws', '/second']);
  assert.equal(proxy.stats.tunnels.refused, 1);
  assert.equal(proxy.stats.tunnels.opened, 0);
});

test('proxy: an Upgrade request with a body is an ordinary request (no second framing)', async (t) => {
  const origin = await startOrigin(t, (req, res, body) => {
    res.end(`origin ${req.url} ${body.toString()} upgrade=${req.headers.upgrade ?? '-'}`);
  });
  const proxy = await startProxy(t, { upstreams: [origin.url] });
  const { data } = await rawExchange(proxy.server.port,
    'POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n\r\nhello' +
    'GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(data, /origin \/ws hello upgrade=-[\s\S]*origin \/second {2}upgrade=-$/);
  assert.equal(proxy.stats.tunnels.opened, 0);
});

test('proxy: a 101 to a request that asked for no upgrade is an upstream error, its bytes never reach the client', async (t) => {
  const upstream = await rawBackend(t, (s) => {
    s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled');
  });
  const proxy = await startProxy(t, { upstreams: [upstream] });
  const { data } = await rawExchange(proxy.server.port, 'GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(data, /^HTTP\/1\.1 502 /);
  assert.doesNotMatch(data, /smuggled/);
});

test('proxy: an upgrade to a protocol not allowed goes upstream as a plain request', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(`upgrade=${req.headers.upgrade ?? '-'}`));
  const proxy = await startProxy(t, { upstreams: [origin.url] });
  const { data } = await rawExchange(proxy.server.port, 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, close\r\n\r\n');
  assert.match(data, /^HTTP\/1\.1 200 [\s\S]*upgrade=-$/);
});

test('proxy: a tunnel holds one upstream slot for its life (upstreamConcurrency 1)', async (t) => {
  const backend = await wsBackend(t);
  // ws's server answers plain requests with 426: all this test needs is an answer that can only
  // come once the slot is free.
  const proxy = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1 });
  const ws = await open(t, `${proxy.url.replace('http', 'ws')}/held`);
  const waiting = rawExchange(proxy.server.port, 'GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 10_000);
  await until(() => proxy.queued === 1, { what: 'the plain request queued behind the tunnel' });
  ws.close(1000);
  const { data } = await waiting;
  assert.match(data, /^HTTP\/1\.1 426 /);
  assert.equal(proxy.queued, 0);
});

test('proxy: behind a held tunnel on a single-slot upstream, others get 503 at the queue timeout (as documented), never a hang', async (t) => {
  const backend = await wsBackend(t);
  const proxy = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1, timeouts: { queue: 200 } });
  const ws = await open(t, `${proxy.url.replace('http', 'ws')}/held`);
  const { data } = await rawExchange(proxy.server.port, 'GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 10_000);
  assert.match(data, /^HTTP\/1\.1 503 [\s\S]*HF_PROXY_QUEUE_TIMEOUT/);
  // The tunnel itself is untouched.
  ws.send('after');
  assert.equal((await nextMessage(ws)).toString(), 'after');
});

test('proxy: backpressure — a client sending faster than the upstream reads is paused, and every byte arrives', async (t) => {
  let upstreamSocket: net.Socket | null = null;
  const upstream = await rawBackend(t, (s) => {
    s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-count\r\nConnection: Upgrade\r\n\r\n');
    // The upstream reads nothing for now.
    s.pause();
    upstreamSocket = s;
  });
  // The proxy's own downstream socket, to see whether it stopped reading.
  const proxySockets: net.Socket[] = [];
  const onCreated = (m: unknown): void => void proxySockets.push((m as { socket: net.Socket }).socket);
  diagnostics.subscribe('holdfast:server:connection:created', onCreated);
  t.after(() => diagnostics.unsubscribe('holdfast:server:connection:created', onCreated));
  const proxy = await startProxy(t, { upstreams: [upstream], upgradeProtocols: ['x-count'] });
  const c = new RawClient(proxy.server.port);
  t.after(() => c.destroy());
  c.write(UPGRADE_HEAD('/', 'x-count'));
  assert.ok(await c.waitFor((d) => d.includes('\r\n\r\n')));
  const total = 32 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  const writing = (async () => {
    while (written < total) {
      written += chunk.length;
      if (!c.socket.write(chunk)) await once(c.socket, 'drain');
    }
  })();
  // Without backpressure the proxy would read all 32 MB into memory while the upstream reads nothing.
  await until(() => proxySockets[0]?.isPaused() === true, { timeoutMs: 20_000, what: 'the proxy to stop reading the client' });
  let received = 0;
  upstreamSocket!.on('data', (d: Buffer) => { received += d.length; });
  upstreamSocket!.resume();
  await writing;
  await until(() => received === total, { timeoutMs: 20_000, what: () => `all bytes upstream (${received} of ${total})` });
});

test('proxy: close() ends a tunnel still open at its deadline, and the record says shutdown', async (t) => {
  const backend = await wsBackend(t);
  const records: TunnelRecord[] = [];
  const proxy = createProxy({ upstreams: [backend.url], onTunnel: (r) => records.push(r) });
  await proxy.listen(0, '127.0.0.1');
  const ws = await open(t, `${proxy.url.replace('http', 'ws')}/`);
  const closed = once(ws, 'close');
  await proxy.close({ timeout: 100 });
  await closed;
  assert.deepEqual(records.map((r) => r.reason), ['shutdown']);
});

test('proxy: a WebSocket to an https upstream (wss behind the proxy)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-wss-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(`tls: ${d.toString()}`)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    server.close(() => resolve());
  }));
  const port = (server.address() as AddressInfo).port;
  const proxy = await startProxy(t, { upstreams: [`https://127.0.0.1:${port}`], agent: { tls: { rejectUnauthorized: false } } });
  const ws = await open(t, `${proxy.url.replace('http', 'ws')}/`);
  ws.send('hello');
  assert.equal((await nextMessage(ws)).toString(), 'tls: hello');
});

test('front door: a WebSocket tunnel outlives a reload of the routes (the old route retires, the tunnel stays)', async (t) => {
  const backend = await wsBackend(t);
  const route = (name: string): ProxyRoute => ({ name, host: null, pathPrefix: '/', proxy: createProxy({ upstreams: [backend.url] }) });
  const front = new ProxyFront({ routes: new RouteTable([route('before')]) });
  const address = await front.server.listen(0, '127.0.0.1');
  t.after(() => front.close({ timeout: 0 }));
  const ws = await open(t, `ws://127.0.0.1:${address.port}/live`);
  ws.send('one');
  assert.equal((await nextMessage(ws)).toString(), 'one');
  // The reload resolves once the old routes' requests are done and their proxies closed.
  await front.replaceRoutes(new RouteTable([route('after')]));
  ws.send('two');
  assert.equal((await nextMessage(ws)).toString(), 'two', 'the tunnel opened before the reload still carries messages');
  const fresh = await open(t, `ws://127.0.0.1:${address.port}/live`);
  fresh.send('three');
  assert.equal((await nextMessage(fresh)).toString(), 'three');
});
