/**
 * Seed 002, the download case: `Connection: close` with a large body read slowly. A server that
 * closes by destroying the socket right after writing drops whatever is still queued in user
 * space; the client sees a body cut short. Each round is `holdfast check`'s close-unread round
 * without bytes behind the request.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { Tally } from '../util.ts';
import { closeSlowReaderRound } from '../check/close-unread.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

const SIZE = 16 * 1024 * 1024;

export const closeSlowReader: ServerScenario = {
  role: 'server',
  id: 'close-slow-reader',
  title: 'Connection: close, large body read slowly',
  seed: '002',
  description: `GET /big/${SIZE} with Connection: close; the client reads nothing for 300 ms, then everything; all ${SIZE} bytes must arrive.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const tally = new Tally();
      const n = rounds(2, ctx.repeat);
      for (let i = 0; i < n && !ctx.signal.aborted; i++) {
        const r = await closeSlowReaderRound({ host: server.host, port: server.port, authority: '127.0.0.1' }, `/big/${SIZE}`, { pauseMs: 300, behind: null, expectLength: SIZE, guardMs: 15_000 });
        if (r.ok) tally.pass();
        else tally.fail(r.label);
      }
      return tally.outcome();
    });
  },
};
