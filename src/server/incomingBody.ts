/**
 * The body of one request as the handler sees it: a single-consumer byte stream with
 * backpressure. The connection pushes slices as the parser produces them; when more than a
 * high-water mark is buffered the connection stops reading the socket, and resumes once the
 * handler has taken bytes out. So a handler that reads slowly is never flooded, and one that never
 * reads costs at most one high-water mark of memory.
 */
import { ServerError } from './errors.ts';

/** Connection hooks a body calls back into. */
export interface BodySource {
  /** The handler asked for the first byte (time to send `100 Continue`, if expected). */
  bodyRequested(body: IncomingBody): void;
  /** The handler took bytes out; the connection may resume reading. */
  bodyConsumed(body: IncomingBody): void;
}

type Waiter = { resolve: (chunk: Buffer | null) => void; reject: (err: Error) => void };

const EMPTY = Buffer.alloc(0);

/** A received request body: `for await (const chunk of req.body)`, or `bytes()` / `text()` / `json()` / `stream()`. */
export class IncomingBody implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private head = 0;
  private waiter: Waiter | null = null;
  private source: BodySource | null;
  private error: Error | null = null;
  private done: boolean;
  private requested = false;
  private taken = false;
  /** @internal Bytes pushed but not yet read by the handler. */
  buffered = 0;
  /** Body bytes received from the client so far. */
  received = 0;
  /** @internal Set once the handler's response is complete: bytes arriving now are discarded, not buffered. */
  abandoned = false;

  constructor(source: BodySource | null, empty: boolean) {
    this.source = source;
    this.done = empty;
  }

  /** All bytes of the body have been received. */
  get complete(): boolean {
    return this.done && this.error === null;
  }

  /** The body failed (truncated, malformed, too large, connection lost). */
  get failed(): Error | null {
    return this.error;
  }

  /** Whether the handler has started reading. */
  get started(): boolean {
    return this.requested;
  }

  /** Whether a consumer took this body (iterating or a whole-body method). */
  get used(): boolean {
    return this.taken;
  }

  /** @internal Called by the connection with each slice the parser produced. */
  push(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.abandoned || this.error !== null) return;
    const w = this.waiter;
    if (w !== null && this.head === this.chunks.length) {
      this.waiter = null;
      w.resolve(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** @internal The body ended where its framing said. */
  end(): void {
    this.done = true;
    const w = this.waiter;
    if (w !== null && this.head === this.chunks.length) {
      this.waiter = null;
      w.resolve(null);
    }
  }

  /** @internal The body cannot complete. */
  fail(err: Error): void {
    if (this.done && this.error === null && this.head === this.chunks.length) return;
    this.error = err;
    this.done = true;
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w.reject(err);
    }
  }

  /** @internal The response is complete: drop what is buffered; later bytes are discarded. */
  abandon(): void {
    this.abandoned = true;
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
  }

  /** The next slice of the body, or `null` at its end. Rejects if the body fails. */
  read(): Promise<Buffer | null> {
    if (!this.requested) {
      this.requested = true;
      this.source?.bodyRequested(this);
    }
    if (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head]!;
      this.chunks[this.head++] = EMPTY;
      if (this.head === this.chunks.length) {
        this.chunks = [];
        this.head = 0;
      }
      this.buffered -= chunk.length;
      this.source?.bodyConsumed(this);
      return Promise.resolve(chunk);
    }
    if (this.error !== null) return Promise.reject(this.error);
    if (this.done) return Promise.resolve(null);
    if (this.waiter !== null) return Promise.reject(new ServerError('HF_SERVER_BODY_CONSUMED', 'concurrent reads of one request body'));
    this.source?.bodyConsumed(this);
    return new Promise<Buffer | null>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private take(): void {
    if (this.taken) throw new ServerError('HF_SERVER_BODY_CONSUMED', 'the request body was already consumed');
    this.taken = true;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    this.take();
    for (;;) {
      const chunk = await this.read();
      if (chunk === null) return;
      yield chunk;
    }
  }

  /** The whole body. Rejects with `HF_SERVER_BODY_TOO_LARGE` (413) past `limit` bytes. */
  async bytes(limit = Infinity): Promise<Buffer> {
    this.take();
    const parts: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = await this.read();
      if (chunk === null) break;
      size += chunk.length;
      if (size > limit) throw new ServerError('HF_SERVER_BODY_TOO_LARGE', `request body larger than ${limit} bytes`, 413);
      parts.push(chunk);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  }

  /** The whole body decoded as UTF-8. */
  async text(limit?: number): Promise<string> {
    return (await this.bytes(limit)).toString('utf8');
  }

  /** The whole body parsed as JSON. */
  async json(limit?: number): Promise<unknown> {
    return JSON.parse(await this.text(limit)) as unknown;
  }

  /** The body as a web `ReadableStream` (pull-based: backpressure reaches the socket). */
  stream(): ReadableStream<Uint8Array> {
    this.take();
    // Not a 'bytes' stream: enqueueing there transfers (detaches) the ArrayBuffer, and socket
    // slices may share theirs with other slices.
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
  }
}
