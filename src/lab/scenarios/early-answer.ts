/**
 * Seed 002, the upload case: the server answers (413) a large upload without reading it, and
 * closes. If unread request bytes sit in its receive buffer when it closes, the kernel sends an
 * RST and the client loses the response it had not read yet. A lingering close (half-close, then
 * read and discard) delivers it.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection, rawLabel } from '../raw-client.ts';
import { Tally, filler } from '../util.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

const UPLOAD = 10 * 1024 * 1024;
const CHUNK = filler(64 * 1024, 0x75);

/**
 * Writes the upload as fast as the server takes it, until `stop()` or the connection dies. Like
 * most clients (python-requests, curl, Node's http without Expect), it reads nothing until the
 * upload is written: `done` resolves then, or when the connection dies, or after a 3 s stall.
 */
function pump(conn: RawConnection): { stop(): void; done: Promise<void> } {
  let stopped = false;
  const socket = conn.socket;
  let progress = performance.now();
  const done = (async () => {
    let sent = 0;
    while (!stopped && sent < UPLOAD && socket.writable && !socket.destroyed) {
      sent += CHUNK.length;
      if (!socket.write(CHUNK)) {
        const drained = await new Promise<boolean>((resolve) => {
          const finish = (ok: boolean): void => {
            clearTimeout(stall);
            socket.off('drain', onDrain);
            socket.off('close', onClose);
            resolve(ok);
          };
          const onDrain = (): void => finish(true);
          const onClose = (): void => finish(false);
          const stall = setTimeout(() => finish(false), Math.max(0, progress + 3000 - performance.now()));
          socket.on('drain', onDrain);
          socket.on('close', onClose);
        });
        if (!drained) break;
        progress = performance.now();
      }
    }
  })();
  return { stop: () => { stopped = true; }, done };
}

export const earlyAnswer: ServerScenario = {
  role: 'server',
  id: 'early-answer',
  title: 'Early answer to an unread large upload',
  seed: '002',
  description: `POST /early with a ${UPLOAD / 1024 / 1024} MiB body, written in full before reading (as most clients do); the server's early answer must reach the client complete.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const tally = new Tally();
      const n = rounds(5, ctx.repeat);
      for (let i = 0; i < n && !ctx.signal.aborted; i++) {
        const conn = await RawConnection.open(server.port);
        conn.socket.pause();
        conn.request('POST', '/early', { 'Content-Type': 'application/octet-stream', 'Content-Length': String(UPLOAD) });
        const p = pump(conn);
        try {
          await p.done;
          conn.socket.resume();
          const r = await conn.nextResponse(10_000);
          if (r.kind === 'response' && r.response.status >= 400) tally.pass(`${r.response.status}`);
          else if (r.kind === 'response') tally.fail(`got ${r.response.status} (upload was read)`);
          else tally.fail(rawLabel(r));
        } finally {
          p.stop();
          conn.destroy();
        }
      }
      return tally.outcome();
    });
  },
};
