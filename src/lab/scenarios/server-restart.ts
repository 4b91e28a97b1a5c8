/**
 * Seed 001: a test suite restarts its server on the same port between requests. The new process
 * is listening before the old one dies (SO_REUSEPORT); the old one's death sends a FIN on the
 * client's pooled connection, and the next request is issued in the same tick — before the client
 * has had a chance to read that FIN. The request must succeed on the new server.
 */
import type { ClientScenario, ScenarioOutcome } from '../types.ts';
import { ScriptedPeer } from '../peer.ts';
import { Tally, outcomeLabel, sleep } from '../util.ts';
import { guarded, needsReuse, rounds, withSession } from './client-session.ts';

export const serverRestart: ClientScenario = {
  role: 'client',
  id: 'server-restart',
  title: 'Server restarted on the same port between requests',
  seed: '001',
  description: 'After each answered request the peer is replaced by a new one on the same port and the old one exits (FIN on the pooled connection); the next request, issued at once, must be answered by the new peer.',
  async run(subject, ctx): Promise<ScenarioOutcome> {
    const na = needsReuse(subject);
    if (na !== null) return na;
    const handlers = { onRequest: (conn: import('../peer.ts').PeerConnection) => conn.respond(200, 'ok') };
    let current = await ScriptedPeer.start(handlers, { reusePort: true });
    const port = current.port;
    const peers = [current];
    const tally = new Tally();
    try {
      await withSession(subject, {}, async (session) => {
        const warm = await guarded(session, { method: 'GET', url: current.url('/') });
        if (warm.kind !== 'response') throw new Error(`first request failed: ${outcomeLabel(warm)}`);
        const n = rounds(6, ctx.repeat);
        for (let i = 0; i < n && !ctx.signal.aborted; i++) {
          await sleep(10);
          const next = await ScriptedPeer.start(handlers, { port, reusePort: true });
          peers.push(next);
          // The restart and the next request happen in the same tick, as in a test's setUp.
          current.kill();
          current = next;
          const o = await guarded(session, { method: 'GET', url: `http://127.0.0.1:${port}/${i}` });
          if (o.kind === 'response' && o.status === 200) tally.pass();
          else tally.fail(outcomeLabel(o));
        }
      });
    } finally {
      await Promise.all(peers.map((p) => p.close()));
    }
    return tally.outcome();
  },
};
