/**
 * serveStatic and `holdfast serve`: validators, conditional requests, ranges, HEAD, listings,
 * media types, traversal refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, symlinkSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { RawClient, startServer } from './helpers.ts';
import { serveStatic } from '../../src/server/index.ts';
import type { TestContext } from 'node:test';

function makeRoot(t: TestContext): string {
  const root = mkdtempSync(path.join(tmpdir(), 'hf-static-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(path.join(root, 'hello.txt'), 'hello, world\n');
  writeFileSync(path.join(root, 'page.html'), '<p>hi</p>');
  writeFileSync(path.join(root, 'data.bin'), Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256)));
  writeFileSync(path.join(root, '.secret'), 'no');
  mkdirSync(path.join(root, 'sub'));
  writeFileSync(path.join(root, 'sub', 'a&b.css'), 'body{}');
  mkdirSync(path.join(root, 'site'));
  writeFileSync(path.join(root, 'site', 'index.html'), '<h1>index</h1>');
  const outside = mkdtempSync(path.join(tmpdir(), 'hf-outside-'));
  t.after(() => rmSync(outside, { recursive: true, force: true }));
  writeFileSync(path.join(outside, 'passwd'), 'secret');
  symlinkSync(outside, path.join(root, 'escape'));
  return root;
}

async function req(port: number, method: string, target: string, extra = ''): Promise<{ status: number; headers: Map<string, string>; body: Buffer }> {
  const c = new RawClient(port);
  c.write(`${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`);
  const [r] = await c.responses([method]);
  c.destroy();
  assert.ok(r !== undefined, `no response to ${method} ${target}`);
  return { status: r.status, headers: new Map(r.headers.entries().map(([k, v]) => [k.toLowerCase(), v])), body: r.body };
}

test('files with media types and validators; conditional requests; HEAD', async (t) => {
  const server = await startServer(t, { handler: serveStatic(makeRoot(t)) });
  const a = await req(server.port, 'GET', '/hello.txt');
  assert.equal(a.status, 200);
  assert.equal(a.body.toString(), 'hello, world\n');
  assert.equal(a.headers.get('content-type'), 'text/plain; charset=utf-8');
  const etag = a.headers.get('etag')!;
  const lm = a.headers.get('last-modified')!;
  assert.match(etag, /^W\/"/);
  assert.equal((await req(server.port, 'GET', '/page.html')).headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal((await req(server.port, 'GET', '/data.bin')).headers.get('content-type'), 'application/octet-stream');

  assert.equal((await req(server.port, 'GET', '/hello.txt', `If-None-Match: ${etag}\r\n`)).status, 304);
  assert.equal((await req(server.port, 'GET', '/hello.txt', 'If-None-Match: "other"\r\n')).status, 200);
  assert.equal((await req(server.port, 'GET', '/hello.txt', `If-Modified-Since: ${lm}\r\n`)).status, 304);
  assert.equal((await req(server.port, 'GET', '/hello.txt', 'If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n')).status, 200);
  assert.equal((await req(server.port, 'GET', '/hello.txt', 'If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n')).status, 412);
  // RFC 9110 §13.1.3/§13.1.4: an invalid date is ignored. `2024` is not an HTTP-date, though
  // Date.parse reads it as 2024-01-01 (which would answer 304 for a file older than that, and 412
  // for a newer one).
  for (const bad of ['2024', '2999', '0', 'Sun, 32 Dec 2999 00:00:00 GMT']) {
    assert.equal((await req(server.port, 'GET', '/hello.txt', `If-Modified-Since: ${bad}\r\n`)).status, 200, `If-Modified-Since: ${bad}`);
    assert.equal((await req(server.port, 'GET', '/hello.txt', `If-Unmodified-Since: ${bad === '2999' ? '1970' : bad}\r\n`)).status, 200, `If-Unmodified-Since: ${bad}`);
  }

  const h = await req(server.port, 'HEAD', '/hello.txt');
  assert.equal(h.status, 200);
  assert.equal(h.headers.get('content-length'), '13');
  assert.equal(h.body.length, 0);
  assert.equal((await req(server.port, 'POST', '/hello.txt')).status, 405);
});

test('If-Modified-Since: 2024 is not a date: a file last modified in 2020 is sent whole, not 304 (RFC 9110 §13.1.3)', async (t) => {
  const root = makeRoot(t);
  const in2020 = new Date(Date.UTC(2020, 0, 1));
  utimesSync(path.join(root, 'hello.txt'), in2020, in2020);
  const server = await startServer(t, { handler: serveStatic(root) });
  const r = await req(server.port, 'GET', '/hello.txt', 'If-Modified-Since: 2024\r\n');
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'hello, world\n');
  // A real date after the modification still gives 304.
  assert.equal((await req(server.port, 'GET', '/hello.txt', 'If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n')).status, 304);
});

test('byte ranges: single, suffix, open-ended, unsatisfiable, If-Range', async (t) => {
  const server = await startServer(t, { handler: serveStatic(makeRoot(t)) });
  const r = await req(server.port, 'GET', '/data.bin', 'Range: bytes=10-19\r\n');
  assert.equal(r.status, 206);
  assert.equal(r.headers.get('content-range'), 'bytes 10-19/1000');
  assert.deepEqual([...r.body], Array.from({ length: 10 }, (_, i) => 10 + i));
  const s = await req(server.port, 'GET', '/data.bin', 'Range: bytes=-5\r\n');
  assert.equal(s.headers.get('content-range'), 'bytes 995-999/1000');
  assert.equal(s.body.length, 5);
  const o = await req(server.port, 'GET', '/data.bin', 'Range: bytes=990-\r\n');
  assert.equal(o.body.length, 10);
  const u = await req(server.port, 'GET', '/data.bin', 'Range: bytes=5000-\r\n');
  assert.equal(u.status, 416);
  assert.equal(u.headers.get('content-range'), 'bytes */1000');
  const full = await req(server.port, 'GET', '/data.bin');
  const lm = full.headers.get('last-modified')!;
  assert.equal((await req(server.port, 'GET', '/data.bin', `Range: bytes=0-0\r\nIf-Range: ${lm}\r\n`)).status, 206);
  assert.equal((await req(server.port, 'GET', '/data.bin', 'Range: bytes=0-0\r\nIf-Range: Thu, 01 Jan 1970 00:00:00 GMT\r\n')).status, 200);
  // RFC 9110 §14.1.1: a range set is a list; unsatisfiable members are dropped (§14.1.2), so the one
  // satisfiable range is served, and several satisfiable ones get the whole file (§14.2 allows it).
  const one = await req(server.port, 'GET', '/data.bin', 'Range: bytes=5000-6000, 0-4\r\n');
  assert.equal(one.status, 206);
  assert.equal(one.headers.get('content-range'), 'bytes 0-4/1000');
  const several = await req(server.port, 'GET', '/data.bin', 'Range: bytes=0-4, 10-14\r\n');
  assert.equal(several.status, 200);
  assert.equal(several.body.length, 1000);
  // Zero-length suffix: nothing is satisfiable.
  assert.equal((await req(server.port, 'GET', '/data.bin', 'Range: bytes=-0\r\n')).status, 416);
});

