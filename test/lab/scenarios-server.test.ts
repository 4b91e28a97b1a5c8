// Every server scenario against holdfast's server (must pass) and the naive server (must fail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverScenarios, holdfastServer, naiveServer } from '../../src/lab/index.ts';

const ctx = { repeat: 1, signal: new AbortController().signal };

for (const scenario of serverScenarios) {
  test(`${scenario.id}: holdfast server passes`, async () => {
    const r = await scenario.run(holdfastServer, ctx);
    assert.equal(r.status, 'pass', r.mode);
  });
  test(`${scenario.id}: the naive server fails`, async () => {
    const r = await scenario.run(naiveServer, ctx);
    assert.equal(r.status, 'fail', `naive server passed: ${r.mode}`);
  });
}
