/**
 * Pipelined requests: three GETs written in one packet must get three responses, in order (the
 * round of `holdfast check`'s pipelining probe, with sizes that show the order).
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { Tally } from '../util.ts';
import { pipelineRound } from '../check/pipelining.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

const SIZES = [10, 20, 30];

export const pipelined: ServerScenario = {
  role: 'server',
  id: 'pipelined',
  title: 'Pipelined requests',
  seed: '002',
  description: 'GET /big/10, /big/20, /big/30 written in one packet; all three responses must arrive complete and in order (or a response must announce Connection: close).',
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const tally = new Tally();
      const n = rounds(3, ctx.repeat);
      for (let round = 0; round < n && !ctx.signal.aborted; round++) {
        const r = await pipelineRound({ host: server.host, port: server.port, authority: '127.0.0.1' }, SIZES.map((s) => `/big/${s}`), SIZES, 2000);
        if (r.failure === null) tally.pass(r.note ?? undefined);
        else tally.fail(r.failure);
      }
      return tally.outcome();
    });
  },
};
