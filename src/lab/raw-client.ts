/**
 * The lab as a raw-socket HTTP client, for server scenarios: it writes exactly the bytes a
 * scenario scripts (preconnects, pipelined requests, slow bytes, unread uploads) and reads
 * responses with holdfast's wire parser, noting how the connection ended (FIN or RST).
 */
import net from 'node:net';
import { ResponseParser } from '../wire/index.ts';
import { errorCode, within } from './util.ts';

/** One response as read off the wire. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  bodyLength: number;
  /** Declared Content-Length, if any. */
  declaredLength: number | null;
}

/** What `nextResponse` yields: a complete response, or why none came. */
export type RawResult =
  | { kind: 'response'; response: RawResponse }
  | { kind: 'closed'; how: string; partial: { status: number; bodyLength: number; declaredLength: number | null } | null }
  | { kind: 'hung'; afterMs: number };

export class RawConnection {
  readonly socket: net.Socket;
  private readonly parser: ResponseParser;
  private readonly done: RawResult[] = [];
  private waiter: (() => void) | null = null;
  private current: RawResponse | null = null;
  /** `fin`, or the error code (`ECONNRESET`) that ended the connection; null while open. */
  endedBy: string | null = null;
  /** Response bytes received in total. */
  received = 0;
  private readonly closedPromise: Promise<void>;
  /** The Host header of requests written with `request()`. */
  private readonly authority: string;

  private constructor(socket: net.Socket, authority: string) {
    this.socket = socket;
    this.authority = authority;
    this.parser = new ResponseParser({
      onHead: (head) => {
        const headers = new Map<string, string>();
        for (const [k, v] of head.headers) headers.set(k.toLowerCase(), v);
        const cl = headers.get('content-length');
        this.current = { status: head.status, headers, bodyLength: 0, declaredLength: cl === undefined ? null : Number(cl) };
      },
      onBody: (chunk) => { if (this.current !== null) this.current.bodyLength += chunk.length; },
      onComplete: () => {
        if (this.current !== null) this.push({ kind: 'response', response: this.current });
        this.current = null;
      },
    });
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      try {
        this.parser.execute(chunk);
      } catch (err) {
        this.endWith(errorCode(err));
        socket.destroy();
      }
    });
    this.closedPromise = new Promise((resolve) => {
      socket.on('end', () => {
        try {
          this.parser.finish();
        } catch { /* truncated: reported below as a partial */ }
        this.endWith('fin');
        socket.end();
      });
      socket.on('error', (err) => this.endWith(errorCode(err)));
      socket.on('close', () => {
        this.endWith('closed');
        resolve();
      });
    });
  }

  /** Connects to host:port (127.0.0.1 by default); `authority` is the Host header (default `host`). */
  static async open(port: number, host = '127.0.0.1', authority = host): Promise<RawConnection> {
    const socket = net.connect({ host, port, noDelay: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.removeAllListeners('error');
    return new RawConnection(socket, authority);
  }

  /** Announces the responses to expect (one per request written, in order). */
  expect(method: string, count = 1): void {
    for (let i = 0; i < count; i++) this.parser.expect(method);
  }

  /** Writes a request head (plus optional body), announcing its response. */
  request(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): void {
    let head = `${method} ${path} HTTP/1.1\r\nHost: ${this.authority}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    this.parser.expect(method);
    this.socket.write(body === undefined ? `${head}\r\n` : Buffer.concat([Buffer.from(`${head}\r\n`), body]));
  }

  /** The next complete response, or how the connection ended, or `hung` after `guardMs`. */
  async nextResponse(guardMs: number): Promise<RawResult> {
    const started = performance.now();
    const take = (): RawResult | undefined => this.done.shift();
    const ready = take();
    if (ready !== undefined) return ready;
    if (this.endedBy !== null) return this.closedResult();
    const arrived = new Promise<RawResult>((resolve) => {
      this.waiter = () => {
        this.waiter = null;
        resolve(take() ?? this.closedResult());
      };
    });
    return within(arrived, guardMs, (): RawResult => {
      this.waiter = null;
      return { kind: 'hung', afterMs: Math.round(performance.now() - started) };
    });
  }

  /** Resolves when the socket is fully closed, or false after `guardMs`. */
  closed(guardMs: number): Promise<boolean> {
    return within(this.closedPromise.then(() => true), guardMs, () => false);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private closedResult(): RawResult {
    const c = this.current;
    return { kind: 'closed', how: this.endedBy ?? 'closed', partial: c === null ? null : { status: c.status, bodyLength: c.bodyLength, declaredLength: c.declaredLength } };
  }

  private push(r: RawResult): void {
    this.done.push(r);
    this.waiter?.();
  }

  private endWith(how: string): void {
    if (this.endedBy === null) this.endedBy = how;
    this.waiter?.();
  }
}

/** A one-word description of a raw result, for failure modes. */
export function rawLabel(r: RawResult): string {
  if (r.kind === 'response') return `got ${r.response.status}`;
  if (r.kind === 'hung') return `hung ${(r.afterMs / 1000).toFixed(1)} s`;
  if (r.partial !== null) {
    const of = r.partial.declaredLength === null ? '' : ` of ${r.partial.declaredLength}`;
    return `truncated at ${r.partial.bodyLength}${of} (${r.how})`;
  }
  return r.how === 'fin' ? 'closed without response' : `${r.how} before response`;
}
