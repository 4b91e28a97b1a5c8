/**
 * Pipelined requests: three GETs written in one packet must get three responses, in order.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection, rawLabel } from '../raw-client.ts';
import { Tally } from '../util.ts';
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
        const conn = await RawConnection.open(server.port);
        try {
          conn.expect('GET', SIZES.length);
          conn.socket.write(SIZES.map((s) => `GET /big/${s} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`).join(''));
          let failure: string | null = null;
          let note: string | undefined;
          for (let i = 0; i < SIZES.length && failure === null && note === undefined; i++) {
            const r = await conn.nextResponse(2000);
            if (r.kind !== 'response') failure = `answered ${i} of ${SIZES.length}, then ${rawLabel(r)}`;
            else if (r.response.bodyLength !== SIZES[i]) failure = `response ${i + 1} has ${r.response.bodyLength} bytes, not ${SIZES[i]}`;
            // RFC 9112 §9.3.2: a server may close after any response if it says so; the client
            // then resends the rest. Only an unannounced loss is a failure.
            else if (i < SIZES.length - 1 && r.response.headers.get('connection')?.toLowerCase() === 'close') note = `Connection: close after ${i + 1} of ${SIZES.length}`;
          }
          if (failure === null) tally.pass(note);
          else tally.fail(failure);
        } finally {
          conn.destroy();
        }
      }
      return tally.outcome();
    });
  },
};
