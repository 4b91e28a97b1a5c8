/**
 * Seed 002, the download case: `Connection: close` with a large body read slowly. A server that
 * closes by destroying the socket right after writing drops whatever is still queued in user
 * space; the client sees a body cut short.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection, rawLabel } from '../raw-client.ts';
import { Tally, sleep } from '../util.ts';
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
        const conn = await RawConnection.open(server.port);
        try {
          conn.request('GET', `/big/${SIZE}`, { Connection: 'close' });
          conn.socket.pause();
          await sleep(300);
          conn.socket.resume();
          const r = await conn.nextResponse(15_000);
          if (r.kind === 'response' && r.response.bodyLength === SIZE) tally.pass();
          else tally.fail(rawLabel(r));
        } finally {
          conn.destroy();
        }
      }
      return tally.outcome();
    });
  },
};
