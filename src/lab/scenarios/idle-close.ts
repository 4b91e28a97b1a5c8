/**
 * Seed 000, made deterministic: the server closes an idle keep-alive connection exactly as the
 * next request arrives on it — with a FIN (a lingering close, as Apache does when its
 * KeepAliveTimeout fires) or with an RST (a process that died). The request on the reused
 * connection is lost; a client passes only if it recovers (a safe retry on a new connection).
 */
import type { ClientScenario, ScenarioOutcome } from '../types.ts';
import { ScriptedPeer } from '../peer.ts';
import { Tally, outcomeLabel, sleep } from '../util.ts';
import { guarded, needsReuse, rounds, withSession } from './client-session.ts';

function idleClose(kind: 'fin' | 'rst'): ClientScenario {
  return {
    role: 'client',
    id: `idle-close-${kind}`,
    title: `Idle connection closed (${kind.toUpperCase()}) as the next request arrives`,
    seed: '000',
    description: `The peer answers the first request on each connection (no Keep-Alive hint) and closes it with ${kind === 'fin' ? 'a FIN' : 'an RST'} the moment a second request arrives; every reused GET must still succeed.`,
    async run(subject, ctx): Promise<ScenarioOutcome> {
      const na = needsReuse(subject);
      if (na !== null) return na;
      const peer = await ScriptedPeer.start({
        onArrival: (_conn, n) => (n >= 1 ? kind : 'answer'),
        onRequest: (conn) => conn.respond(200, 'ok'),
      });
      const tally = new Tally();
      try {
        await withSession(subject, {}, async (session) => {
          const first = await guarded(session, { method: 'GET', url: peer.url('/') });
          if (first.kind !== 'response') throw new Error(`first request failed: ${outcomeLabel(first)}`);
          const n = rounds(10, ctx.repeat);
          for (let i = 0; i < n && !ctx.signal.aborted; i++) {
            // Long enough for the response to be fully processed and the connection pooled.
            await sleep(15);
            const o = await guarded(session, { method: 'GET', url: peer.url(`/${i}`) });
            if (o.kind === 'response' && o.status === 200 && o.bodyLength === 2) tally.pass();
            else tally.fail(outcomeLabel(o));
          }
        });
      } finally {
        await peer.close();
      }
      const reused = peer.connections.some((c) => c.arrived > 1);
      if (!reused && tally.failed === 0) return { status: 'pass', mode: `never reused a connection (${peer.connections.length} opened)`, failed: 0, rounds: tally.rounds };
      return tally.outcome();
    },
  };
}

export const idleCloseFin = idleClose('fin');
export const idleCloseRst = idleClose('rst');
