/**
 * Slowloris: one client sends its request head one byte per second. Other clients must be served
 * meanwhile. With `--repeat`, each round adds one more dripping connection (the earlier ones
 * keep dripping) before its request.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection } from '../raw-client.ts';
import { repeatRounds, sleep } from '../util.ts';
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
      const head = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(100);
      const slow: RawConnection[] = [];
      const drips = new Set<NodeJS.Timeout>();
      try {
        return await repeatRounds(rounds(1, ctx.repeat), ctx.signal, async () => {
          const s = await RawConnection.open(server.port);
          slow.push(s);
          s.socket.write(head.slice(0, 4));
          let i = 4;
          drips.add(setInterval(() => {
            if (i < head.length && !s.socket.destroyed) s.socket.write(head[i++]!);
          }, 1000));
          await sleep(50);
          return probeAnswered(server.port, GUARD_MS);
        });
      } finally {
        for (const d of drips) clearInterval(d);
        for (const s of slow) s.destroy();
      }
    });
  },
};
