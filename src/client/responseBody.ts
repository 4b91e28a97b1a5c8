/**
 * The streaming body of a response. The connection pushes slices as they are parsed; the caller
 * consumes them as an async iterable or all at once (`text()`, `json()`, `bytes()`...). A body
 * that does not end exactly where its framing says ends with an error, never a normal end.
 */

/** Flow control of whatever produces the body (a connection's socket). */
export interface BodySource {
  /** Stop reading: the consumer is behind. */
  pause(): void;
  /** Read again. */
  resume(): void;
  /** The consumer gave up on the body: drop the connection unless the body already ended. */
  cancel(reason: Error): void;
}

/**
 * A consumer that takes chunks as they arrive (`ResponseBody.deliver`): no iterator, no promise
 * per chunk. It must not throw: it is called from inside the connection's read.
 * @internal
 */
export interface BodySink {
  /** A chunk of body. Returning false stops delivery until `setDeliveryPaused(false)`. */
  data(chunk: Buffer): boolean;
  /** The body ended normally after the last chunk was delivered (never while paused). */
  end(): void;
  /** The body failed; nothing follows. */
  error(err: Error): void;
}

/** Bytes buffered before the socket is paused, unless the body is being collected whole. */
const HIGH_WATER_MARK = 256 * 1024;
/** `dump()` reads at most this much of a body before giving up the connection instead. */
const DUMP_LIMIT = 1024 * 1024;

const MODE_NONE = 0;
const MODE_STREAM = 1;
const MODE_COLLECT = 2;
const MODE_DUMP = 3;
const MODE_SINK = 4;

interface Waiter {
  resolve(v: IteratorResult<Uint8Array>): void;
  reject(err: unknown): void;
}

const EMPTY = Buffer.alloc(0);
/** Collected bodies at least this large are joined into an unpooled ArrayBuffer. */
const OWN_THRESHOLD = 4096;

/** A response body: an async iterable of byte chunks with whole-body helpers. */
export class ResponseBody implements AsyncIterable<Uint8Array> {
  private chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private received = 0;
  private ended = false;
  private error: Error | null = null;
  private mode = MODE_NONE;
  private paused = false;
  private waiter: Waiter | null = null;
  private finished: { resolve(): void; reject(err: unknown): void } | null = null;
  private source: BodySource | null;
  private dumpLimit = DUMP_LIMIT;
  private settled: (() => void) | null = null;
  /** The collected body when it was copied into an ArrayBuffer of its own (see `collect`). */
  private owned: Buffer | null = null;
  /** The consumer of `deliver`, until the body has ended or failed. */
  private sink: BodySink | null = null;
  private sinkPaused = false;
  /** A sink call is on the stack: a chunk pushed or a resume meanwhile is left to its loop. */
  private delivering = false;

  /** @internal Created by the connection (or by `ResponseBody.from`). */
  constructor(source: BodySource | null) {
    this.source = source;
  }

  /**
   * A body holding `data` (for interceptors such as a cache that answer without the network).
   * An async iterable is consumed lazily.
   */
  static from(data: Uint8Array | string | AsyncIterable<Uint8Array> | null): ResponseBody {
    const body = new ResponseBody(null);
    if (data === null) {
      body.end();
    } else if (typeof data === 'string' || data instanceof Uint8Array) {
      const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (buf.length > 0) body.push(buf);
      body.end();
    } else {
      const it = data[Symbol.asyncIterator]();
      let paused = false;
      let pumping = false;
      const pump = async (): Promise<void> => {
        if (pumping) return;
        pumping = true;
        try {
          while (!paused && !body.ended && body.error === null) {
            const r = await it.next();
            if (r.done === true) {
              body.end();
              break;
            }
            const c = r.value;
            body.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
          }
        } catch (err) {
          body.fail(err instanceof Error ? err : new Error(String(err)));
        } finally {
          pumping = false;
        }
      };
      body.source = {
        pause() { paused = true; },
        resume() { paused = false; void pump(); },
        cancel() { paused = true; void it.return?.(); },
      };
      void pump();
    }
    return body;
  }

  /** @internal Calls `fn` once when the body ends or fails. */
  onSettled(fn: () => void): void {
    if (this.ended || this.error !== null) fn();
    else this.settled = fn;
  }

