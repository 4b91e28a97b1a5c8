// `holdfast check` as users run it: a child process of bin/holdfast.js against servers the test starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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

test('holdfast check --help says the framing probes send malformed requests', async () => {
  const r = await holdfast(['check', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: holdfast check URL/);
  assert.match(r.stdout, /MALFORMED requests/);
  assert.match(r.stdout, /servers you operate/);
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
