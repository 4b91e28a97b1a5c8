/**
 * Pieces of the production front door checked one at a time: interim responses, active health
 * checks, HTTPS upstreams (verified by default, `--upstream-ca`), the single-process reload,
 * route precedence, access log escaping and the merging of workers' metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MemoryStore } from '../../src/cache/index.ts';
import { RouteTable, type ProxyRoute } from '../../src/proxy/routes.ts';
import { formatCombined, type AccessRecord } from '../../src/proxy/accessLog.ts';
import { renderPrometheus, type MetricsSnapshot } from '../../src/proxy/metrics.ts';
import type { ReverseProxy } from '../../src/proxy/index.ts';
import { directRequest, freePort, rawExchange, startOrigin, startProxy, tempDir } from './helpers.ts';
import { until } from '../support.ts';
import { makeCertificate, runProxyCli } from './frontDoor.ts';

test('interim responses: 103 Early Hints reaches the client before the final response, and is never cached', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end('page');
  });
  for (const cache of [null, new MemoryStore()]) {
    const proxy = await startProxy(t, { upstreams: [origin.url], cache });
    const first = await rawExchange(proxy.server.port, 'GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(first.data, /^HTTP\/1\.1 103 Early Hints\r\nlink: <\/style\.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 200 OK\r\n/i, first.data);
    if (cache !== null) {
      const second = await rawExchange(proxy.server.port, 'GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(second.data, /^HTTP\/1\.1 200 OK\r\n/, 'a stored response comes without interim responses');
      assert.match(second.data, /cache-status: [^\r]*hit/i);
      assert.doesNotMatch(second.data, /style\.css/, 'the hint did not become part of the stored response');
    }
    // HTTP/1.0 clients know no 1xx.
    const old = await rawExchange(proxy.server.port, 'GET /q HTTP/1.0\r\nHost: x\r\n\r\n');
    assert.match(old.data, /^HTTP\/1\.1 200 OK\r\n/);
  }
});

test('active health checks take a failing upstream out before traffic meets it, and put it back', async (t) => {
  let bHealthy = false;
  const a = await startOrigin(t, (_req, res) => res.end('a'));
  const b = await startOrigin(t, (req, res) => {
    if (req.url === '/health') {
      res.writeHead(bHealthy ? 200 : 503);
      res.end();
    } else res.end('b');
  });
  const proxy = await startProxy(t, { upstreams: [a.url, b.url], healthCheck: { path: '/health', interval: 100, fails: 1, passes: 1 } });
  await until(() => proxy.upstreams[1]!.healthy === false, { timeoutMs: 5000, what: 'b marked down by its check' });
  for (let i = 0; i < 6; i++) assert.equal((await directRequest(`${proxy.url}/x`)).body.toString(), 'a');
  assert.equal(b.seen.filter((s) => s.url !== '/health').length, 0);
  bHealthy = true;
  await until(() => proxy.upstreams[1]!.healthy, { timeoutMs: 5000, what: 'b back after a passing check' });
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await directRequest(`${proxy.url}/x`)).body.toString());
  assert.deepEqual([...bodies].sort(), ['a', 'b']);
});

test('HTTPS upstreams: verified by default, trusted with --upstream-ca, SNI from the upstream host', async (t) => {
  const dir = tempDir(t, 'hf-proxy-upca-');
  const { cert, key } = makeCertificate(dir, 'backend');
  let sni: string | undefined;
  // node:https rather than holdfast's server: its close() also ends sockets still in the TLS
  // handshake (the untrusting proxy's), where holdfast's waits for the handshake timeout.
  const backend = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (_req, res) => res.end('secure backend'));
  backend.on('secureConnection', (socket: TLSSocket) => {
    if (typeof socket.servername === 'string') sni = socket.servername;
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    backend.closeAllConnections();
    backend.close();
  });
  const backendPort = (backend.address() as AddressInfo).port;
  const upstream = `https://localhost:${backendPort}`;
  const trusted = runProxyCli(t, ['--listen', '127.0.0.1:0', '--upstream', upstream, '--upstream-ca', cert]);
  const untrusted = runProxyCli(t, ['--listen', '127.0.0.1:0', '--upstream', upstream]);
  const trustedUrl = (await trusted.waitFor(/listening on (http:\/\/[\d.]+:\d+)/))[1]!;
  const untrustedUrl = (await untrusted.waitFor(/listening on (http:\/\/[\d.]+:\d+)/))[1]!;
  const ok = await directRequest(`${trustedUrl}/`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.toString(), 'secure backend');
  assert.equal(sni, 'localhost');
  const refused = await directRequest(`${untrustedUrl}/`);
  assert.equal(refused.status, 502);
  assert.match(untrusted.err(), /HF_TLS|certificate/i);
  // The error line carries the id the client got.
  assert.ok(untrusted.err().includes(`[${String(refused.headers['x-request-id'])}]`), untrusted.err());
  trusted.child.kill('SIGTERM');
  untrusted.child.kill('SIGTERM');
  assert.equal(await trusted.exited, 0);
  assert.equal(await untrusted.exited, 0);
});

test('one process: SIGHUP applies a new config file (routes) and reopens the log; SIGTERM exits 0', async (t) => {
  const one = await startOrigin(t, (_req, res) => res.end('one'));
  const two = await startOrigin(t, (_req, res) => res.end('two'));
  const dir = tempDir(t, 'hf-proxy-hup-');
  const port = await freePort();
  const config = join(dir, 'p.json');
  const log = join(dir, 'access.log');
  writeFileSync(config, JSON.stringify({ listen: `127.0.0.1:${port}`, accessLog: log, routes: [{ upstreams: [one.url] }] }));
  const p = runProxyCli(t, ['--config', config]);
  const url = (await p.waitFor(/listening on (http:\/\/[\d.]+:\d+)/))[1]!;
  assert.equal((await directRequest(`${url}/a`, { headers: { 'user-agent': 'ua "quoted"' } })).body.toString(), 'one');
  writeFileSync(config, JSON.stringify({ listen: `127.0.0.1:${port}`, accessLog: log, routes: [{ upstreams: [one.url] }, { host: 'two.example', upstreams: [two.url] }] }));
  p.child.kill('SIGHUP');
  await p.waitFor(/configuration reloaded/);
  assert.equal((await directRequest(`${url}/a`, { headers: { host: 'two.example' } })).body.toString(), 'two');
  assert.equal((await directRequest(`${url}/a`, { headers: { host: 'other.example' } })).body.toString(), 'one');
  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/a HTTP\/1\.1" 200 3 "-" "ua \\x22quoted\\x22" "[0-9a-f-]{36}" \d+\.\d{3} -$/);
});

test('routes: a host-specific route beats a catch-all, then the longest prefix wins', () => {
  const fake = (name: string): ReverseProxy => ({ name }) as unknown as ReverseProxy;
  const route = (name: string, host: string | null, pathPrefix: string): ProxyRoute => ({ name, host, pathPrefix, proxy: fake(name) });
  const table = new RouteTable([route('all', null, '/'), route('api', null, '/api/'), route('host', 'a.example', '/'), route('host-api', 'a.example', '/api/v2/')]);
  assert.equal(table.find('b.example', '/x')?.name, 'all');
  assert.equal(table.find('b.example', '/api/x')?.name, 'api');
  assert.equal(table.find('a.example', '/api/x')?.name, 'host');
  assert.equal(table.find('a.example', '/api/v2/x')?.name, 'host-api');
  assert.equal(table.find(null, 'http://b.example/api/y')?.name, 'api');
  assert.equal(new RouteTable([route('only', 'a.example', '/')]).find('b.example', '/'), null);
});

test('access log: the combined format escapes what a client could use to forge a line', () => {
  const r: AccessRecord = {
    time: Date.UTC(2026, 0, 2, 3, 4, 5), client: '10.0.0.1', method: 'GET', target: '/x', versionMinor: 1, status: 200, bytes: 5, durationMs: 12.5,
    route: 'r', upstream: null, upstreamMs: null, retries: 0, cache: 'hit', requestId: 'id', referer: 'a"b\nc', userAgent: null,
  };
  assert.equal(formatCombined(r), '10.0.0.1 - - [02/Jan/2026:03:04:05 +0000] "GET /x HTTP/1.1" 200 5 "a\\x22b\\x0ac" "-" "id" 0.013 hit\n');
});

test('metrics of several workers: counters add up, an upstream is up when any worker sees it up', () => {
  const snap = (count: number, up: number): MetricsSnapshot => ({
    holdfast_proxy_requests_total: { help: 'h', type: 'counter', merge: 'sum', samples: { 'holdfast_proxy_requests_total{route="r",code="2xx"}': count } },
    holdfast_proxy_upstream_up: { help: 'h', type: 'gauge', merge: 'max', samples: { 'holdfast_proxy_upstream_up{route="r",upstream="u"}': up } },
  });
  const text = renderPrometheus([snap(2, 0), snap(3, 1), snap(1, 1)]);
  assert.match(text, /^holdfast_proxy_requests_total\{route="r",code="2xx"\} 6$/m);
  assert.match(text, /^holdfast_proxy_upstream_up\{route="r",upstream="u"\} 1$/m);
  assert.match(text, /^# TYPE holdfast_proxy_requests_total counter$/m);
});

test("the README's configuration example loads", async () => {
  const { loadConfigFile } = await import('../../src/cli/proxyConfig.ts');
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = /### Running `holdfast proxy` in production[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example !== undefined, 'the example is in the README');
  const dir = mkdtempSync(join(tmpdir(), 'hf-readme-conf-'));
  try {
    writeFileSync(join(dir, 'proxy.json'), example);
    const plan = loadConfigFile(join(dir, 'proxy.json'));
    assert.deepEqual(plan.routes.map((r) => r.name), ['api', 'site']);
    assert.equal(plan.routes[0]!.healthCheck?.path, '/healthz');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM with --workers 2: a request in flight finishes, then every process exits 0', async (t) => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrived: () => void = () => {};
  const inFlight = new Promise<void>((resolve) => (arrived = resolve));
  const origin = await startOrigin(t, async (_req, res) => {
    arrived();
    await released;
    res.end('finished');
  });
  const p = runProxyCli(t, ['--listen', `127.0.0.1:${await freePort()}`, '--upstream', origin.url, '--workers', '2', '--shutdown-timeout', '10000']);
  const url = (await p.waitFor(/listening on (http:\/\/[\d.]+:\d+)/))[1]!;
  const pending = directRequest(`${url}/slow`);
  await inFlight;
  p.child.kill('SIGTERM');
  await p.waitFor(/shutting down/);
  // Stops accepting (once every worker has closed its listener) while the old request still runs.
  const port = Number(new URL(url).port);
  const refusing = (): Promise<boolean> =>
    new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => {
        c.destroy();
        resolve(false);
      });
      c.on('error', () => resolve(true));
    });
  await until(refusing, { timeoutMs: 10_000, what: 'the port refuses new connections' });
  release();
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'finished');
  assert.equal(await p.exited, 0);
});

test('--workers 2 on a port in use: the workers say why, and the proxy exits 1 instead of restarting them', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  const p = runProxyCli(t, ['--listen', `127.0.0.1:${port}`, '--upstream', 'http://127.0.0.1:1', '--workers', '2']);
  assert.equal(await p.exited, 1);
  assert.match(p.err(), /cannot start: .*EADDRINUSE/);
  assert.match(p.err(), /a worker could not start; stopping/);
});

test('--health-check and /readyz: a backend failing its check makes the proxy not ready, until it passes again', async (t) => {
  let healthy = false;
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(req.url === '/health' && !healthy ? 503 : 200);
    res.end();
  });
  const admin = await freePort();
  const p = runProxyCli(t, ['--listen', '127.0.0.1:0', '--upstream', origin.url, '--health-check', '/health', '--health-interval', '200', '--admin', `127.0.0.1:${admin}`]);
  await p.waitFor(/listening on/);
  const readyz = async (): Promise<{ status: number; text: string }> => {
    const r = await directRequest(`http://127.0.0.1:${admin}/readyz`);
    return { status: r.status, text: r.body.toString() };
  };
  // Two failed checks (the default) take the only upstream out: not ready.
  await until(async () => (await readyz()).status === 503, { timeoutMs: 15_000, what: 'not ready while the check fails' });
  assert.match((await readyz()).text, /route default: no upstream up/);
  assert.equal((await directRequest(`http://127.0.0.1:${admin}/healthz`)).status, 200, 'alive all the same');
  healthy = true;
  await until(async () => (await readyz()).status === 200, { timeoutMs: 15_000, what: 'ready once the check passes' });
  assert.match((await directRequest(`http://127.0.0.1:${admin}/metrics`)).body.toString(), /holdfast_proxy_upstream_up\{route="default",upstream="[^"]+"\} 1/);
});
