/**
 * Slow response headers: the peer sends a status line, then one byte of a header field every
 * 100 ms, forever. The client is configured with a 500 ms timeout (its own idiomatic option); a
 * timeout that is only an idle-socket timeout is reset by every byte and never fires. With
 * `--repeat` the session makes one such request per round: the timeout must fire every time.
 */
import type { ClientScenario, ScenarioOutcome } from '../types.ts';
import { ScriptedPeer } from '../peer.ts';
import { formatSeconds, outcomeLabel, repeatRounds } from '../util.ts';
import { guarded, rounds, withSession } from './client-session.ts';

const TIMEOUT_MS = 500;
const GUARD_MS = 2500;

export const slowHeaders: ClientScenario = {
  role: 'client',
  id: 'slow-headers',
  title: 'Slow response headers (timeout honoured)',
  seed: '004',
  description: `The peer drips a response head one byte per 100 ms; the client, configured with a ${TIMEOUT_MS} ms timeout, must fail within ${GUARD_MS / 1000} s.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    const timers = new Set<NodeJS.Timeout>();
    const peer = await ScriptedPeer.start({
      onRequest: (conn) => {
        conn.write('HTTP/1.1 200 OK\r\nX-Drip: ');
        const t = setInterval(() => {
          if (conn.isClosed) clearInterval(t);
          else conn.write('a');
        }, 100);
        timers.add(t);
      },
    });
    try {
      return await withSession(subject, { timeoutMs: TIMEOUT_MS }, (session) => repeatRounds(rounds(1, ctx.repeat), ctx.signal, async () => {
        const started = performance.now();
        const o = await guarded(session, { method: 'GET', url: peer.url('/') }, GUARD_MS);
        const took = performance.now() - started;
        if (o.kind === 'error') return { status: 'pass', mode: `${o.timedOut ? 'timed out' : o.code} after ${formatSeconds(took)}` };
        return { status: 'fail', mode: outcomeLabel(o) };
      }));
    } finally {
      for (const t of timers) clearInterval(t);
      await peer.close();
    }
  },
};
