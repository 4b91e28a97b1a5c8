// The progress displays: `holdfast lab`'s progress line and `holdfast get`'s bar. The design
// (src/cli/progress.ts): on a terminal, one line rewritten in place ("\r\x1b[K"), cleared at the
// end; anywhere else, plain lines and never a control sequence: the lab prints its start line and
// then at most one line every 2 s, get prints no bar at all. Progress is on stderr only, so
// `--json` on stdout stays parseable. Checked on fake streams, then end to end in a real
// pseudo-terminal (util-linux `script`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { ProgressLine, bar } from '../../src/cli/progress.ts';
import { labProgress } from '../../src/cli/lab.ts';
import { runLab } from '../../src/lab/index.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'holdfast.js');
const SCRIPT = '/usr/bin/script';
const REWRITE = '\r\x1b[K';

/** A stream that records what is written; a terminal of `columns` when `tty`. */
function fakeStream(tty: boolean, columns = 40): { stream: NodeJS.WriteStream; text(): string } {
  const sink = new PassThrough();
  const chunks: string[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c.toString()));
  const props = tty ? { isTTY: true, columns } : { isTTY: false };
  return { stream: Object.assign(sink, props) as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('on a terminal the progress line is rewritten in place, cut to the width, and cleared at the end', async () => {
  const out = fakeStream(true, 20);
  const line = new ProgressLine(out.stream);
  assert.equal(line.isTTY, true);
  line.update('first');
  line.update('a line much longer than twenty columns');
  line.done();
  await flush();
  assert.equal(out.text(), `${REWRITE}first${REWRITE}a line much longer ${REWRITE}`);
  assert.ok(!out.text().includes('\n'), 'never a newline on a terminal');
});

test('elsewhere it prints plain lines: forced ones always, the others at most every plainEveryMs', async () => {
  const out = fakeStream(false);
  const line = new ProgressLine(out.stream);
  assert.equal(line.isTTY, false);
  line.update('start', true);
  line.update('too soon');
  line.update('forced', true);
  line.update('allowed', false, 0);
  line.done();
  await flush();
  assert.equal(out.text(), 'start\nforced\nallowed\n');
  assert.doesNotMatch(out.text(), /[\r\x1b]/);
});

test('bar() draws the share done and the sizes; without a length just the size', () => {
  assert.equal(bar(26e6, 50e6), `[${'#'.repeat(12)}${'.'.repeat(12)}]  52%  26.0 MB of 50.0 MB`);
  assert.equal(bar(60e6, 50e6), `[${'#'.repeat(24)}] 100%  60.0 MB of 50.0 MB`);
  assert.equal(bar(500_000, null), '0.5 MB');
});

test("the lab's progress: a rewritten line with the count and running cells on a terminal, plain lines elsewhere", async () => {
  const tty = fakeStream(true, 200);
  const plain = fakeStream(false);
  const ttyLine = new ProgressLine(tty.stream);
  const plainLine = new ProgressLine(plain.stream);
  const toTty = labProgress(ttyLine);
  const toPlain = labProgress(plainLine);
  await runLab({
    only: ['truncated-content-length'],
    subjects: ['holdfast-request', 'naive-client'],
    concurrency: 1,
    onProgress: (ev) => { toTty(ev); toPlain(ev); },
  });
  ttyLine.done();
  plainLine.done();
  await flush();
  const t = tty.text();
  assert.ok(t.startsWith(`${REWRITE}holdfast lab: 2 cells${REWRITE}[  0/2] truncated-content-length × holdfast-request`), JSON.stringify(t));
  assert.match(t, /\[ {2}1\/2\] truncated-content-length × holdfast-request: pass/);
  assert.match(t, /\[ {2}2\/2\] truncated-content-length × naive-client: fail/);
  assert.ok(t.endsWith(REWRITE) && !t.includes('\n'));
  // A log gets the start line, then whole lines at most every 2 s (none here unless the machine
  // is slow enough to take 2 s over two cells), never a control sequence.
  assert.ok(plain.text().startsWith('holdfast lab: 2 cells\n'), JSON.stringify(plain.text()));
  assert.ok(plain.text().endsWith('\n'));
  assert.doesNotMatch(plain.text(), /[\r\x1b]/);
});

/** Runs `holdfast ARGS` with all of its stdio on a pseudo-terminal; returns what the terminal showed. */
function inTerminal(args: string[]): Promise<string> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = `stty cols 200 rows 40; ${[process.execPath, BIN, ...args].map(quote).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    const timer = setTimeout(() => child.kill(), 60_000);
    child.on('error', reject);
    child.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(out).toString()); });
  });
}

/** Runs `holdfast ARGS` with pipes (not a terminal). */
function piped(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

const noTerminal = existsSync(SCRIPT) ? false : `${SCRIPT} (util-linux) is not installed`;

test('holdfast lab in a terminal rewrites its progress line; piped, stderr has plain lines and --json stays clean', { skip: noTerminal }, async () => {
  const args = ['lab', '--only', 'truncated-content-length', '--subjects', 'holdfast-request'];
  const shown = await inTerminal(args);
  assert.ok(shown.includes(`${REWRITE}holdfast lab: 1 cells${REWRITE}[  0/1]`), JSON.stringify(shown.slice(0, 300)));
  assert.ok(shown.includes(`${REWRITE}[  1/1] truncated-content-length × holdfast-request: pass${REWRITE}`), 'the last progress line is cleared before the table');
  assert.match(shown, /every holdfast row passes/);

  const r = await piped([...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { holdfastPassed: boolean }).holdfastPassed, true, 'stdout is the JSON and nothing else');
  assert.ok(r.stderr.startsWith('holdfast lab: 1 cells\n'), JSON.stringify(r.stderr));
  assert.doesNotMatch(r.stderr, /[\r\x1b]/, 'plain lines when stderr is not a terminal');
});

test('holdfast get draws a bar for a large body in a terminal, none for a small one, none when piped', { skip: noTerminal }, async (t) => {
  const big = Buffer.alloc(2_000_000, 0x61);
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') {
      // 2 MB over 2.5 s: longer than the 2 s after which a plain (non-terminal) line would be due.
      res.writeHead(200, { 'content-length': String(big.length) });
      let sent = 0;
      const drip = setInterval(() => {
        res.write(big.subarray(sent, sent + 200_000));
        sent += 200_000;
        if (sent >= big.length) { clearInterval(drip); res.end(); }
      }, 250);
      res.on('close', () => clearInterval(drip));
      return;
    }
    const body = req.url === '/big' ? big : Buffer.from('small\n');
    res.writeHead(200, { 'content-length': String(body.length) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-progress-'));
  t.after(async () => {
    await rm(dir, { recursive: true, force: true });
    await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const shown = await inTerminal(['get', `${url}/big`, '-o', join(dir, 'big')]);
  assert.equal((await readFile(join(dir, 'big'))).length, big.length);
  assert.ok(shown.includes(`${REWRITE}[${'#'.repeat(24)}] 100%  2.0 MB of 2.0 MB`), JSON.stringify(shown.slice(-300)));
  assert.ok(shown.endsWith(REWRITE), 'the bar is cleared at the end');

  assert.equal(await inTerminal(['get', `${url}/small`, '-o', join(dir, 'small')]), '', 'no bar for a small body');

  const r = await piped(['get', `${url}/slow`, '-o', join(dir, 'piped')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await readFile(join(dir, 'piped'))).length, big.length);
  assert.equal(r.stderr, '', 'no bar when stderr is not a terminal');
});
