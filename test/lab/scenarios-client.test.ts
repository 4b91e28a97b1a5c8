// Every client scenario against holdfast's clients (must pass) and the naive client (must fail):
// the scenario detects the race, and holdfast survives it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientScenarios, holdfastRequestClient, holdfastFetchClient, naiveClient } from '../../src/lab/index.ts';

const ctx = { repeat: 1, signal: new AbortController().signal };

for (const scenario of clientScenarios) {
  test(`${scenario.id}: holdfast request() passes`, async () => {
    const r = await scenario.run(holdfastRequestClient, ctx);
    assert.equal(r.status, 'pass', r.mode);
  });
  test(`${scenario.id}: holdfast fetch() passes`, async () => {
    const r = await scenario.run(holdfastFetchClient, ctx);
    assert.equal(r.status, 'pass', r.mode);
  });
  test(`${scenario.id}: the naive client fails`, async () => {
    const r = await scenario.run(naiveClient, ctx);
    assert.equal(r.status, 'fail', `naive client passed: ${r.mode}`);
    assert.ok(r.mode.length > 0);
  });
}
