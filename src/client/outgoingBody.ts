/**
 * Request bodies. Whatever the caller gives is normalised once into an `OutgoingBody` that knows
 * its length (if any) and whether it can be sent a second time — the retry policy depends on it:
 * a body that cannot be replayed can never be retried once a byte of it was written.
 */
import { Readable } from 'node:stream';

/** A stream-like body source. */
export type StreamBodySource = Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

/**
 * What `request()` accepts as a body. Strings, bytes and Blobs are replayable. Streams are sent
 * once; pass a function returning a fresh stream to make a streamed body replayable.
 */
export type RequestBodyInit =
  | string
  | Uint8Array
  | ArrayBuffer
  | Blob
  | StreamBodySource
  | (() => StreamBodySource)
  | OutgoingBody;

/** A request body on its way out: normalised once, so the retry policy knows its length and whether it can be sent again. */
export class OutgoingBody {
  /** Byte length, or `null` when unknown (sent with chunked coding). */
  readonly length: number | null;
  /** Whether the body can be sent again for a retry. */
  readonly replayable: boolean;
  /** The whole body, when it is held in memory. */
  readonly bytes: Buffer | null;
  private readonly blob: Blob | null;
  private readonly stream: StreamBodySource | null;
  private readonly factory: (() => StreamBodySource) | null;
  private consumed = false;

  private constructor(
    length: number | null,
    replayable: boolean,
    bytes: Buffer | null,
    blob: Blob | null,
    stream: StreamBodySource | null,
    factory: (() => StreamBodySource) | null,
  ) {
    this.length = length;
    this.replayable = replayable;
    this.bytes = bytes;
    this.blob = blob;
    this.stream = stream;
    this.factory = factory;
  }

  /** Normalises `init`; `null`/`undefined` mean no body. */
  static from(init: RequestBodyInit | null | undefined): OutgoingBody | null {
    if (init === null || init === undefined) return null;
    if (init instanceof OutgoingBody) return init;
    if (typeof init === 'string') {
      const bytes = Buffer.from(init, 'utf8');
      return new OutgoingBody(bytes.length, true, bytes, null, null, null);
    }
    if (init instanceof Uint8Array) {
      const bytes = Buffer.isBuffer(init) ? init : Buffer.from(init.buffer, init.byteOffset, init.byteLength);
      return new OutgoingBody(bytes.length, true, bytes, null, null, null);
    }
    if (init instanceof ArrayBuffer) {
      const bytes = Buffer.from(init);
      return new OutgoingBody(bytes.length, true, bytes, null, null, null);
    }
    if (typeof Blob !== 'undefined' && init instanceof Blob) {
      return new OutgoingBody(init.size, true, null, init, null, null);
    }
    if (typeof init === 'function') {
      return new OutgoingBody(null, true, null, null, null, init);
    }
    if (isStreamSource(init)) return new OutgoingBody(null, false, null, null, init, null);
    throw new TypeError('unsupported request body type');
  }

  /** A body of a stream with a known length (sent with Content-Length instead of chunked). */
  static withLength(source: StreamBodySource | (() => StreamBodySource), length: number): OutgoingBody {
    if (typeof source === 'function') return new OutgoingBody(length, true, null, null, null, source);
    return new OutgoingBody(length, false, null, null, source, null);
  }

  /**
   * The body's chunks for one attempt. A non-replayable body can be opened once; opening it a
   * second time throws, since a retry must never send a partial or empty body in its place.
   */
  open(): AsyncIterable<Uint8Array | string> {
    if (this.bytes !== null) return oneChunk(this.bytes);
    if (this.blob !== null) return this.blob.stream();
    if (this.factory !== null) return toAsyncIterable(this.factory());
    if (this.consumed) throw new Error('request body stream already consumed');
    this.consumed = true;
    return toAsyncIterable(this.stream!);
  }

  /** Whether `open()` can still be called. */
  get usable(): boolean {
    return this.replayable || !this.consumed;
  }

  /** Reads the whole body into memory (consumes a stream body). */
  async toBuffer(): Promise<Buffer> {
    if (this.bytes !== null) return this.bytes;
    const chunks: Buffer[] = [];
    for await (const c of this.open()) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    return Buffer.concat(chunks);
  }
}

function isStreamSource(x: unknown): x is StreamBodySource {
  if (x === null || typeof x !== 'object') return false;
  if (x instanceof Readable) return true;
  if (typeof ReadableStream !== 'undefined' && x instanceof ReadableStream) return true;
  return typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

function toAsyncIterable(s: StreamBodySource): AsyncIterable<Uint8Array | string> {
  return s as AsyncIterable<Uint8Array | string>;
}

async function* oneChunk(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}
