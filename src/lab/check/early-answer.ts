/**
 * Seed 002, the upload case: the server answers a large upload (413, 401, 404...) without reading
 * it, and closes. If unread request bytes sit in its receive buffer when it closes, the kernel
 * sends an RST and the client loses the response it had not read yet. A lingering close
 * (half-close, then read and discard) delivers it. The lab's `early-answer` scenario plays the
 * same rounds.
 */
import type { CheckProbe, Endpoint, ProbeFinding } from './types.ts';
import { type RawConnection, rawLabel } from '../raw-client.ts';
import { filler } from '../util.ts';
import { connect } from './connections.ts';

/** Larger than loopback's socket buffers, so that the server cannot have it all unread in the kernel. */
export const UPLOAD = 10 * 1024 * 1024;
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

/** How one upload went. */
export type EarlyAnswerRound =
  | { kind: 'early'; status: number; bodyLength: number }
  | { kind: 'read'; status: number }
  | { kind: 'lost'; label: string };

/**
 * POSTs `UPLOAD` bytes to `path`, writing all of them before reading anything. A response of
 * 400 or more is an early answer (the server refused the upload); a lower one means it read it.
 */
export async function earlyAnswerRound(ep: Endpoint, path: string, guardMs: number): Promise<EarlyAnswerRound> {
  const conn = await connect(ep);
  conn.socket.pause();
  conn.request('POST', path, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(UPLOAD) });
  const p = pump(conn);
  try {
    await p.done;
    conn.socket.resume();
    const r = await conn.nextResponse(guardMs);
    if (r.kind !== 'response') return { kind: 'lost', label: rawLabel(r) };
    if (r.response.status >= 400) return { kind: 'early', status: r.response.status, bodyLength: r.response.bodyLength };
    return { kind: 'read', status: r.response.status };
  } finally {
    p.stop();
    conn.destroy();
  }
}

const ROUNDS = 3;

export const earlyAnswerProbe: CheckProbe = {
  id: 'early-answer',
  title: 'Early answer to an unread upload',
  description: `POST of ${UPLOAD / 1024 / 1024} MiB to --upload-path (default: the URL), written in full before reading, as python-requests and curl do; ${ROUNDS} rounds. Pass = every early answer (status ≥ 400) arrives complete; n/a = the server read the upload and accepted it.`,
  labScenario: 'early-answer',
  limitMs: 40_000,
  async run(ctx): Promise<ProbeFinding> {
    const path = ctx.target.uploadPath;
    const evidence: string[] = [];
    let lost = 0;
    let early = 0;
    for (let i = 0; i < ROUNDS && !ctx.signal.aborted; i++) {
      const r = await earlyAnswerRound(ctx.target, path, 10_000 * ctx.scale);
      if (r.kind === 'lost') lost++;
      if (r.kind === 'early') early++;
      evidence.push(`POST ${path} (${UPLOAD} bytes): ${r.kind === 'lost' ? `response lost: ${r.label}` : r.kind === 'early' ? `early answer ${r.status}, ${r.bodyLength} body bytes, complete` : `answered ${r.status} after reading the upload`}`);
    }
    if (lost > 0) return { status: 'fail', summary: `early answer lost in ${lost} of ${ROUNDS} uploads (${evidence.find((e) => e.includes('lost'))!.replace(/^.*response lost: /, '')})`, evidence };
    if (early === 0) return { status: 'n/a', summary: `${path} reads and accepts the upload: no early answer (use --upload-path with a path that refuses large bodies)`, evidence };
    return { status: 'pass', summary: `${early} of ${ROUNDS} early answers arrived complete`, evidence };
  },
};
