/**
 * Runs a web-standard fetch handler on the streaming API.
 *
 * Speed comes from not building what the handler never touches: the `Request` it receives is a
 * lazy stand-in (an `instanceof Request`) whose `method`, `url`, `headers` and body readers are
 * served straight from the parsed head and the body stream; a real `Request` is constructed only
 * if the handler reaches for something else (`cache`, `clone()`...). On the way out, a body that
 * is complete as soon as it is read (a string, bytes) is sent with a Content-Length in one write;
 * a body that is still streaming is sent chunked with backpressure.
 */
import { statusHasNoBody } from '../wire/framing.ts';
import { ServerError } from './errors.ts';
import { NativeResponse, lightParts } from './lightResponse.ts';
import type { ServerRequest } from './serverRequest.ts';
import type { ResponseWriter } from './responseWriter.ts';
import type { ReadableStreamReadResult } from 'node:stream/web';
import type { FetchHandler, FetchInfo, StreamingHandler } from './options.ts';

const SRC = Symbol('holdfast.request');
const REAL = Symbol('holdfast.realRequest');
const HEADERS = Symbol('holdfast.headers');

interface LazyFields {
  [SRC]: ServerRequest;
  [REAL]: Request | undefined;
  [HEADERS]: Headers | undefined;
}

function toHeaders(src: ServerRequest): Headers {
  const headers = new Headers();
  for (const [name, value] of src.headers) headers.append(name, value);
  return headers;
}

function realRequest(self: LazyFields): Request {
  let real = self[REAL];
  if (real === undefined) {
    const src = self[SRC];
    const hasBody = src.framing.kind !== 'none' && src.method !== 'GET' && src.method !== 'HEAD';
    const init: RequestInit & { duplex?: 'half' } = {
      method: src.method,
      headers: self[HEADERS] ?? toHeaders(src),
      signal: src.signal,
    };
    if (hasBody && !src.body.used) {
      init.body = src.body.stream();
      init.duplex = 'half';
    }
    real = new Request(src.url, init);
    self[REAL] = real;
  }
  return real;
}

/** The lazy request: constructed per request with one own property. */
function LazyRequest(this: LazyFields, src: ServerRequest): void {
  this[SRC] = src;
  this[REAL] = undefined;
  this[HEADERS] = undefined;
}

