/**
 * A POST on a stale connection. The peer reads the whole POST (it has processed it), then closes
 * the reused connection without answering — from the client's side indistinguishable from a
 * connection that died as the request was sent. Replaying it silently would run it twice; the
 * client must fail, and its error must say the request may have been processed.
 */
import type { ClientScenario, ScenarioOutcome } from '../types.ts';
import { ScriptedPeer } from '../peer.ts';
import { Tally, outcomeLabel, sleep } from '../util.ts';
import { guarded, needsReuse, rounds, withSession } from './client-session.ts';

export const stalePost: ClientScenario = {
  role: 'client',
  id: 'stale-post',
  title: 'POST on a stale connection',
  seed: '000',
  description: 'The peer answers a GET, then reads a POST sent on the same connection and closes without answering; pass = the POST reached the peer once and the client\'s error says it may have been processed.',
  async run(subject, ctx): Promise<ScenarioOutcome> {
    const na = needsReuse(subject);
    if (na !== null) return na;
    const tally = new Tally();
    const n = rounds(3, ctx.repeat);
    for (let i = 0; i < n && !ctx.signal.aborted; i++) {
      let posts = 0;
      const peer = await ScriptedPeer.start({
        onRequest: (conn, req, index) => {
          if (req.head.method === 'POST') posts++;
          if (req.head.method === 'POST' && index >= 1) conn.fin();
          else conn.respond(200, 'ok');
        },
      });
      try {
        await withSession(subject, {}, async (session) => {
          await guarded(session, { method: 'GET', url: peer.url('/') });
          await sleep(15);
          const o = await guarded(session, { method: 'POST', url: peer.url('/order'), headers: { 'content-type': 'application/json' }, body: Buffer.from('{"item":1}') });
          // Let a silent replay reach the peer before counting.
          await sleep(20);
          if (posts > 1) tally.fail(`duplicated (peer processed ${posts})`);
          else if (o.kind === 'error' && o.mayHaveBeenProcessed === true) tally.pass(`${o.code}, may have been processed`);
          else if (o.kind === 'error') tally.fail(`${o.code} without may-have-been-processed`);
          else if (o.kind === 'response' && posts === 0) tally.fail(`POST never reached the peer (${outcomeLabel(o)})`);
          else tally.fail(outcomeLabel(o));
        });
      } finally {
        await peer.close();
      }
    }
    return tally.outcome();
  },
};
