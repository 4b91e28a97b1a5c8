/**
 * Slowloris: one client sends its request head one byte per second. Other clients must be served
 * meanwhile.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection, rawLabel } from '../raw-client.ts';
import { sleep } from '../util.ts';
import { withServer } from './server-running.ts';

const GUARD_MS = 3000;

export const slowloris: ServerScenario = {
  role: 'server',
  id: 'slowloris',
  title: 'Slowloris does not block others',
  seed: '004',
  description: `One connection drips "GET / HTTP/1.1..." one byte per second; a normal GET on another connection must be answered within ${GUARD_MS / 1000} s.`,
  async run(subject): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const slow = await RawConnection.open(server.port);
      const head = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(100);
      let i = 0;
      slow.socket.write(head.slice(0, 4));
      i = 4;
      const drip = setInterval(() => {
        if (i < head.length && !slow.socket.destroyed) slow.socket.write(head[i++]!);
      }, 1000);
      try {
        await sleep(50);
        const conn = await RawConnection.open(server.port);
        try {
          conn.request('GET', '/');
          const r = await conn.nextResponse(GUARD_MS);
          if (r.kind === 'response' && r.response.status === 200) return { status: 'pass', mode: 'answered', failed: 0, rounds: 1 };
          return { status: 'fail', mode: rawLabel(r), failed: 1, rounds: 1 };
        } finally {
          conn.destroy();
        }
      } finally {
        clearInterval(drip);
        slow.destroy();
      }
    });
  },
};
