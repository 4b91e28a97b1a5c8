// `holdfast check` as users run it: a child process of bin/holdfast.js against servers the test starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holdfastServer, naiveServer, type RunningServer } from '../../src/lab/index.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'holdfast.js');

function holdfast(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function started(t: import('node:test').TestContext, subject: { start(o: { idleTimeoutMs: number }): Promise<RunningServer> }): Promise<string> {
  const server = await subject.start({ idleTimeoutMs: 1000 });
  t.after(() => server.stop());
  return `http://127.0.0.1:${server.port}/`;
}

test('holdfast check --help says the framing probes send malformed requests; --list names every probe', async () => {
  const r = await holdfast(['check', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: holdfast check URL/);
  assert.match(r.stdout, /MALFORMED requests/);
  assert.match(r.stdout, /servers you operate/);
  const list = await holdfast(['check', '--list']);
  assert.equal(list.code, 0);
  for (const id of ['idle-timeout', 'unsolicited', 'preconnect', 'slowloris', 'pipelining', 'early-answer', 'close-unread', 'framing']) assert.match(list.stdout, new RegExp(`^${id} `, 'm'));
  const top = await holdfast(['--help']);
  assert.match(top.stdout, /^ {2}check URL +audit a running server/m);
});

test('bad arguments exit 2', async () => {
  for (const args of [[], ['http://127.0.0.1:1/', 'http://127.0.0.1:2/'], ['ftp://127.0.0.1/'], ['http://127.0.0.1:1/', '--only', 'nope'], ['http://127.0.0.1:1/', '--timeout-scale', '0'], ['http://127.0.0.1:1/', '--frobnicate'], ['http://127.0.0.1:1/', '--large-path', 'x']]) {
    const r = await holdfast(['check', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^holdfast check: /);
  }
});

test('exit 0 against holdfast serve(), with the table on stdout, progress on stderr and an HTML report', async (t) => {
  const url = await started(t, holdfastServer);
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-check-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const html = join(dir, 'report.html');
  const r = await holdfast(['check', url, '--only', 'pipelining,framing,early-answer', '--upload-path', '/early', '--timeout-scale', '0.4', '--html', html]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^pipelining +pass +3 of 3 answered in one packet$/m);
  assert.match(r.stdout, /^framing +pass +all 6 malformed requests refused/m);
  assert.match(r.stdout, /^Evidence:$/m);
  assert.match(r.stderr, /\[1\/3\] pipelining: pass/);
  assert.match(await readFile(html, 'utf8'), /<h1>holdfast check — http:\/\/127\.0\.0\.1:\d+\/<\/h1>/);
});

test('exit 1 and a JSON report against the naive server', async (t) => {
  const url = await started(t, naiveServer);
  const r = await holdfast(['check', url, '--only', 'pipelining,framing', '--timeout-scale', '0.4', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as { passed: boolean; results: Array<{ probe: string; status: string; evidence: string[] }> };
  assert.equal(report.passed, false);
  assert.deepEqual(report.results.map((x) => [x.probe, x.status]), [['pipelining', 'fail'], ['framing', 'fail']]);
  assert.ok(report.results[1]!.evidence.some((e) => e.startsWith('cl-te: fail')));
});

test('holdfast serve, run as a command, passes every probe of holdfast check', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-check-site-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'index.html'), 'hello\n');
  await writeFile(join(dir, 'big.bin'), Buffer.alloc(1024 * 1024, 0x61));
  const serve = spawn(process.execPath, [BIN, 'serve', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    if (serve.exitCode === null) {
      serve.kill('SIGKILL');
      await once(serve, 'exit');
    }
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    serve.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m !== null) resolve(m[1]!);
    });
    serve.once('exit', () => reject(new Error(`holdfast serve exited: ${out}`)));
  });
  const r = await holdfast(['check', url, '--large-path', '/big.bin', '--timeout-scale', '0.4']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /no probe failed: 0 failed, 0 warnings, 8 passed/);
});