test('directories: redirect to slash, index.html, escaped listing; traversal and dotfiles refused', async (t) => {
  const server = await startServer(t, { handler: serveStatic(makeRoot(t)) });
  const d = await req(server.port, 'GET', '/sub');
  assert.equal(d.status, 301);
  assert.equal(d.headers.get('location'), '/sub/');
  const l = await req(server.port, 'GET', '/sub/');
  assert.equal(l.status, 200);
  assert.match(l.body.toString(), /<a href="a%26b\.css">a&#38;b\.css<\/a>/);
  const root = await req(server.port, 'GET', '/');
  assert.doesNotMatch(root.body.toString(), /secret/);
  assert.equal((await req(server.port, 'GET', '/site/')).body.toString(), '<h1>index</h1>');
  assert.equal((await req(server.port, 'GET', '/sub/a%26b.css')).headers.get('content-type'), 'text/css; charset=utf-8');
  for (const bad of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/sub/..%2f..%2fetc%2fpasswd', '/escape/passwd', '/hello.txt%00', '/..\\..\\etc']) {
    const r = await req(server.port, 'GET', bad);
    assert.ok(r.status === 403 || r.status === 404, `${bad} → ${r.status}`);
    assert.doesNotMatch(r.body.toString(), /secret|root:/);
  }
  assert.equal((await req(server.port, 'GET', '/.secret')).status, 404);
  assert.equal((await req(server.port, 'GET', '/nope')).status, 404);
});

test('holdfast serve: CLI serves a directory to curl and shuts down on SIGTERM', async (t) => {
  const root = makeRoot(t);
  const child = spawn(process.execPath, ['src/cli/serve.ts', root, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner: ${out}`)), 10000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/[^ ]+\//.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
  });
  const curl = (args: string[]): Promise<string> => new Promise((resolve, reject) => {
    const p = spawn('curl', ['-sS', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString('latin1')));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`curl exit ${code}`))));
  });
  assert.equal(await curl([`${url}hello.txt`]), 'hello, world\n');
  assert.match(await curl(['-I', `${url}hello.txt`]), /Content-Length: 13/i);
  assert.equal(await curl(['-r', '0-4', `${url}hello.txt`]), 'hello');
  assert.match(await curl([url]), /hello\.txt/);
  const code = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await code, 0);
});
