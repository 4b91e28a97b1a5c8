/**
 * `holdfast proxy` as an operator runs it: two worker processes, TLS with a certificate made
 * here, a config file with two routes (one with a memory cache), a JSON access log and the admin
 * port; request ids, metrics, readiness, a worker crash, SIGHUP reloads (a bad file refused, a
 * good one applied without a failed request) and SIGTERM; a headless Chromium through the TLS
 * front door.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { directRequest, freePort, startOrigin, tempDir } from './helpers.ts';
import { until } from '../support.ts';
import { childPids, makeCertificate, runProxyCli } from './frontDoor.ts';

const CHROMIUM = '/usr/bin/chromium';

/** GET over HTTPS, trusting only `ca` (verification stays on). */
function httpsGet(url: string, ca: Buffer | Buffer[], headers: Record<string, string> = {}, agent: https.Agent | false = false): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent, headers: agent === false ? { connection: 'close', ...headers } : headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
  });
}

test('holdfast proxy --workers 2 with TLS, two routes, access log, admin port, reloads and a crashed worker', async (t) => {
  const api = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', 'x-seen-id': String(req.headers['x-request-id']) });
    res.end(`api ${req.url}`);
  });
  const site = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'x-seen-id': String(req.headers['x-request-id']) });
    res.end(`<!doctype html><title>site ${req.url}</title><p id="p">through the front door</p>`);
  });
  const dir = tempDir(t, 'hf-proxy-prod-');
  const { cert, key } = makeCertificate(dir);
  const ca = readFileSync(cert);
  const port = await freePort();
  const adminPort = await freePort();
  const config = join(dir, 'proxy.json');
  const log = join(dir, 'access.log');
  const routes = (extra: string): string => `{
  "listen": "127.0.0.1:${port}",
  "routes": [
    { "name": "api", "path": "/api/", "upstreams": ["${api.url}"], "cache": "memory:1m" },
    { "name": "site", "upstreams": ["${site.url}"] }${extra}
  ]
}
`;
  writeFileSync(config, routes(''));
  const p = runProxyCli(t, ['--config', config, '--workers', '2', '--tls-cert', cert, '--tls-key', key, '--access-log', log, '--log-format', 'json', '--admin', `127.0.0.1:${adminPort}`, '--shutdown-timeout', '3000']);
  const url = (await p.waitFor(/listening on (https:\/\/[\d.]+:\d+)/))[1]!;
  assert.equal(url, `https://127.0.0.1:${port}`);
  const admin = `http://127.0.0.1:${adminPort}`;

  // Routes by path prefix, each to its own upstream; the memory cache of the api route answers
  // the second time (one connection, so one worker: each worker has its own memory cache).
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  t.after(() => keepAlive.destroy());
  const a1 = await httpsGet(`${url}/api/x`, ca, {}, keepAlive);
  const a2 = await httpsGet(`${url}/api/x`, ca, {}, keepAlive);
  keepAlive.destroy();
  const s1 = await httpsGet(`${url}/page`, ca, { 'x-request-id': 'client-chosen-42' });
  assert.equal(a1.body, 'api /api/x');
  assert.equal(a2.body, 'api /api/x');
  assert.match(String(a2.headers['cache-status']), /hit/);
  assert.match(s1.body, /site \/page/);
  assert.equal(api.seen.length, 1, 'the second /api/x came from the cache');
  // Request ids: generated when absent, the client's kept; forwarded upstream and echoed.
  assert.match(String(a1.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(a1.headers['x-seen-id'], a1.headers['x-request-id']);
  assert.equal(s1.headers['x-request-id'], 'client-chosen-42');
  assert.equal(s1.headers['x-seen-id'], 'client-chosen-42');
  // TLS facts seen by the upstream.
  const seen = site.seen[0]!.rawHeaders;
  assert.equal(seen[seen.findIndex((h) => h.toLowerCase() === 'x-forwarded-proto') + 1], 'https');

  // The access log: one JSON line per request with route, upstream, cache outcome and id.
  await until(() => readFileSync(log, 'utf8').split('\n').filter((l) => l !== '').length >= 3, { timeoutMs: 5000, what: 'three log lines' });
  const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const byId = new Map(lines.map((l) => [l.request_id, l]));
  const l1 = byId.get(a1.headers['x-request-id'])!;
  assert.equal(l1.route, 'api');
  assert.equal(l1.upstream, api.url);
  assert.equal(l1.status, 200);
  assert.equal(l1.cache, 'miss');
  assert.equal(l1.bytes, 'api /api/x'.length);
  assert.equal(typeof l1.upstream_ms, 'number');
  assert.equal(byId.get(a2.headers['x-request-id'])?.cache, 'hit');
  assert.equal(byId.get('client-chosen-42')?.route, 'site');

  // Admin: metrics summed over both workers, health and readiness.
  const metrics = (await directRequest(`${admin}/metrics`)).body.toString();
  assert.match(metrics, /holdfast_proxy_requests_total\{route="api",code="2xx"\} 2/);
  assert.match(metrics, /holdfast_proxy_requests_total\{route="site",code="2xx"\} 1/);
  assert.match(metrics, /holdfast_proxy_cache_total\{route="api",outcome="hit"\} 1/);
  assert.match(metrics, /holdfast_proxy_upstream_up\{route="site",upstream="[^"]+"\} 1/);
  // The keep-alive connection of each upstream that answered (one worker each, at least).
  assert.match(metrics, /holdfast_proxy_upstream_connections\{route="site",upstream="[^"]+"\} [1-9]/);
  assert.ok(metrics.includes(`holdfast_proxy_upstream_response_seconds_count{upstream="${api.url}"} 1\n`), metrics);
  assert.equal((await directRequest(`${admin}/healthz`)).status, 200);
  const ready = await directRequest(`${admin}/readyz`);
  assert.equal(ready.status, 200);
  assert.match(ready.body.toString(), /2 of 2 workers/);

  // A crashed worker is replaced.
  const workers = childPids(p.child.pid!);
  assert.equal(workers.length, 2, `two workers: ${workers.join(' ')}`);
  process.kill(workers[0]!, 'SIGKILL');
  await p.waitFor(/worker \d+ exited \(SIGKILL\); starting another/, 'stderr');
  await until(async () => /2 of 2 workers/.test((await directRequest(`${admin}/readyz`)).body.toString()), { timeoutMs: 10_000, what: 'back to two workers' });
  assert.equal((await httpsGet(`${url}/page`, ca)).status, 200);

  // A bad file on SIGHUP: refused with its position, the running routes stay.
  writeFileSync(config, routes(',\n    { "name": "bad", "path": "/b/", "upstreams": ["ftp://x"] }'));
  p.child.kill('SIGHUP');
  const refused = await p.waitFor(/reload refused.*\n/, 'stderr');
  assert.match(refused[0], /proxy\.json:6:51: routes\[2\]\.upstreams\[0\]: upstream must be http: or https:/);
  assert.equal((await httpsGet(`${url}/api/x`, ca)).status, 200);

  // A good one is applied, with a new certificate; requests keep flowing during the reload.
  const extra = await startOrigin(t, (_req, res) => res.end('extra'));
  writeFileSync(config, routes(`,\n    { "name": "extra", "path": "/extra/", "upstreams": ["${extra.url}"] }`));
  const renewed = makeCertificate(dir, 'renewed');
  const newCa = readFileSync(renewed.cert);
  writeFileSync(cert, newCa);
  writeFileSync(key, readFileSync(renewed.key));
  let failures = 0;
  let done = false;
  const load = (async () => {
    for (let i = 0; i < 500 && !done; i++) {
      const r = await httpsGet(`${url}/page`, [ca, newCa]).catch(() => null);
      if (r?.status !== 200) failures++;
    }
  })();
  p.child.kill('SIGHUP');
  await p.waitFor(/configuration reloaded \(2 workers\)/);
  done = true;
  await load;
  assert.equal(failures, 0);
  assert.equal((await httpsGet(`${url}/extra/1`, newCa)).body, 'extra');
  await assert.rejects(httpsGet(`${url}/extra/1`, ca), /self-signed|certificate/i, 'the old certificate is no longer served');

  // A browser through the TLS front door (the test's certificate is not in its trust store).
  const profile = tempDir(t, 'hf-proxy-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const response = await page.goto(`${url}/home`, { waitUntil: 'load', timeout: 20_000 });
  assert.equal(response?.status(), 200);
  assert.equal(await page.title(), 'site /home');
  await context.close();

  // SIGTERM: drains and exits 0, workers included.
  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0);
  assert.deepEqual(childPids(p.child.pid!), []);
});

test('holdfast proxy: configuration errors name the file position and key; exit 2', async (t) => {
  const dir = tempDir(t, 'hf-proxy-badconf-');
  const cases: Array<[string, RegExp]> = [
    ['{\n  "routes": [ { "upstreams": ["http://127.0.0.1:1"], "timeout": 5 } ]\n}\n', /c\.json:2:54: routes\[0\]\.timeout: unknown key/],
    ['{\n  "routes": [\n    { "upstreams": ["http://127.0.0.1:1"], "cache": "memory:lots" }\n  ]\n}\n', /c\.json:3:53: routes\[0\]\.cache: invalid memory cache size/],
    ['{ "routes": [ ], }', /c\.json:1:18: expected a key in double quotes/],
    ['{ "listen": "nowhere", "routes": [ { "upstreams": ["http://127.0.0.1:1"] } ] }', /c\.json:1:13: listen: expected HOST:PORT/],
  ];
  for (const [text, expected] of cases) {
    const file = join(dir, 'c.json');
    writeFileSync(file, text);
    const p = runProxyCli(t, ['--config', file]);
    assert.equal(await p.exited, 2, text);
    assert.match(p.err(), expected);
  }
  const flags = runProxyCli(t, ['--config', join(dir, 'c.json'), '--upstream', 'http://127.0.0.1:1']);
  assert.equal(await flags.exited, 2);
  assert.match(flags.err(), /--upstream describes a route/);
  const size = runProxyCli(t, ['--upstream', 'http://127.0.0.1:1', '--cache', 'memory:0']);
  assert.equal(await size.exited, 2);
  assert.match(size.err(), /invalid memory cache size/);
});
