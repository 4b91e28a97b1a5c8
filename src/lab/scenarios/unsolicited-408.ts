/**
 * An unsolicited `408 Request Timeout` on an idle keep-alive connection (Go's net/http and others
 * send one when their read timeout fires). The peer writes it 30 ms after answering and keeps the
 * connection open; the client's next request goes out 60 ms after the answer. A client that reads
 * the stale 408 as the answer to its new request fails.
 */
import type { ClientScenario, ScenarioOutcome } from '../types.ts';
import { ScriptedPeer } from '../peer.ts';
import { Tally, outcomeLabel, sleep } from '../util.ts';
import { guarded, needsReuse, rounds, withSession } from './client-session.ts';

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

export const unsolicited408: ClientScenario = {
  role: 'client',
  id: 'unsolicited-408',
  title: 'Unsolicited 408 on an idle connection',
  seed: '000',
  description: 'The peer answers the first request on a connection, then writes an unsolicited 408 on it while idle and closes it when the next request arrives; the next GET must get its own 200.',
  async run(subject, ctx): Promise<ScenarioOutcome> {
    const na = needsReuse(subject);
    if (na !== null) return na;
    const timers = new Set<NodeJS.Timeout>();
    const peer = await ScriptedPeer.start({
      onArrival: (_conn, n) => (n >= 1 ? 'fin' : 'answer'),
      onRequest: (conn) => {
        conn.respond(200, 'ok');
        const t = setTimeout(() => conn.write(REQUEST_TIMEOUT), 30);
        timers.add(t);
      },
    });
    const tally = new Tally();
    try {
      await withSession(subject, {}, async (session) => {
        const n = rounds(5, ctx.repeat);
        const first = await guarded(session, { method: 'GET', url: peer.url('/') });
        if (first.kind !== 'response') throw new Error(`first request failed: ${outcomeLabel(first)}`);
        for (let i = 0; i < n && !ctx.signal.aborted; i++) {
          await sleep(60);
          const o = await guarded(session, { method: 'GET', url: peer.url(`/${i}`) });
          if (o.kind === 'response' && o.status === 200) tally.pass();
          else tally.fail(outcomeLabel(o));
        }
      });
    } finally {
      for (const t of timers) clearTimeout(t);
      await peer.close();
    }
    return tally.outcome();
  },
};
