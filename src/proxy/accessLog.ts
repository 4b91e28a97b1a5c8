/**
 * Access log lines: the combined format (nginx's and Apache's default, which log tools already
 * parse) or one JSON object per line with every field the proxy knows.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { CacheOutcome } from '../cache/index.ts';
import type { TunnelRecord } from './tunnel.ts';

/** Format of the access log. */
export type AccessLogFormat = 'combined' | 'json';

/** Everything logged about one request. */
export interface AccessRecord {
  /** When the request arrived (ms since the epoch). */
  time: number;
  client: string;
  /** '-' when the server answered a request whose head it could not parse. */
  method: string;
  /** '-' when the server answered a request whose head it could not parse. */
  target: string;
  /** null when the request line is unknown (the combined format then writes `"-"`, as nginx does). */
  versionMinor: number | null;
  status: number;
  /** Response body bytes sent; for a tunnel, the bytes sent to the client through it (as nginx counts). */
  bytes: number;
  /** Milliseconds from the request's arrival to the end of the response (for a tunnel: to its close). */
  durationMs: number;
  route: string | null;
  upstream: string | null;
  upstreamMs: number | null;
  retries: number;
  cache: CacheOutcome | null;
  requestId: string | null;
  referer: string | null;
  userAgent: string | null;
  /** The tunnel the request became (status 101), once closed; absent or null for plain requests. */
  tunnel?: TunnelRecord | null;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `10/Oct/2000:13:55:36 +0000` (UTC, as the combined format writes it). */
function clfDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]!}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** A quoted field of the combined format: `"` and `\` escaped, controls as `\xHH` (as nginx does). */
function quoted(v: string | null): string {
  if (v === null) return '"-"';
  return `"${v.replace(/[\x00-\x1f\x7f-\uffff"\\]/g, (c) => {
    const code = c.charCodeAt(0);
    return code > 0xff ? '?' : `\\x${code.toString(16).padStart(2, '0')}`;
  })}"`;
}

/**
 * One line in the combined format, followed by the request id, the request time in seconds
 * (nginx's `$request_time`) and the cache outcome, so the line stays readable by combined parsers
 * (they stop after the user agent). A tunnel's line is written when it closes, as nginx writes a
 * WebSocket's: status 101, the bytes sent to the client through it, the time until its close,
 * then two more fields, `tunnel=REASON` and `from_client=BYTES`.
 */
export function formatCombined(r: AccessRecord): string {
  const request = r.versionMinor === null ? null : `${r.method} ${r.target} HTTP/1.${r.versionMinor}`;
  const tunnel = r.tunnel == null ? '' : ` tunnel=${r.tunnel.reason} from_client=${r.tunnel.bytesFromClient}`;
  return `${r.client} - - [${clfDate(r.time)}] ${quoted(request)} ${r.status} ${r.bytes} ${quoted(r.referer)} ${quoted(r.userAgent)} ${quoted(r.requestId)} ${(r.durationMs / 1000).toFixed(3)} ${r.cache ?? '-'}${tunnel}\n`;
}

const ms = (v: number): number => Math.round(v * 1000) / 1000;

/** One JSON object per line; a tunnel's has a `tunnel` object (bytes each way, its duration, why it closed). */
export function formatJson(r: AccessRecord): string {
  const t = r.tunnel ?? null;
  return `${JSON.stringify({
    time: new Date(r.time).toISOString(),
    client: r.client,
    method: r.method,
    target: r.target,
    status: r.status,
    bytes: r.bytes,
    duration_ms: ms(r.durationMs),
    route: r.route,
    upstream: r.upstream,
    upstream_ms: r.upstreamMs === null ? null : ms(r.upstreamMs),
    retries: r.retries,
    cache: r.cache,
    request_id: r.requestId,
    referer: r.referer,
    user_agent: r.userAgent,
    ...(t === null ? {} : {
      tunnel: { protocol: t.protocol, bytes_from_client: t.bytesFromClient, bytes_from_upstream: t.bytesFromUpstream, duration_ms: ms(t.durationMs), reason: t.reason },
    }),
  })}\n`;
}

/**
 * Writes access log lines to a file (appending) or to stdout (`-`). `reopen()` starts a new file
 * descriptor on the same path, for log rotation (the rotated file is closed once written out).
 */
export class AccessLog {
  readonly path: string;
  readonly format: AccessLogFormat;
  private stream: WriteStream | null;
  /** Lines after `close()` (a tunnel that ended during shutdown) are dropped, not sent to stdout. */
  private state: 'open' | 'closed' = 'open';

  constructor(path: string, format: AccessLogFormat) {
    this.path = path;
    this.format = format;
    this.stream = path === '-' ? null : this.open();
  }

  private open(): WriteStream {
    const s = createWriteStream(this.path, { flags: 'a' });
    // A full disk must not take the proxy down with it.
    s.on('error', (err) => process.stderr.write(`holdfast proxy: access log ${this.path}: ${err.message}\n`));
    return s;
  }

  write(record: AccessRecord): void {
    if (this.state === 'closed') return;
    const line = this.format === 'json' ? formatJson(record) : formatCombined(record);
    if (this.stream === null) process.stdout.write(line);
    else this.stream.write(line);
  }

  /** Opens the path again (after logrotate moved the old file away). */
  reopen(): void {
    if (this.stream === null) return;
    const old = this.stream;
    this.stream = this.open();
    old.end();
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    const s = this.stream;
    this.stream = null;
    this.state = 'closed';
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => s.end(resolve));
  }
}