const proto = LazyRequest.prototype as object;
Object.setPrototypeOf(proto, Request.prototype);
{
  const own = new Set(['method', 'url', 'headers', 'signal', 'body', 'bodyUsed', 'text', 'json', 'arrayBuffer', 'bytes', 'blob']);
  const define = (name: string, descriptor: PropertyDescriptor): void => {
    Object.defineProperty(proto, name, { ...descriptor, configurable: true, enumerable: false });
  };
  define('method', { get(this: LazyFields) { return this[SRC].method; } });
  define('url', { get(this: LazyFields) { return this[SRC].url; } });
  define('headers', {
    get(this: LazyFields) {
      const real = this[REAL];
      if (real !== undefined) return real.headers;
      return (this[HEADERS] ??= toHeaders(this[SRC]));
    },
  });
  define('signal', { get(this: LazyFields) { return this[SRC].signal; } });
  define('body', {
    get(this: LazyFields) {
      const src = this[SRC];
      if (this[REAL] === undefined && (src.framing.kind === 'none' || src.method === 'GET' || src.method === 'HEAD')) return null;
      return realRequest(this).body;
    },
  });
  define('bodyUsed', {
    get(this: LazyFields) {
      const real = this[REAL];
      return real !== undefined ? real.bodyUsed : this[SRC].body.used;
    },
  });
  const bodyMethod = (name: 'text' | 'json' | 'arrayBuffer' | 'bytes' | 'blob', fast: (src: ServerRequest) => Promise<unknown>): void => {
    define(name, {
      value(this: LazyFields) {
        const real = this[REAL];
        if (real !== undefined) return (real[name]).call(real);
        const src = this[SRC];
        if (src.body.used) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
        return fast(src);
      },
    });
  };
  bodyMethod('text', (src) => src.body.text());
  bodyMethod('json', (src) => src.body.json());
  bodyMethod('bytes', async (src) => new Uint8Array(await src.body.bytes()));
  bodyMethod('arrayBuffer', async (src) => {
    const b = await src.body.bytes();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  });
  bodyMethod('blob', async (src) => new Blob([await src.body.bytes()], { type: src.headers.get('content-type') ?? '' }));
  // Everything else (cache, credentials, clone(), formData()...) goes to a real Request.
  for (const name of Object.getOwnPropertyNames(Request.prototype)) {
    if (name === 'constructor' || own.has(name)) continue;
    const d = Object.getOwnPropertyDescriptor(Request.prototype, name)!;
    if (d.get !== undefined) {
      define(name, { get(this: LazyFields) { return (realRequest(this) as unknown as Record<string, unknown>)[name]; } });
    } else if (typeof d.value === 'function') {
      define(name, {
        value(this: LazyFields, ...args: unknown[]) {
          const real = realRequest(this);
          return ((real as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!).apply(real, args);
        },
      });
    }
  }
}

/** A `Request` for `src` that builds its parts only when they are used. */
export function lazyRequest(src: ServerRequest): Request {
  return new (LazyRequest as unknown as new (src: ServerRequest) => Request)(src);
}

/**
 * Resolves `'pending'` after a few microtask turns. A body built from a string or bytes (undici's
 * `extractBody`) closes its stream one microtask after its only chunk, so by then the next read
 * has settled; a producer that is still working (SSE, a proxied upstream) has not. A body that
 * is complete but slower to say so only loses the Content-Length fast path (it goes chunked).
 */
async function microtaskTurns(): Promise<'pending'> {
  for (let i = 0; i < 8; i++) await Promise.resolve();
  return 'pending';
}

async function streamRest(res: ResponseWriter, reader: ReadableStreamDefaultReader<Uint8Array>, pending: Promise<ReadableStreamReadResult<Uint8Array>>): Promise<void> {
  try {
    let next = pending;
    for (;;) {
      const { done, value } = await next;
      if (done) break;
      // `await` here is the backpressure: we read the next chunk only once the socket drained.
      if (value.byteLength > 0) await res.write(value);
      next = reader.read();
    }
    await res.end();
  } catch (err) {
    reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
}

/** Writes a `Response` through `res`. */
export function writeResponse(req: ServerRequest, res: ResponseWriter, response: Response): Promise<void> | undefined {
  if (!(response instanceof NativeResponse)) {
    throw new ServerError('HF_SERVER_INVALID_RESPONSE', `the fetch handler returned ${Object.prototype.toString.call(response)}, not a Response`);
  }
  const light = lightParts(response);
  if (light !== undefined) {
    // Fast path: the body is already a value and the headers a validated snapshot (the default
    // Content-Type of a string body included); no Headers, no stream, one write.
    res.writeCheckedHead(light.status, light.headers, light.statusText === '' ? undefined : light.statusText);
    void res.end(light.body);
    return undefined;
  }
  const status = response.status;
  res.writeHead(status, response.headers, response.statusText === '' ? undefined : response.statusText);
  const body = response.body;
  if (body === null) {
    void res.end();
    return undefined;
  }
  if (statusHasNoBody(status)) {
    body.cancel().catch(() => {});
    void res.end();
    return undefined;
  }
  return req.method === 'HEAD' ? sendHeadLength(res, body) : sendBody(res, body);
}

/**
 * HEAD: announce the Content-Length a GET would get when the body is a complete value (the same
 * look-ahead as `sendBody`); a streaming body is cancelled unread.
 */
async function sendHeadLength(res: ResponseWriter, body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const next = await Promise.race([reader.read(), microtaskTurns()]);
      if (next === 'pending') break;
      if (next.done) {
        await res.end(parts.length === 1 ? parts[0] : Buffer.concat(parts));
        return;
      }
      parts.push(next.value);
    }
  } catch {
    // fall through: length unknown
  }
  reader.cancel().catch(() => {});
  await res.end();
}

async function sendBody(res: ResponseWriter, body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch (err) {
    reader.releaseLock();
    throw err;
  }
  if (first.done) {
    reader.releaseLock();
    await res.end();
    return;
  }
  // A string or byte body ends right after its one chunk; a streaming body (SSE, a proxied
  // upstream) usually does not. Looking a few microtasks ahead tells them apart without
  // holding a streaming body's first chunk back.
  const second = reader.read();
  const peek = await Promise.race([second, microtaskTurns()]);
  if (peek !== 'pending' && peek.done) {
    reader.releaseLock();
    await res.end(first.value);
    return;
  }
  await res.write(first.value);
  await streamRest(res, reader, second);
}

/** Adapts a fetch handler to the streaming API. */
export function fetchToStreaming(fetch: FetchHandler): StreamingHandler {
  return (req: ServerRequest, res: ResponseWriter) => {
    const info: FetchInfo = { remoteAddress: req.remoteAddress, remotePort: req.remotePort, request: req };
    const result = fetch(lazyRequest(req), info);
    if (result instanceof NativeResponse) return writeResponse(req, res, result);
    return Promise.resolve(result).then((response) => writeResponse(req, res, response));
  };
}
