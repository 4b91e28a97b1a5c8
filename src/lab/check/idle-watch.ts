/**
 * Watching a connection the client leaves idle: when the server closes it, how (FIN or RST), and
 * whether it wrote anything first — an unsolicited `408` on an idle keep-alive connection is read
 * by the client as the answer to its next request.
 */
import type { RawConnection } from '../raw-client.ts';

/** What an idle connection did while watched. */
export interface IdleObservation {
  /** ms from the start of the watch to the close, or null if still open when the watch ended. */
  closedAfterMs: number | null;
  /** ms from the start of the watch to the first unsolicited byte, or null. */
  wroteAfterMs: number | null;
  /** `fin`, an error code (`ECONNRESET`), or null while open. */
  how: string | null;
  /** Bytes the server wrote during the watch. */
  unsolicited: number;
  /** The first of them, printable (`HTTP/1.1 408 Request Timeout`). */
  firstLine: string;
}

/**
 * Watches `conn` (no request outstanding) for up to `ms`, from now. The watch takes the socket's
 * bytes over from the raw client's parser, which would reject bytes nobody asked for and drop
 * the connection: here they are evidence, and the server still decides when to close.
 */
export async function watchIdle(conn: RawConnection, ms: number): Promise<IdleObservation> {
  const t0 = performance.now();
  const chunks: Buffer[] = [];
  let unsolicited = 0;
  let wroteAt: number | null = null;
  let closedAt: number | null = null;
  conn.socket.removeAllListeners('data');
  conn.socket.on('data', (chunk: Buffer) => {
    unsolicited += chunk.length;
    if (chunks.length < 4) chunks.push(chunk);
    wroteAt ??= performance.now();
  });
  if (await conn.closed(ms)) closedAt = performance.now();
  const text = Buffer.concat(chunks).toString('latin1');
  return {
    closedAfterMs: closedAt === null ? null : Math.round(closedAt - t0),
    wroteAfterMs: wroteAt === null ? null : Math.round(wroteAt - t0),
    how: conn.endedBy,
    unsolicited,
    firstLine: printable(text.split('\r\n', 1)[0] ?? ''),
  };
}

/** Wire bytes as one printable line (control bytes escaped), at most 80 characters. */
export function printable(text: string): string {
  return JSON.stringify(text.slice(0, 80)).slice(1, -1);
}

/** `closed after 1002 ms (FIN)` / `still open after 8 s`. */
export function describeIdle(o: IdleObservation, watchedMs: number): string {
  const wrote = o.unsolicited > 0 ? `wrote ${o.unsolicited} bytes unasked after ${o.wroteAfterMs} ms ("${o.firstLine}"), ` : '';
  if (o.closedAfterMs === null) return `${wrote}still open after ${(watchedMs / 1000).toFixed(1)} s`;
  const how = o.how === 'fin' ? 'FIN' : o.how === null ? 'closed' : o.how === 'ECONNRESET' ? 'RST' : o.how;
  return `${wrote}closed after ${o.closedAfterMs} ms (${how})`;
}
