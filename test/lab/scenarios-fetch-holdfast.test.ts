// Every client scenario against code written for fetch and undici, running on holdfast through
// its dispatcher: these rows must pass like holdfast's own clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientScenarios, nodeFetchHoldfastClient, undiciHoldfastClient } from '../../src/lab/index.ts';

const ctx = { repeat: 1, signal: new AbortController().signal };

for (const scenario of clientScenarios) {
  for (const subject of [nodeFetchHoldfastClient, undiciHoldfastClient]) {
    test(`${scenario.id}: ${subject.id} passes`, async () => {
      assert.equal(subject.family, 'holdfast');
      const r = await scenario.run(subject, ctx);
      assert.equal(r.status, 'pass', r.mode);
    });
  }
}
