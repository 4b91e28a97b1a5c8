// The `holdfast` command as users run it: a child process of bin/holdfast.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'holdfast.js');

function holdfast(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: env ?? process.env }, (err, stdout, stderr) => {
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

test('every command parses strictly: a bad flag or value exits 2 naming it, --help exits 0', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /^holdfast: Unknown option '--bogus'/],
    [['serve', '--bogus'], /^holdfast serve: Unknown option '--bogus'/],
    // Number('0x50') is 80: a port is decimal digits.
    [['serve', '--port', '0x50', '/nonexistent-dir'], /^holdfast serve: --port needs an integer from 0 to 65535, got "0x50"/],
    [['serve', '/a', '/b'], /^holdfast serve: one directory expected, got 2/],
    [['get', '--timeout', 'abc', 'http://127.0.0.1:1/'], /^holdfast get: --timeout needs an integer >= 0, got "abc"/],
    [['proxy', '--upstream', 'http://127.0.0.1:1', 'stray'], /^holdfast proxy: Unexpected argument 'stray'/],
    [['proxy', '--upstream', 'http://127.0.0.1:1', '--max-fails', '1e3'], /^holdfast proxy: --max-fails needs an integer >= 1, got "1e3"/],
    [['lab', '--concurrency', '1.5'], /^holdfast lab: --concurrency needs an integer >= 1, got "1.5"/],
  ];
  const results = await Promise.all(cases.map(([args]) => holdfast(args)));
  results.forEach((r, i) => {
    const [args, message] = cases[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  });
  for (const cmd of ['lab', 'get', 'serve', 'proxy']) {
    const r = await holdfast([cmd, '--help', '--no-such-flag-after-help']);
    assert.equal(r.code, 2, `${cmd}: an unknown flag is refused even next to --help`);
    const h = await holdfast([cmd, '-h']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`^Usage: holdfast ${cmd}\\b`));
  }
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
  assert.match(bySubject['naive-client'].mode, /truncated at 500000 of 1000000/);
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

interface Card { repeat: number; holdfastPassed: boolean; cells: Array<{ scenario: string; subject: string; status: string; mode: string; rounds?: number; failed?: number }> }

/**
 * A holdfast-like client with a deliberate bug, loaded the way users load their own subjects
 * (--extra-subjects): it hands its caller whatever body bytes arrived, as if complete. It is
 * marked family 'holdfast', as a user would mark a wrapper around holdfast, so its row decides
 * the exit status.
 */
const BROKEN_HOLDFAST = `
import http from 'node:http';
export const subjects = [{
  role: 'client', id: 'holdfast-with-a-bug', label: 'holdfast-like, accepts short bodies', family: 'holdfast',
  reusesConnections: true,
  available: async () => true,
  open: async () => ({
    request: (req) => new Promise((resolve) => {
      const r = http.request(req.url, { method: req.method, headers: req.headers, agent: false }, (res) => {
        let n = 0;
        res.on('data', (c) => { n += c.length; });
        const done = () => resolve({ kind: 'response', status: res.statusCode, bodyLength: n, headers: {} });
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      });
      r.on('error', (e) => resolve({ kind: 'error', code: e.code ?? 'Error', message: e.message, mayHaveBeenProcessed: undefined, timedOut: false }));
      r.end();
    }),
    close: async () => {},
  }),
}];
`;

test('holdfast lab exits 1 when a holdfast row fails (a buggy holdfast-family subject from --extra-subjects)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const module = join(dir, 'broken.mjs');
  await writeFile(module, BROKEN_HOLDFAST);
  const args = ['lab', '--only', 'truncated-content-length', '--subjects', 'holdfast-request,holdfast-with-a-bug', '--extra-subjects', module];
  const table = await holdfast(args);
  assert.equal(table.code, 1, table.stderr);
  assert.match(table.stdout, /a holdfast row FAILED/);
  const json = await holdfast([...args, '--json']);
  assert.equal(json.code, 1, json.stderr);
  const card = JSON.parse(json.stdout) as Card;
  assert.equal(card.holdfastPassed, false);
  const cell = (id: string) => card.cells.find((c) => c.subject === id);
  assert.equal(cell('holdfast-with-a-bug')?.status, 'fail');
  assert.match(cell('holdfast-with-a-bug')!.mode, /truncated at 500000 of 1000000/);
  assert.equal(cell('holdfast-request')?.status, 'pass');
  // The same subject as a peer does not decide the exit status.
  await writeFile(join(dir, 'peer.mjs'), BROKEN_HOLDFAST.replace("family: 'holdfast'", "family: 'peer'"));
  assert.equal((await holdfast([...args.slice(0, -1), join(dir, 'peer.mjs')])).code, 0);
  // A module that is not a list of subjects is a usage error.
  await writeFile(join(dir, 'bad.mjs'), 'export const subjects = [{ id: 1 }];\n');
  const bad = await holdfast(['lab', '--extra-subjects', join(dir, 'bad.mjs'), '--list']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not a lab subject/);
});

test('holdfast lab --repeat 2 plays twice the rounds', async () => {
  const args = ['lab', '--only', 'truncated-content-length,unsolicited-408', '--subjects', 'naive-client', '--json'];
  const [once, twice] = await Promise.all([holdfast(args), holdfast([...args, '--repeat', '2'])]);
  const a = JSON.parse(once.stdout) as Card;
  const b = JSON.parse(twice.stdout) as Card;
  assert.equal(a.repeat, 1);
  assert.equal(b.repeat, 2);
  for (const cell of a.cells) {
    const deeper = b.cells.find((c) => c.scenario === cell.scenario && c.subject === cell.subject);
    assert.ok(cell.rounds !== undefined && cell.rounds > 0, `${cell.scenario}: ${JSON.stringify(cell)}`);
    assert.equal(deeper?.rounds, cell.rounds * 2, `${cell.scenario}: ${cell.rounds} then ${deeper?.rounds}`);
  }
});

test('a real subject whose program is missing is "not installed", never a pass', async () => {
  const env = { ...process.env, HOLDFAST_LAB_PYTHON: '/nonexistent/python3', HOLDFAST_LAB_CURL: '/nonexistent/curl' };
  const args = ['lab', '--only', 'truncated-content-length', '--subjects', 'python-requests,curl,holdfast-request'];
  const json = await holdfast([...args, '--json'], env);
  assert.equal(json.code, 0, json.stderr);
  const card = JSON.parse(json.stdout) as Card & { subjects: Array<{ id: string; available: true | string }> };
  for (const id of ['python-requests', 'curl']) {
    const cell = card.cells.find((c) => c.subject === id);
    assert.equal(cell?.status, 'not installed', `${id}: ${JSON.stringify(cell)}`);
    assert.match(cell.mode, /not installed: \/nonexistent\//);
    assert.match(String(card.subjects.find((s) => s.id === id)?.available), /not installed/);
  }
  const table = await holdfast(args, env);
  const row = table.stdout.split('\n').find((l) => l.startsWith('truncated-content-length'));
  assert.ok(row !== undefined, table.stdout);
  assert.equal(row.match(/not inst\./g)?.length, 2, row);
  assert.equal(row.match(/\bpass\b/g)?.length, 1, `only holdfast passes: ${row}`);
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
