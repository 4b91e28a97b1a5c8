/**
 * Seed 004: a browser opens spare connections and sends nothing on them (preconnects), then sends
 * its real request on another connection. A server that serves one connection at a time waits on
 * the silent one and every client hangs. With `--repeat`, each round opens two more silent
 * connections on the same server (the earlier ones still open) before its request.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection, rawLabel } from '../raw-client.ts';
import { repeatRounds, sleep } from '../util.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

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
          const conn = await RawConnection.open(server.port).catch(() => null);
          if (conn === null) return { status: 'fail', mode: 'third connection refused' };
          try {
            await sleep(20);
            conn.request('GET', '/');
            const r = await conn.nextResponse(GUARD_MS);
            if (r.kind === 'response' && r.response.status === 200) return { status: 'pass', mode: 'answered' };
            return { status: 'fail', mode: rawLabel(r) };
          } finally {
            conn.destroy();
          }
        });
      } finally {
        for (const c of silent) c.destroy();
      }
    });
  },
};