  private notifySettled(): void {
    const s = this.settled;
    if (s !== null) {
      this.settled = null;
      s();
    }
  }

  /** Body bytes received so far. */
  get bytesReceived(): number {
    return this.received;
  }

  /** True once the body has been or is being consumed. */
  get bodyUsed(): boolean {
    return this.mode !== MODE_NONE;
  }

  /** True when the body ended normally (all bytes received). */
  get complete(): boolean {
    return this.ended;
  }

  /** @internal A slice of body from the wire. */
  push(chunk: Buffer): void {
    if (this.ended || this.error !== null) return;
    this.received += chunk.length;
    if (this.mode === MODE_DUMP) {
      if (this.received > this.dumpLimit) this.cancel();
      return;
    }
    const w = this.waiter;
    if (w !== null && this.head === this.chunks.length) {
      this.waiter = null;
      w.resolve({ value: chunk, done: false });
      return;
    }
    if (this.mode === MODE_SINK && !this.sinkPaused && !this.delivering && this.head === this.chunks.length) {
      this.delivering = true;
      let more: boolean;
      try {
        more = this.sink!.data(chunk);
      } finally {
        this.delivering = false;
      }
      if (!more) this.sinkPaused = true;
      return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.mode !== MODE_COLLECT && this.buffered >= HIGH_WATER_MARK && !this.paused && this.source !== null) {
      this.paused = true;
      this.source.pause();
    }
  }

  /** @internal The body ended exactly where its framing said. */
  end(): void {
    if (this.ended || this.error !== null) return;
    this.ended = true;
    this.source = null;
    this.notifySettled();
    const w = this.waiter;
    if (w !== null && this.head === this.chunks.length) {
      this.waiter = null;
      w.resolve({ value: undefined, done: true });
    }
    const f = this.finished;
    if (f !== null) {
      this.finished = null;
      f.resolve();
    }
    if (this.mode === MODE_SINK) this.flushSink();
  }

