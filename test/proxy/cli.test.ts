/**
 * `holdfast proxy` as a process: starts, proxies through a SQLite cache, shuts down gracefully on
 * SIGTERM with exit code 0; usage errors exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { directRequest, startOrigin, stopChild, tempDir } from './helpers.ts';
import { until } from '../support.ts';
import { REDIS_SERVER, startRedis } from '../cache/redisServer.ts';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'proxy.ts');

function run(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

test('holdfast proxy CLI: proxies with a SQLite cache and exits 0 on SIGTERM', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end('from origin');
  });
  const dir = tempDir(t, 'hf-proxy-cli-');
  const p = run(['--listen', '127.0.0.1:0', '--upstream', origin.url, '--cache', join(dir, 'cache'), '--upstream-concurrency', '2']);
  t.after(() => stopChild(p.child));
  const listening = (): string | undefined => /listening on (http:\/\/[\d.]+:\d+)/.exec(p.out())?.[1];
  await until(() => listening() !== undefined, { what: () => `the listening line (${p.out()} ${p.err()})` });
  const url = listening()!;
  const a = await directRequest(`${url}/x`);
  const b = await directRequest(`${url}/x`);
  assert.equal(a.body.toString(), 'from origin');
  assert.equal(b.body.toString(), 'from origin');
  assert.match(String(b.headers['cache-status']), /hit/);
  assert.equal(origin.seen.length, 1);
  assert.ok(existsSync(join(dir, 'cache', 'cache.sqlite')));
  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0);
});

test('holdfast proxy CLI: usage errors exit 2', async () => {
  for (const args of [[], ['--upstream'], ['--upstream', 'http://127.0.0.1:1', '--upstream-concurrency', '0'], ['--bogus']]) {
    const p = run(args);
    assert.equal(await p.exited, 2, `args ${JSON.stringify(args)}: ${p.err()}`);
    assert.match(p.err(), /holdfast proxy:/);
  }
});

test('holdfast proxy CLI: Redis stopped, requests still answered; one log line with the real error when the breaker opens, one when it closes', { skip: REDIS_SERVER === undefined ? 'redis-server not installed' : false }, async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`from origin ${req.url}`);
  });
  let redis = await startRedis();
  t.after(() => redis.stop());
  const p = run(['--listen', '127.0.0.1:0', '--upstream', origin.url, '--cache', redis.url, '--cache-timeout', '300', '--cache-cool-down', '200']);
  t.after(() => stopChild(p.child));
  let url: string | null = null;
  for (let i = 0; i < 200 && url === null; i++) {
    url = /listening on (http:\/\/[\d.]+:\d+)/.exec(p.out())?.[1] ?? null;
    if (url === null) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(url !== null, `no listening line: ${p.out()} ${p.err()}`);
  await directRequest(`${url}/warm`);
  await redis.stop();
  for (let i = 0; i < 20; i++) {
    const r = await directRequest(`${url}/down/${i}`, { timeoutMs: 5000 });
    assert.equal(r.body.toString(), `from origin /down/${i}`);
  }
  const opened = /cache store failing, cache bypassed \(circuit breaker open after \d+ failures\): (.*)/.exec(p.err());
  assert.ok(opened !== null, p.err());
  // The reason, not an empty message: the refused connection (or the socket that closed).
  assert.match(opened[1]!, /ECONNREFUSED|closed|offline/i);
  assert.ok(!/: \n/.test(p.err()), `no log line ends in an empty message: ${p.err()}`);
  assert.ok(p.err().split('\n').length < 20, `the outage is not logged per request: ${p.err()}`);
  const port = redis.port;
  for (let i = 0; i < 50; i++) {
    try {
      redis = await startRedis({ port });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await until(
    async () => {
      await directRequest(`${url}/up`, { timeoutMs: 5000 });
      return /cache store recovered: circuit breaker closed/.test(p.err());
    },
    { timeoutMs: 10_000, what: () => `the recovery line in: ${p.err()}` },
  );
  t.diagnostic(p.err());
  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0);
});
