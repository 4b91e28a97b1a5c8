/**
 * Seed 004: a browser opens spare connections and sends nothing on them (preconnects), then sends
 * its real request on another connection. A server that serves one connection at a time waits on
 * the silent one and every client hangs. With `--repeat`, each round opens two more silent
 * connections on the same server (the earlier ones still open) before its request.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection } from '../raw-client.ts';
import { repeatRounds, sleep } from '../util.ts';
import { rounds } from './client-session.ts';
import { probeAnswered, withServer } from './server-running.ts';

const GUARD_MS = 3000;

export const preconnect: ServerScenario = {
  role: 'server',
  id: 'preconnect',
  title: 'Idle preconnects, then a real request',
  seed: '004',
  description: `Two connections are opened and left silent; a GET on a third must be answered within ${GUARD_MS / 1000} s.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const silent: RawConnection[] = [];
      try {
        return await repeatRounds(rounds(1, ctx.repeat), ctx.signal, async () => {
          silent.push(await RawConnection.open(server.port), await RawConnection.open(server.port));
          // Let the server accept the silent ones before the probe connects.
          await sleep(20);
          return probeAnswered(server.port, GUARD_MS);
        });
      } finally {
        for (const c of silent) c.destroy();
      }
    });
  },
};
