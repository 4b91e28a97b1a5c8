/**
 * Slowloris: one client sends its request head one byte per second. Other clients must be served
 * meanwhile. With `--repeat`, each round adds one more dripping connection (the earlier ones
 * keep dripping) before its request. The drip and the request are `holdfast check`'s slowloris
 * probe's.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { repeatRounds, sleep } from '../util.ts';
import { drip } from '../check/slowloris.ts';
import { rounds } from './client-session.ts';
import { probeAnswered, withServer } from './server-running.ts';

const GUARD_MS = 3000;

export const slowloris: ServerScenario = {
  role: 'server',
  id: 'slowloris',
  title: 'Slowloris does not block others',
  seed: '004',
  description: `One connection drips "GET / HTTP/1.1..." one byte per second; a normal GET on another connection must be answered within ${GUARD_MS / 1000} s.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const slow: Array<{ stop(): void }> = [];
      try {
        return await repeatRounds(rounds(1, ctx.repeat), ctx.signal, async () => {
          slow.push(await drip({ host: server.host, port: server.port, authority: '127.0.0.1' }, '/', 1000));
          await sleep(50);
          return probeAnswered(server.port, GUARD_MS);
        });
      } finally {
        for (const s of slow) s.stop();
      }
    });
  },
};
