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
