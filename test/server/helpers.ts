/**
 * Raw-socket helpers for server tests: a client that sees exactly the bytes on the wire and how
 * the connection ended (FIN or RST).
 */
import net from 'node:net';
import type { TestContext } from 'node:test';
import { ResponseParser, type ResponseHead, type HeaderList } from '../../src/wire/index.ts';
import { createServer, type Server, type ServerOptions } from '../../src/server/index.ts';

/** Starts a server on 127.0.0.1:0 and closes it after the test. */
export async function startServer(t: TestContext, options: ServerOptions): Promise<Server> {
  const server = createServer({ onError: () => {}, ...options });
  await server.listen(0, '127.0.0.1');
  t.after(() => server.close({ timeout: 500 }));
  return server;
}

/** How a raw connection ended. */
export interface Ending {
  /** All bytes received. */
  data: Buffer;
  /** The server sent FIN (a clean end of stream). */
  fin: boolean;
  /** A socket error (ECONNRESET: the server sent RST). */
  error: string | null;
}

/** A raw client connection that records everything it receives. */
export class RawClient {
  readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  private size = 0;
  private waiters: (() => void)[] = [];
  fin = false;
  error: string | null = null;
  readonly ended: Promise<Ending>;
  readonly connected: Promise<void>;

  constructor(port: number, options: { paused?: boolean } = {}) {
    this.socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.connected.catch(() => {});
    this.socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.size += chunk.length;
      this.wake();
    });
    if (options.paused === true) this.socket.pause();
    this.ended = new Promise((resolve) => {
      this.socket.on('end', () => {
        this.fin = true;
        this.wake();
        // Our side closes too once the server has finished (as a browser would).
        this.socket.end();
      });
      this.socket.on('error', (err: NodeJS.ErrnoException) => {
        this.error = err.code ?? err.message;
        this.wake();
      });
      this.socket.on('close', () => {
        this.wake();
        resolve({ data: this.data, fin: this.fin, error: this.error });
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get data(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get received(): number {
    return this.size;
  }

  write(data: string | Buffer): boolean {
    return this.socket.write(data);
  }

  /** Waits until `pred(data)` holds, the connection ends, or `ms` passes. Returns whether it held. */
  async waitFor(pred: (data: Buffer) => boolean, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (pred(this.data)) return true;
      if (this.socket.destroyed || this.fin || Date.now() >= deadline) return pred(this.data);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for `n` complete responses (parsed with the wire codec) to requests with `methods`. */
  async responses(methods: string[], ms = 5000): Promise<ParsedResponse[]> {
    let parsed: ParsedResponse[] = [];
    await this.waitFor((data) => {
      parsed = parseResponses(data, methods).responses;
      return parsed.length >= methods.length;
    }, ms);
    return parsed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface ParsedResponse {
  status: number;
  headers: HeaderList;
  body: Buffer;
  head: ResponseHead;
}

/** Parses complete responses from `data`; `rest` says whether bytes were left unparsed. */
export function parseResponses(data: Buffer, methods: string[]): { responses: ParsedResponse[]; error: Error | null } {
  const responses: ParsedResponse[] = [];
  let current: { head: ResponseHead; body: Buffer[] } | null = null;
  const parser = new ResponseParser({
    onHead: (head) => {
      current = { head, body: [] };
    },
    onBody: (chunk) => {
      current!.body.push(Buffer.from(chunk));
    },
    onComplete: () => {
      const c = current!;
      responses.push({ status: c.head.status, headers: c.head.headers, body: Buffer.concat(c.body), head: c.head });
      current = null;
    },
  });
  for (const m of methods) parser.expect(m);
  let error: Error | null = null;
  try {
    parser.execute(data);
  } catch (err) {
    error = err as Error;
  }
  return { responses, error };
}

/** Writes `size` bytes of body in 64 KiB slices, respecting backpressure; stops on error. */
export async function writeBody(socket: net.Socket, size: number): Promise<number> {
  const slice = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  while (written < size && !socket.destroyed && socket.writable) {
    const n = Math.min(slice.length, size - written);
    const ok = socket.write(n === slice.length ? slice : slice.subarray(0, n));
    written += n;
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          socket.off('error', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
        socket.on('error', done);
      });
    }
  }
  return written;
}

/** `GET path HTTP/1.1` with Host and extra header lines. */
export function get(path = '/', extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
}
