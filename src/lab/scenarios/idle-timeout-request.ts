/**
 * Seed 000 from the server's side: a request sent exactly as the server's idle timeout fires.
 * No server can answer a request that crosses its FIN; what a server can do is advertise
 * `Keep-Alive: timeout=N` and close later than that, so that clients that honour the hint retire
 * the connection first. The lab measures when the server really closes an idle connection, then
 * sends requests at that moment and just before the advertised timeout — the measurement of
 * `holdfast check`'s idle-timeout probe, with a shorter watch. With `--repeat`, every round
 * measures and sweeps again on the same server.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { repeatRounds } from '../util.ts';
import { measureIdleTimeout } from '../check/idle-timeout.ts';
import { labOutcome } from '../check/lab-outcome.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

const OBSERVE_MS = 3000;

export const idleTimeoutRequest: ServerScenario = {
  role: 'server',
  id: 'request-at-idle-timeout',
  title: 'Request sent as the idle timeout fires',
  seed: '000',
  description: 'The lab measures when an idle keep-alive connection is closed and compares it with the Keep-Alive hint; pass = the server advertises a timeout and closes at least 100 ms after it (or keeps idle connections ≥ 3 s), and requests sent just before it are answered.',
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, (server) => repeatRounds(rounds(1, ctx.repeat), ctx.signal, async () => labOutcome(
      await measureIdleTimeout({ host: server.host, port: server.port, authority: server.host }, { path: '/', observeMs: OBSERVE_MS, guardMs: 3000 }),
    )));
  },
};
