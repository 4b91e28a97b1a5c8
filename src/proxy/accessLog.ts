/**
 * Access log lines: the combined format (nginx's and Apache's default, which log tools already
 * parse) or one JSON object per line with every field the proxy knows.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { CacheOutcome } from '../cache/index.ts';

/** Format of the access log. */
export type AccessLogFormat = 'combined' | 'json';

/** Everything logged about one request. */
export interface AccessRecord {
  /** When the request arrived (ms since the epoch). */
  time: number;
  client: string;
  method: string;
  target: string;
  versionMinor: number;
  status: number;
  /** Response body bytes sent. */
  bytes: number;
  /** Milliseconds from the request's arrival to the end of the response. */
  durationMs: number;
  route: string | null;
  upstream: string | null;
  upstreamMs: number | null;
  retries: number;
  cache: CacheOutcome | null;
  requestId: string | null;
  referer: string | null;
  userAgent: string | null;
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
 * (they stop after the user agent).
 */
export function formatCombined(r: AccessRecord): string {
  const request = `${r.method} ${r.target} HTTP/1.${r.versionMinor}`;
  return `${r.client} - - [${clfDate(r.time)}] ${quoted(request)} ${r.status} ${r.bytes} ${quoted(r.referer)} ${quoted(r.userAgent)} ${quoted(r.requestId)} ${(r.durationMs / 1000).toFixed(3)} ${r.cache ?? '-'}\n`;
}

/** One JSON object per line. */
export function formatJson(r: AccessRecord): string {
  return `${JSON.stringify({
    time: new Date(r.time).toISOString(),
    client: r.client,
    method: r.method,
    target: r.target,
    status: r.status,
    bytes: r.bytes,
    duration_ms: Math.round(r.durationMs * 1000) / 1000,
    route: r.route,
    upstream: r.upstream,
    upstream_ms: r.upstreamMs === null ? null : Math.round(r.upstreamMs * 1000) / 1000,
    retries: r.retries,
    cache: r.cache,
    request_id: r.requestId,
    referer: r.referer,
    user_agent: r.userAgent,
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
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => s.end(resolve));
  }
}
