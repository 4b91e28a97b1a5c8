/**
 * Seed 002, the download case: `Connection: close` with a large body read slowly. A server that
 * closes by destroying the socket right after writing drops whatever is still queued in user
 * space; one that closes with unread bytes behind the request in its receive buffer (a
 * pipelining client's next requests) makes the kernel send an RST, which discards what the client
 * had not read yet. Either way the client sees a body cut short. Rounds alternate between the two
 * cases; each is a round of `holdfast check`'s close-unread probe.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { Tally } from '../util.ts';
import { closeSlowReaderRound, pipelinedBehind } from '../check/close-unread.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

const SIZE = 16 * 1024 * 1024;
/**
 * With bytes behind the request, a body that fits in the socket buffers: the server has written
 * it all and closes while the client has read none of it, so an RST loses it every time.
 */
const BEHIND_SIZE = 1024 * 1024;

export const closeSlowReader: ServerScenario = {
  role: 'server',
  id: 'close-slow-reader',
  title: 'Connection: close, large body read slowly',
  seed: '002',
  description: `GET /big/${SIZE} with Connection: close; the client reads nothing for 300 ms, then everything; every other round GET /big/${BEHIND_SIZE} followed in the same write by 128 KiB of pipelined requests the server must not read. Every body must arrive whole.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const tally = new Tally();
      const ep = { host: server.host, port: server.port, authority: '127.0.0.1' };
      const n = rounds(2, ctx.repeat);
      for (let i = 0; i < n && !ctx.signal.aborted; i++) {
        const size = i % 2 === 1 ? BEHIND_SIZE : SIZE;
        const path = `/big/${size}`;
        const behind = i % 2 === 1 ? pipelinedBehind(ep, path) : null;
        const r = await closeSlowReaderRound(ep, path, { pauseMs: 300, behind, expectLength: size, guardMs: 15_000 });
        if (r.ok) tally.pass();
        else tally.fail(behind === null ? r.label : `${r.label} with unread requests behind`);
      }
      return tally.outcome();
    });
  },
};
