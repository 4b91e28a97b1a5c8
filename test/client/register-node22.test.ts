/**
 * The register and dispatcher suites again on Node 22, whose bundled fetch (undici 6) is older
 * than Node 24's: it passes the legacy handler shape and reads the same global slot. Node 22 is
 * installed by `npm ci` into scripts/node22 (a package of its own, so that its `node` binary does
 * not replace the pinned Node 24 in node_modules/.bin).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const NODE22 = fileURLToPath(new URL('../../scripts/node22/node_modules/node/bin/node', import.meta.url));
const SUITES = ['./register.test.ts', './dispatcher.test.ts'].map((f) => fileURLToPath(new URL(f, import.meta.url)));

test('the register and dispatcher suites pass on Node 22', { skip: !existsSync(NODE22) && 'Node 22 not installed (npm ci installs it into scripts/node22)' }, async (t) => {
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    // Without the runner's context variable: with it, the child runner reports to a parent that
    // is not listening and runs nothing.
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    execFile(NODE22, ['--test', '--test-reporter=spec', ...SUITES], { env, timeout: 170_000, maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout: out, stderr: errOut });
    });
  });
  const version = await new Promise<string>((resolve) => execFile(NODE22, ['--version'], (_e, out) => resolve(out.trim())));
  assert.match(version, /^v22\./);
  const sweep = /global fetch sweep[^\n]*/.exec(stdout);
  if (sweep !== null) t.diagnostic(sweep[0]);
  assert.equal(code, 0, `Node ${version}:\n${stdout.slice(-4000)}\n${stderr.slice(-2000)}`);
  const passed = Number(/ℹ pass (\d+)/.exec(stdout)?.[1] ?? 0);
  assert.ok(passed >= 15, `expected the suites' tests to run on Node 22, ${passed} passed:\n${stdout.slice(-2000)}`);
});
