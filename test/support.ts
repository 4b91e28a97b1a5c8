/**
 * The one helper module of the test suite: waiting (for an event, for a condition, or — where
 * the passing of time is itself what a test is about — for a while), and scripted loopback peers
 * whose every byte is chosen by the test, so that each race is reproduced exactly rather than
 * hoped for.
 */
import net from 'node:net';
import diagnostics from 'node:diagnostics_channel';
import { startNginx, type NginxInstance } from '../src/lab/child.ts';

/**
 * Waits `ms`. Only for tests whose subject is time itself (idling past a keep-alive timeout, a
 * request that must not be answered early); to order events, wait for the event.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of {@link until}. */
export interface UntilOptions {
  /** Safety net against a hang, never a timing assumption (default 10 s). */
  timeoutMs?: number;
  /** What is awaited, for the failure message (a function is called at the time of failure). */
  what?: string | (() => string);
}

/**
 * Polls `pred` (every 5 ms) until it holds; rejects naming `what` when `timeoutMs` passes first.
 */
export async function until(pred: () => boolean | Promise<boolean>, options: UntilOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() >= deadline) {
      const what = typeof options.what === 'function' ? options.what() : (options.what ?? 'a condition');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(5);
  }
}

/** A promise opened by hand: one side awaits `opened`, the other calls `open()`. */
export interface Gate {
  readonly opened: Promise<void>;
  open(): void;
}

/** A new, closed {@link Gate}. */
export function gate(): Gate {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Resolves when `socket` has closed (at once if it already has; `events.once` would wait forever). */
export function closed(socket: net.Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** One request as the peer read it. */
export interface PeerRequest {
  head: string;
  method: string;
  target: string;
  headers: Map<string, string>;
  body: Buffer;
}

/** Reads requests from a socket one at a time (Content-Length or chunked bodies). */
export class RequestReader {
  private buf = Buffer.alloc(0);
  private waiters: Array<(r: PeerRequest | null) => void> = [];
  private queue: PeerRequest[] = [];
  private ended = false;
  /** Bytes received in total. */
  received = 0;
  constructor(socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.received += c.length;
      this.buf = Buffer.concat([this.buf, c]);
      this.parse();
    });
    socket.on('end', () => { this.ended = true; this.flush(); });
    socket.on('close', () => { this.ended = true; this.flush(); });
    socket.on('error', () => {});
  }
  private parse(): void {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      const lines = head.split('\r\n');
      const [method = '', target = ''] = lines[0]!.split(' ');
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
      }
      let rest = this.buf.subarray(end + 4);
      let body: Buffer;
      if (headers.has('content-length')) {
        const n = Number(headers.get('content-length'));
        if (headers.get('expect') === '100-continue' && rest.length === 0 && n > 0) {
          // Head alone: deliver it with an empty body; the test decides about 100 Continue.
          this.buf = rest;
          this.deliver({ head, method, target, headers, body: Buffer.alloc(0) });
          continue;
        }
        if (rest.length < n) return;
        body = rest.subarray(0, n);
        rest = rest.subarray(n);
      } else if (headers.get('transfer-encoding') === 'chunked') {
        const term = rest.indexOf('0\r\n\r\n');
        if (term === -1) return;
        const parts: Buffer[] = [];
        let i = 0;
        for (;;) {
          const lf = rest.indexOf('\r\n', i);
          const size = parseInt(rest.subarray(i, lf).toString(), 16);
          if (size === 0) { i = lf + 4; break; }
          parts.push(rest.subarray(lf + 2, lf + 2 + size));
          i = lf + 2 + size + 2;
        }
        body = Buffer.concat(parts);
        rest = rest.subarray(i);
      } else {
        body = Buffer.alloc(0);
      }
      this.buf = rest;
      this.deliver({ head, method, target, headers, body });
    }
  }
  /** Bytes received after the last complete request. */
  get leftover(): Buffer {
    return this.buf;
  }
  private deliver(r: PeerRequest): void {
    const w = this.waiters.shift();
    if (w !== undefined) w(r);
    else this.queue.push(r);
  }
  private flush(): void {
    for (const w of this.waiters.splice(0)) w(null);
  }
  /** The next request, or `null` when the stream ended first. */
  next(): Promise<PeerRequest | null> {
    const r = this.queue.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** A raw server that runs `script` for each accepted connection (index from 0). */
export interface ScriptedPeer {
  port: number;
  url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  sockets: net.Socket[];
  close(): Promise<void>;
}

export async function scriptedPeer(script: (socket: net.Socket, reader: RequestReader, index: number) => void | Promise<void>): Promise<ScriptedPeer> {
  const sockets: net.Socket[] = [];
  let count = 0;
  const server = net.createServer((socket) => {
    const index = count++;
    sockets.push(socket);
    socket.on('error', () => {});
    const reader = new RequestReader(socket);
    void Promise.resolve(script(socket, reader, index)).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get connections() { return count; },
    sockets,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A complete small response. */
export function ok(body = 'ok', extra = ''): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/**
 * The first half of the keep-alive race on a pooled connection: answer one request with
 * `ok('first')`, then read the next one (the request that will cross the server's close).
 * Resolves null when the client went away instead.
 */
export async function serveFirstThenRead(socket: net.Socket, reader: RequestReader): Promise<PeerRequest | null> {
  if ((await reader.next()) === null) return null;
  socket.write(ok('first'));
  return reader.next();
}

/** Resolves with the next message published on a diagnostics channel that matches `pred`. */
export function nextEvent<T = Record<string, unknown>>(name: string, pred: (m: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const ch = diagnostics.channel(name);
    const onMessage = (m: unknown): void => {
      if (!pred(m as T)) return;
      ch.unsubscribe(onMessage);
      clearTimeout(timer);
      resolve(m as T);
    };
    const timer = setTimeout(() => {
      ch.unsubscribe(onMessage);
      reject(new Error(`no ${name} event within ${timeoutMs} ms`));
    }, timeoutMs);
    ch.subscribe(onMessage);
  });
}

/**
 * nginx with `keepalive_timeout 1s` (it sends no Keep-Alive hint) answering "ok": the server of
 * the keep-alive race sweeps.
 */
export function startKeepAliveNginx(): Promise<NginxInstance> {
  return startNginx((port) => `
  keepalive_timeout 1s;
  keepalive_requests 1000;
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "ok\\n"; }
  }`);
}