  /**
   * @internal The body failed (truncation, reset, timeout, abort). Returns false when it had
   * already ended or failed (the consumer cancelled it, say), so the error changes nothing.
   */
  fail(err: Error): boolean {
    if (this.ended || this.error !== null) return false;
    this.error = err;
    this.source = null;
    this.notifySettled();
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w.reject(err);
    }
    const f = this.finished;
    if (f !== null) {
      this.finished = null;
      f.reject(err);
    }
    const sink = this.sink;
    if (sink !== null) {
      // An error is told at once, ahead of any chunk still held for a paused sink.
      this.sink = null;
      this.chunks = [];
      this.head = 0;
      this.buffered = 0;
      sink.error(err);
    }
    return true;
  }

  private claim(mode: number): void {
    if (this.mode !== MODE_NONE) throw new TypeError('response body already used');
    this.mode = mode;
  }

  /**
   * Takes the oldest buffered chunk (there is one); resumes the socket once the buffer has
   * drained below half the high-water mark, so a paused connection reads again before it is empty.
   */
  private takeBuffered(): Buffer {
    const chunk = this.chunks[this.head]!;
    this.chunks[this.head++] = EMPTY;
    this.buffered -= chunk.length;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    }
    if (this.paused && this.buffered < HIGH_WATER_MARK / 2 && this.source !== null) {
      this.paused = false;
      this.source.resume();
    }
    return chunk;
  }

  private next(): Promise<IteratorResult<Uint8Array>> {
    if (this.head < this.chunks.length) return Promise.resolve({ value: this.takeBuffered(), done: false });
    if (this.error !== null) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.paused && this.source !== null) {
      this.paused = false;
      this.source.resume();
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * @internal Hands the body to `sink` chunk by chunk as it arrives: what is buffered now, then
   * each chunk straight from the connection's read, then the end or the error. For a consumer
   * that is itself callback-driven (the undici dispatcher adapter), where an iterator would cost
   * a promise and a turn per chunk. `paused` starts it paused.
   */
  deliver(sink: BodySink, paused: boolean): void {
    this.claim(MODE_SINK);
    if (this.error !== null) {
      sink.error(this.error);
      return;
    }
    this.sink = sink;
    this.sinkPaused = paused;
    this.flushSink();
  }

  /** @internal Pauses or resumes a `deliver` sink; a resume delivers what was held. */
  setDeliveryPaused(paused: boolean): void {
    if (this.mode !== MODE_SINK) return;
    this.sinkPaused = paused;
    if (!paused) this.flushSink();
  }

  /** Delivers held chunks (and then the end) to the sink until it pauses. */
  private flushSink(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (!this.sinkPaused && this.head < this.chunks.length) {
        const sink = this.sink;
        if (sink === null) return;
        if (!sink.data(this.takeBuffered())) this.sinkPaused = true;
      }
    } finally {
      this.delivering = false;
    }
    if (this.sinkPaused || this.head < this.chunks.length) return;
    const sink = this.sink;
    if (sink !== null && this.ended) {
      this.sink = null;
      sink.end();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    this.claim(MODE_STREAM);
    return {
      next: () => this.next(),
      return: (): Promise<IteratorResult<Uint8Array>> => {
        if (!this.ended && this.error === null) this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Waits for the whole body. */
  private collect(): Promise<Buffer> {
    this.claim(MODE_COLLECT);
    if (this.paused && this.source !== null) {
      this.paused = false;
      this.source.resume();
    }
    if (this.error !== null) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve(this.joined());
    return new Promise<void>((resolve, reject) => {
      this.finished = { resolve, reject };
    }).then(() => this.joined());
  }

  /** The buffered chunks as one Buffer, taken out of the body. */
  private joined(): Buffer {
    const list = this.head === 0 ? this.chunks : this.chunks.slice(this.head);
    const total = this.buffered;
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
    if (list.length === 1) return list[0]!;
    if (total < OWN_THRESHOLD) return Buffer.concat(list, total);
    // A large body gets an ArrayBuffer of its own, so that `arrayBuffer()` can hand it over
    // without a second copy (a pooled or socket-owned one would have to be sliced).
    const out = Buffer.allocUnsafeSlow(total);
    let off = 0;
    for (const c of list) {
      out.set(c, off);
      off += c.length;
    }
    this.owned = out;
    return out;
  }

  /**
   * @internal The whole body, now, when it has already ended and nobody has read it (else
   * null, and nothing changes): what `bytes()` would resolve with, without the promise and its
   * turn through the microtask queue. For a proxy handing a small response on in the same tick.
   */
  takeWhole(): Buffer | null {
    if (!this.ended || this.error !== null || this.mode !== MODE_NONE) return null;
    this.mode = MODE_COLLECT;
    return this.joined();
  }

  /** The whole body as bytes. */
  bytes(): Promise<Uint8Array> {
    return this.collect();
  }

  /** The whole body as an ArrayBuffer. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.collect();
    if (b === this.owned && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) {
      this.owned = null;
      return b.buffer as ArrayBuffer;
    }
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  /** The whole body decoded as UTF-8. */
  async text(): Promise<string> {
    const b = await this.collect();
    return b.toString('utf8');
  }

  /** The whole body parsed as JSON. */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  /**
   * Reads and discards the body so that the connection can be reused. A body larger than
   * `limit` bytes is not worth reading: the connection is closed instead.
   */
  dump(limit = DUMP_LIMIT): Promise<void> {
    if (this.mode === MODE_NONE) this.mode = MODE_DUMP;
    else if (this.mode !== MODE_DUMP) return Promise.resolve();
    this.dumpLimit = limit;
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
    if (this.ended || this.error !== null) return Promise.resolve();
    if (this.received > limit) {
      this.cancel();
      return Promise.resolve();
    }
    if (this.paused && this.source !== null) {
      this.paused = false;
      this.source.resume();
    }
    return new Promise<void>((resolve) => {
      // An error while dumping is of no interest to the caller: the body was unwanted.
      this.finished = { resolve, reject: () => resolve() };
    });
  }

  /** Gives up on the body; the connection is closed if the body has not ended. */
  cancel(reason?: Error): void {
    if (this.mode === MODE_NONE) this.mode = MODE_DUMP;
    if (this.ended || this.error !== null) return;
    const err = reason ?? new Error('response body cancelled');
    const src = this.source;
    this.fail(err);
    src?.cancel(err);
  }
}
