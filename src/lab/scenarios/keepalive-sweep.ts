/**
 * Seed 000 as it happens in the wild: the peer closes idle connections after 100 ms and sends no
 * Keep-Alive hint (nginx's default behaviour, with a shorter timer); the client sends its next
 * request after a delay swept across the timeout in 0.5 ms steps, so some requests cross the
 * server's FIN. Every request must succeed.
 */
import type { ClientScenario, ScenarioOutcome } from '../types.ts';
import { ThreadedIdlePeer } from '../threaded-peer.ts';
import { Tally, outcomeLabel, sleep } from '../util.ts';
import { guarded, needsReuse, rounds, withSession } from './client-session.ts';

const IDLE_MS = 100;

/** Waits until `performance.now()` reaches `at`: a timer for the bulk, a spin for the last ms. */
async function waitUntil(at: number): Promise<void> {
  const coarse = at - performance.now() - 2;
  if (coarse > 0) await sleep(coarse);
  while (performance.now() < at) { /* sub-millisecond precision */ }
}

export const keepaliveSweep: ClientScenario = {
  role: 'client',
  id: 'keepalive-sweep',
  title: 'Keep-alive boundary sweep, no hint',
  seed: '000',
  description: `The peer (own thread) closes idle connections ${IDLE_MS} ms after each response without a Keep-Alive hint; the next request is sent ${IDLE_MS - 5}..${IDLE_MS + 5} ms after the previous response, in 0.5 ms steps. Every request must succeed.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    const na = needsReuse(subject);
    if (na !== null) return na;
    const peer = await ThreadedIdlePeer.start(IDLE_MS);
    const tally = new Tally();
    try {
      await withSession(subject, {}, async (session) => {
        const steps = rounds(21, ctx.repeat);
        for (let i = 0; i < steps && !ctx.signal.aborted; i++) {
          const delay = IDLE_MS - 5 + (i % 21) * 0.5;
          const warm = await guarded(session, { method: 'GET', url: peer.url('/warm') });
          const answeredAt = performance.now();
          if (warm.kind !== 'response') {
            tally.fail(`${outcomeLabel(warm)} (immediate)`);
            continue;
          }
          await waitUntil(answeredAt + delay);
          const o = await guarded(session, { method: 'GET', url: peer.url(`/at-${delay}`) });
          if (o.kind === 'response' && o.status === 200) tally.pass();
          else tally.fail(outcomeLabel(o));
        }
      });
    } finally {
      await peer.close();
    }
    return tally.outcome();
  },
};
