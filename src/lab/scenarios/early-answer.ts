/**
 * Seed 002, the upload case: the server answers (413) a large upload without reading it, and
 * closes. If unread request bytes sit in its receive buffer when it closes, the kernel sends an
 * RST and the client loses the response it had not read yet. A lingering close (half-close, then
 * read and discard) delivers it. Each round is `holdfast check`'s early-answer round.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { Tally } from '../util.ts';
import { UPLOAD, earlyAnswerRound } from '../check/early-answer.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

export const earlyAnswer: ServerScenario = {
  role: 'server',
  id: 'early-answer',
  title: 'Early answer to an unread large upload',
  seed: '002',
  description: `POST /early with a ${UPLOAD / 1024 / 1024} MiB body, written in full before reading (as most clients do); the server's early answer must reach the client complete.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const tally = new Tally();
      const n = rounds(5, ctx.repeat);
      for (let i = 0; i < n && !ctx.signal.aborted; i++) {
        const r = await earlyAnswerRound({ host: server.host, port: server.port, authority: '127.0.0.1' }, '/early', 10_000);
        if (r.kind === 'early') tally.pass(`${r.status}`);
        else if (r.kind === 'read') tally.fail(`got ${r.status} (upload was read)`);
        else tally.fail(r.label);
      }
      return tally.outcome();
    });
  },
};
