/**
 * Graceful shutdown with requests in flight: requests being handled must complete, idle
 * keep-alive connections must be closed, and the shutdown must finish. Shutdown ends the
 * server, so with `--repeat` every round starts a fresh one.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection, rawLabel } from '../raw-client.ts';
import { repeatRounds, sleep, within } from '../util.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

const IN_FLIGHT = 3;
const SLOW_MS = 800;
const SHUTDOWN_GUARD_MS = 6000;

export const gracefulShutdown: ServerScenario = {
  role: 'server',
  id: 'graceful-shutdown',
  title: 'Graceful shutdown with requests in flight',
  seed: '001',
  description: `${IN_FLIGHT} requests to /slow/${SLOW_MS} are in flight and one keep-alive connection is idle when shutdown starts; the requests must complete, the idle connection must be closed, and shutdown must finish within ${SHUTDOWN_GUARD_MS / 1000} s.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return repeatRounds(rounds(1, ctx.repeat), ctx.signal, () => withServer(subject, async (server): Promise<ScenarioOutcome> => {
      const idle = await RawConnection.open(server.port);
      const busy: RawConnection[] = [];
      try {
        idle.request('GET', '/');
        const first = await idle.nextResponse(3000);
        if (first.kind !== 'response') return { status: 'fail', mode: `idle connection's request: ${rawLabel(first)}` };
        for (let i = 0; i < IN_FLIGHT; i++) {
          const c = await RawConnection.open(server.port);
          c.request('GET', `/slow/${SLOW_MS}`);
          busy.push(c);
        }
        await sleep(200);
        const shutdown = within(server.shutdown().then(() => true), SHUTDOWN_GUARD_MS, () => false);
        const results = await Promise.all(busy.map((c) => c.nextResponse(SHUTDOWN_GUARD_MS)));
        const finished = await shutdown;
        const idleClosed = await idle.closed(500);
        const lost = results.filter((r) => !(r.kind === 'response' && r.response.status === 200));
        const problems: string[] = [];
        if (lost.length > 0) problems.push(`in-flight lost ${lost.length}/${IN_FLIGHT} (${rawLabel(lost[0]!)})`);
        if (!finished) problems.push(`shutdown not finished in ${SHUTDOWN_GUARD_MS / 1000} s`);
        if (!idleClosed) problems.push('idle connection left open');
        if (problems.length > 0) return { status: 'fail', mode: problems.join('; ') };
        return { status: 'pass', mode: `${IN_FLIGHT}/${IN_FLIGHT} completed, idle closed` };
      } finally {
        idle.destroy();
        for (const c of busy) c.destroy();
      }
    }));
  },
};
