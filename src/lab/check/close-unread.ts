/**
 * Seed 002, the download case: the client asked for `Connection: close` and reads slowly, and
 * bytes the server will never read sit behind its request (what a pipelining client sends). A
 * server that closes by destroying the socket right after writing drops what is still queued in
 * user space; one that closes with unread bytes in its receive buffer makes the kernel send an
 * RST, which discards what the client had not read yet. Either way the body is cut short. The
 * lab's `close-slow-reader` scenario plays the same two rounds.
 */
import type { CheckProbe, Endpoint, ProbeFinding } from './types.ts';
import { rawLabel } from '../raw-client.ts';
import { sleep } from '../util.ts';
import { connect } from './connections.ts';

export interface CloseRoundOptions {
  /** How long the client reads nothing after sending its request. */
  pauseMs: number;
  /** Bytes written right behind the request, which the server must not read. */
  behind: string | null;
  /** Body length the response must have, when known in advance. */
  expectLength: number | null;
  guardMs: number;
}

/** How one `Connection: close` download went: `ok` when the response came whole. */
export interface CloseRound {
  ok: boolean;
  label: string;
}

/** One GET with `Connection: close`, read after a pause. */
export async function closeSlowReaderRound(ep: Endpoint, path: string, o: CloseRoundOptions): Promise<CloseRound> {
  const conn = await connect(ep);
  try {
    // One write: the bytes behind arrive with the request, before the server can have closed.
    conn.request('GET', path, { Connection: 'close' }, o.behind === null ? undefined : Buffer.from(o.behind, 'latin1'));
    conn.socket.pause();
    await sleep(o.pauseMs);
    conn.socket.resume();
    const r = await conn.nextResponse(o.guardMs);
    if (r.kind !== 'response') return { ok: false, label: rawLabel(r) };
    const got = r.response.bodyLength;
    if (o.expectLength !== null && got !== o.expectLength) return { ok: false, label: `${got} of ${o.expectLength} body bytes` };
    return { ok: true, label: `${r.response.status}, ${got} body bytes, complete` };
  } finally {
    conn.destroy();
  }
}

/** Bytes behind the request: more than a server's read buffer (8 KiB in Python, 64 KiB in Node). */
export const BEHIND_BYTES = 128 * 1024;

/**
 * What a pipelining client has written behind its `Connection: close` request: more requests,
 * `BEHIND_BYTES` of them, so that some stay unread in the server's receive buffer.
 */
export function pipelinedBehind(ep: Endpoint, path: string): string {
  const one = `GET ${path} HTTP/1.1\r\nHost: ${ep.authority}\r\n\r\n`;
  return one.repeat(Math.ceil(BEHIND_BYTES / one.length));
}

/** Rounds with bytes behind the request: the race is the kernel's, so more than one look. */
const BEHIND_ROUNDS = 2;

export const closeUnreadProbe: CheckProbe = {
  id: 'close-unread',
  title: 'Close with unread bytes behind the request',
  description: 'GET --large-path (default: the URL) with Connection: close, the client reading nothing for 300 ms: once alone, twice with 128 KiB of pipelined requests behind it, written with it, that the server must not read. Every body must arrive whole (as long as a fast keep-alive GET of the same path). A body that fits in socket buffers (about 1 MiB) shows an RST most reliably; a larger one also shows a server that drops queued bytes.',
  labScenario: 'close-slow-reader',
  limitMs: 40_000,
  async run(ctx): Promise<ProbeFinding> {
    const t = ctx.target;
    const path = t.largePath;
    const guardMs = 15_000 * ctx.scale;
    const ref = await connect(t);
    let expect: number | null;
    const evidence: string[] = [];
    try {
      ref.request('GET', path);
      const r = await ref.nextResponse(guardMs);
      if (r.kind !== 'response') return { status: 'fail', summary: `a plain GET ${path} failed: ${rawLabel(r)}`, evidence };
      expect = r.response.bodyLength;
      evidence.push(`GET ${path} read at once: ${r.response.status}, ${expect} body bytes`);
    } finally {
      ref.destroy();
    }
    const pauseMs = 300 * ctx.scale;
    const alone = await closeSlowReaderRound(t, path, { pauseMs, behind: null, expectLength: expect, guardMs });
    evidence.push(`Connection: close, read after ${pauseMs} ms: ${alone.label}`);
    const behind: CloseRound[] = [];
    for (let i = 0; i < BEHIND_ROUNDS && !ctx.signal.aborted; i++) {
      const r = await closeSlowReaderRound(t, path, { pauseMs, behind: pipelinedBehind(t, path), expectLength: expect, guardMs });
      behind.push(r);
      evidence.push(`Connection: close with ${BEHIND_BYTES / 1024} KiB of pipelined requests behind it, read after ${pauseMs} ms: ${r.label}`);
    }
    if (!alone.ok) return { status: 'fail', summary: `slow reader: ${alone.label}`, evidence };
    const cut = behind.filter((r) => !r.ok);
    if (cut.length > 0) return { status: 'fail', summary: `with unread bytes behind the request: ${cut[0]!.label} (${cut.length} of ${behind.length})`, evidence };
    const small = expect < 64 * 1024 ? ' (small body: --large-path with a body of about 1 MiB is a stronger test)' : '';
    return { status: 'pass', summary: `${expect} body bytes arrived whole, ${behind.length + 1} times${small}`, evidence };
  },
};
