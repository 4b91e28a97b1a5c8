// The `holdfast` command as users run it: a child process of bin/holdfast.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'holdfast.js');

function holdfast(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A node:http origin for `holdfast get`: echoes requests, serves a cacheable resource. */
async function origin(t: import('node:test').TestContext): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/cached') {
        hits++;
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).end('cached body\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin': 'yes' });
      res.end(JSON.stringify({ method: req.method, header: req.headers['x-test'] ?? null, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

test('holdfast --help lists lab, get, serve and proxy', async () => {
  const r = await holdfast(['--help']);
  assert.equal(r.code, 0);
  for (const cmd of ['lab', 'get', 'serve', 'proxy']) assert.match(r.stdout, new RegExp(`^  ${cmd}\\b`, 'm'));
});

test('an unknown command exits 2 with the help', async () => {
  const r = await holdfast(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});

test('holdfast proxy dispatches to the proxy command', async () => {
  const r = await holdfast(['proxy', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /proxy/);
});

test('holdfast lab --only X --json prints the scorecard as JSON and exits 0 when holdfast passes', async () => {
  const r = await holdfast(['lab', '--only', 'truncated-content-length', '--subjects', 'holdfast-request,naive-client', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const card = JSON.parse(r.stdout) as { cells: Array<{ scenario: string; subject: string; status: string; mode: string }>; holdfastPassed: boolean };
  assert.equal(card.holdfastPassed, true);
  const bySubject = Object.fromEntries(card.cells.map((c) => [c.subject, c]));
  assert.equal(bySubject['holdfast-request']?.status, 'pass');
  assert.equal(bySubject['naive-client']?.status, 'fail');
  assert.match(bySubject['naive-client']!.mode, /truncated at 500000 of 1000000/);
});

test('holdfast lab prints a table; --html writes a report; bad options exit 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const html = join(dir, 'report.html');
  const r = await holdfast(['lab', '--only', 'unterminated-chunked', '--subjects', 'holdfast-fetch,naive-client', '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /unterminated-chunked\s+pass\s+FAIL 3\/3/);
  assert.match(r.stdout, /every holdfast row passes/);
  assert.match(await readFile(html, 'utf8'), /<svg/);
  assert.equal((await holdfast(['lab', '--only', 'no-such-scenario'])).code, 2);
  assert.equal((await holdfast(['lab', '--repeat', 'zero'])).code, 2);
});

test('holdfast get: -X, -H, -d, -i and -o', async (t) => {
  const o = await origin(t);
  const r = await holdfast(['get', `${o.url}/echo`, '-X', 'PUT', '-H', 'X-Test: 42', '-d', 'payload', '-i']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(r.stdout, /x-origin: yes/i);
  const body = JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)) as { method: string; header: string; body: string };
  assert.deepEqual(body, { method: 'PUT', header: '42', body: 'payload' });

  const dir = await mkdtemp(join(tmpdir(), 'holdfast-get-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'out.json');
  const w = await holdfast(['get', `${o.url}/echo`, '-o', file]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout, '');
  assert.equal((JSON.parse(await readFile(file, 'utf8')) as { method: string }).method, 'GET');
});

test('holdfast get reports a connection failure with phase and exits 1', async () => {
  const r = await holdfast(['get', 'http://127.0.0.1:9/']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /HF_CONNECT/);
});

test('holdfast get --cache DIR answers the second request from the cache', async (t) => {
  const o = await origin(t);
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-cache-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = await holdfast(['get', `${o.url}/cached`, '--cache', dir, '-i']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /X-Holdfast-Cache: miss/);
  const second = await holdfast(['get', `${o.url}/cached`, '--cache', dir, '-i']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /X-Holdfast-Cache: hit/);
  assert.match(second.stdout, /cached body/);
  assert.equal(o.hits(), 1);
});
