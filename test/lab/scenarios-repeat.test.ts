// --repeat deepens the scenarios that play one round at --repeat 1: at 2 they play two rounds
// (and holdfast still passes every one). The multi-round scenarios scale through `rounds()`,
// which the CLI test checks end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenarios, holdfastRequestClient, holdfastServer, type Scenario, type ScenarioOutcome } from '../../src/lab/index.ts';

const ONE_ROUND = ['slow-headers', 'preconnect', 'slowloris', 'graceful-shutdown', 'request-at-idle-timeout', 'upgrade-held'];
const ctx = { repeat: 2, signal: new AbortController().signal };

function play(scenario: Scenario): Promise<ScenarioOutcome> {
  return scenario.role === 'client' ? scenario.run(holdfastRequestClient, ctx) : scenario.run(holdfastServer, ctx);
}

for (const id of ONE_ROUND) {
  test(`${id}: --repeat 2 plays two rounds`, async () => {
    const scenario = scenarios.find((s) => s.id === id);
    assert.ok(scenario !== undefined, id);
    const r = await play(scenario);
    assert.equal(r.status, 'pass', r.mode);
    assert.equal(r.rounds, 2, r.mode);
    assert.equal(r.failed, 0);
    assert.match(r.mode, /\(2\/2 rounds\)$/);
  });
}
