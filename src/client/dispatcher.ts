/**
 * holdfast behind the undici dispatcher contract, the interface Node's built-in `fetch` (and the
 * `undici` package's `fetch`, `request`, `stream`) sends every request through. Code written
 * against `fetch` loses the keep-alive race inside undici's pool (`TypeError: fetch failed`,
 * cause `UND_ERR_SOCKET: other side closed`); behind this adapter the same call runs on holdfast
 * pools: the Keep-Alive hint, the liveness turn before reuse, FIN/408 eviction and the safe
 * retry, with no change to the calling code.
 *
 * ```ts
 * import { Agent, HoldfastDispatcher } from 'holdfast';
 * const dispatcher = new HoldfastDispatcher(new Agent());
 * await fetch('http://127.0.0.1:8080/', { dispatcher } as RequestInit);
 * ```
 *
 * Both handler shapes in use are served: the one Node's bundled `fetch` passes (`onConnect`,
 * `onHeaders`, `onData`, `onComplete`, `onError`) and the one undici ≥ 7 passes (`onRequestStart`,
 * `onResponseStart`, `onResponseData`, `onResponseEnd`, `onResponseError`, with a controller for
 * pause, resume and abort). Interim (1xx) responses are consumed by the connection (`100
 * Continue` releases an `expectContinue` body); handlers see the final response only, which is
 * all `fetch` uses. The contract is restated here structurally: undici is not a dependency.
 */
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { Agent, type RequestOptions } from './agent.ts';
import { InvalidRequestError, RequestBodyError } from './errors.ts';
import type { ClientResponse } from './response.ts';
import type { BodySink } from './responseBody.ts';
import { HeaderList } from '../wire/index.ts';
import type { Timeouts } from './dispatch.ts';

/** The request a dispatcher is asked to send (undici's `Dispatcher.DispatchOptions`, the fields read here). */
export interface DispatchOptions {
  /** `http://host:port` of the server. */
  origin?: string | URL | null;
  /** Origin-form request-target: path and query. */
  path: string;
  method: string;
  /** Plain object, flat `[name, value, ...]` array, or iterable of pairs. */
  headers?: Record<string, string | string[] | number | undefined> | Array<string | Buffer> | Iterable<[string, string | string[] | undefined]> | null;
  body?: string | Uint8Array | ArrayBuffer | ArrayBufferView | Blob | FormData | Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string> | null;
  /** Query parameters appended to `path`. */
  query?: Record<string, unknown> | null;
  /** A protocol to upgrade to (WebSocket): not supported. */
  upgrade?: string | boolean | null;
  expectContinue?: boolean | null;
  /** The caller declares the request safe to repeat. */
  idempotent?: boolean | null;
  /** Close the connection after this request. */
  reset?: boolean | null;
  headersTimeout?: number | null;
  bodyTimeout?: number | null;
  /** Redirects inside the dispatcher: not supported (`fetch` follows redirects itself). */
  maxRedirections?: number | null;
  /** HTTP/2: not supported. */
  allowH2?: boolean | null;
  [option: string]: unknown;
}

/** The handler shape of Node's bundled `fetch` and undici ≤ 6 (`Dispatcher.DispatchHandlers`). */
export interface LegacyDispatchHandler {
  onConnect?(abort: (reason?: unknown) => void, context?: object): void;
  onResponseStarted?(): void;
  onHeaders?(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean | void;
  onData?(chunk: Buffer): boolean | void;
  onComplete?(rawTrailers: Buffer[] | null): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, rawHeaders: Buffer[], socket: unknown): void;
}

/** What undici ≥ 7 hands each callback of a `DispatchHandler`: flow control of one request. */
export interface DispatchController {
  readonly aborted: boolean;
  readonly paused: boolean;
  readonly reason: Error | null;
  /** The response head's fields as `[name, value, ...]` (set before `onResponseStart`). */
  readonly rawHeaders: Buffer[] | undefined;
  /** The trailer fields as `[name, value, ...]` (set before `onResponseEnd`). */
  readonly rawTrailers: Buffer[] | undefined;
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** The handler shape of undici ≥ 7's own API and interceptors. */
export interface DispatchHandler {
  onRequestStart?(controller: DispatchController, context: object): void;
  onRequestUpgrade?(controller: DispatchController, statusCode: number, headers: Record<string, string | string[]>, socket: unknown): void;
  onResponseStart?(controller: DispatchController, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string): void;
  onResponseData?(controller: DispatchController, chunk: Buffer): void;
  onResponseEnd?(controller: DispatchController, trailers: Record<string, string | string[]>): void;
  onResponseError?(controller: DispatchController, err: Error): void;
}

/** Either handler shape; a handler with any `onRequest*`/`onResponse*` method is taken as the new one. */
export type AnyDispatchHandler = LegacyDispatchHandler | DispatchHandler;

/** A dispatch function, as undici's interceptors receive and return it. */
export type DispatchFn = (opts: DispatchOptions, handler: AnyDispatchHandler) => boolean;

/** An undici-style interceptor: wraps a dispatch function. */
export type DispatchInterceptor = (dispatch: DispatchFn) => DispatchFn;

/** Names an option the adapter does not implement: failing loudly beats ignoring it. */
function unsupported(what: string): InvalidRequestError {
  return new InvalidRequestError(`holdfast's dispatcher does not support ${what}`);
}

function isNewShape(h: AnyDispatchHandler): h is DispatchHandler {
  const n = h as DispatchHandler;
  return typeof n.onResponseStart === 'function' || typeof n.onResponseData === 'function' || typeof n.onRequestStart === 'function' ||
    typeof n.onResponseEnd === 'function' || typeof n.onResponseError === 'function';
}

/**
 * One header or query value as undici accepts it (strings, numbers, booleans, bytes); anything
 * else is refused rather than sent as `[object Object]`.
 */
function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  throw new InvalidRequestError(`unsupported header or query value ${Object.prototype.toString.call(value)}`);
}

/** Appends one undici header input line; a value that is an array becomes several lines. */
function addHeader(out: HeaderList, name: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) for (const v of value) out.append(name, scalarText(v));
  else out.append(name, scalarText(value));
}

/**
 * undici's header inputs as the agent's `HeaderList`, built in one pass: the agent sends a
 * `HeaderList` as it is, so no pairs array or second copy is made per request. Node's `fetch`
 * passes a plain object.
 */
function headerList(h: DispatchOptions['headers']): HeaderList {
  const out = new HeaderList();
  if (h === null || h === undefined) return out;
  if (Array.isArray(h)) {
    if (h.length > 0 && Array.isArray(h[0])) {
      for (const pair of h as unknown as Array<[string, unknown]>) addHeader(out, String(pair[0]), pair[1]);
      return out;
    }
    if (h.length % 2 !== 0) throw new InvalidRequestError('headers array must have an even number of items');
    for (let i = 0; i < h.length; i += 2) addHeader(out, String(h[i]), String(h[i + 1]));
    return out;
  }
  if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of h as Iterable<[string, unknown]>) addHeader(out, name, value);
    return out;
  }
  const record = h as Record<string, unknown>;
  for (const name of Object.keys(record)) addHeader(out, name, record[name]);
  return out;
}

type AgentBody = NonNullable<RequestOptions['body']>;

/** Bodies of every kind undici accepts, as the agent's request body; adds the Content-Type a Blob or FormData implies. */
function requestBody(body: DispatchOptions['body'], headers: HeaderList): AgentBody | null {
  if (body === null || body === undefined) return null;
  if (typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer) return body;
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Blob) {
    if (body.type !== '' && !headers.has('content-type')) headers.append('content-type', body.type);
    return body;
  }
  if (body instanceof FormData) {
    // Encoded the way fetch encodes it (multipart with a fresh boundary), streamed.
    const encoded = new Response(body);
    const type = encoded.headers.get('content-type');
    if (type !== null && !headers.has('content-type')) headers.append('content-type', type);
    return encoded.body as ReadableStream<Uint8Array>;
  }
  if (body instanceof Readable || body instanceof ReadableStream || typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    return body as AgentBody;
  }
  throw new InvalidRequestError(`unsupported request body type ${Object.prototype.toString.call(body)}`);
}

function appendQuery(path: string, query: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const x of v) params.append(k, scalarText(x));
    else params.append(k, scalarText(v));
  }
  const qs = params.toString();
  if (qs === '') return path;
  return `${path}${path.includes('?') ? '&' : '?'}${qs}`;
}

function originOf(o: DispatchOptions['origin']): string {
  if (o === null || o === undefined) throw new InvalidRequestError('dispatch options need an origin');
  if (o instanceof URL) return o.origin;
  const s = String(o);
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

/** The agent's request for undici's dispatch options. */
interface AgentRequest {
  url: string;
  options: RequestOptions;
  headers: HeaderList;
}

/** Translates undici's dispatch options into the agent's; throws for what cannot be honoured. */
function toRequest(opts: DispatchOptions, signal: AbortSignal): AgentRequest {
  const method = String(opts.method);
  if (opts.upgrade !== undefined && opts.upgrade !== null && opts.upgrade !== false) {
    throw unsupported(`protocol upgrades (upgrade: ${JSON.stringify(opts.upgrade)}; WebSocket needs undici's own Agent)`);
  }
  if (method.toUpperCase() === 'CONNECT') throw unsupported('CONNECT (tunnels)');
  if (opts.allowH2 === true) throw unsupported('HTTP/2 (allowH2); it speaks HTTP/1.1 only');
  if (typeof opts.maxRedirections === 'number' && opts.maxRedirections > 0) {
    throw unsupported('maxRedirections (fetch follows redirects itself; elsewhere compose undici.interceptors.redirect() in front: dispatcher.compose(...))');
  }
  let path = String(opts.path);
  if (opts.query !== null && opts.query !== undefined) path = appendQuery(path, opts.query);
  const headers = headerList(opts.headers);
  const body = requestBody(opts.body, headers);
  if (opts.reset === true && !headers.has('connection')) headers.append('connection', 'close');
  const options: RequestOptions = { method, headers, body, signal };
  const headersTimeout = opts.headersTimeout;
  const bodyTimeout = opts.bodyTimeout;
  if (typeof headersTimeout === 'number' || typeof bodyTimeout === 'number') {
    const timeouts: Timeouts = {};
    if (typeof headersTimeout === 'number') timeouts.headers = headersTimeout;
    if (typeof bodyTimeout === 'number') timeouts.body = bodyTimeout;
    options.timeouts = timeouts;
  }
  if (opts.idempotent === true) options.idempotent = true;
  if (opts.expectContinue === true) options.expectContinue = true;
  const originForm = path.charCodeAt(0) === 0x2f;
  if (originForm) options.target = path;
  return { url: `${originOf(opts.origin)}${originForm ? path : `/${path}`}`, options, headers };
}

/**
 * Bodies up to this size, streamed with a Content-Length, are read into memory before sending.
 * Node's fetch hands every body over as a one-shot async iterable, even a string, and a body
 * that cannot be sent twice rules out the safe retry of a PUT or DELETE (or a POST with an
 * `Idempotency-Key`) that crossed a server's idle close. Held in memory it can be replayed; a
 * larger or unsized stream (a `ReadableStream` upload) stays streamed and is never replayed.
 */
const REPLAYABLE_BODY_LIMIT = 64 * 1024;

/** The stream body of `req` when its declared length is at most the limit, else `null`. */
function smallStreamBody(req: AgentRequest): AsyncIterable<Uint8Array | string> | null {
  const body = req.options.body;
  if (body === null || body === undefined || typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob) return null;
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') return null;
  const length = req.headers.get('content-length');
  if (length === undefined || !/^\d+$/.test(length) || Number(length) > REPLAYABLE_BODY_LIMIT) return null;
  return body as AsyncIterable<Uint8Array | string>;
}

async function collect(body: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * A handler's own exception from a callback that has nobody left to tell (its error callback, or
 * the end): surfaced as an unhandled rejection, as an async dispatch would, and never thrown
 * into the connection's read, which called us.
 */
function surface(err: unknown): void {
  void Promise.reject(asError(err));
}

const STARTING = 0;
const WAITING = 1;
const STREAMING = 2;
const DONE = 3;
type Phase = typeof STARTING | typeof WAITING | typeof STREAMING | typeof DONE;

/**
 * One dispatched request: runs it on the agent and replays the result into the handler.
 *
 *   STARTING --onConnect--> WAITING --head--> STREAMING --end--> DONE (onComplete)
 *       \__________________\________________\___error/abort__> DONE (onError)
 *
 * The phase is the only record of progress, and `complete` and `fail` (or `abort`) are its only
 * writers of DONE, so a handler hears exactly one of complete or error, and nothing after it.
 *
 * The body reaches the handler through `ResponseBody.deliver`: each chunk is handed over inside
 * the connection's read, as undici's own client does, with no iterator, promise or microtask
 * per chunk; a handler's pause holds chunks in the body, whose buffer then fills and stops the
 * socket, so memory stays bounded however large the response.
 */
class Exchange implements DispatchController, BodySink {
  private phase: Phase = STARTING;
  private readonly abortController = new AbortController();
  private res: ClientResponse | null = null;
  private isPaused = false;
  private abortReason: Error | null = null;
  private raw: Buffer[] | undefined = undefined;
  rawTrailers: Buffer[] | undefined = undefined;
  private readonly legacy: LegacyDispatchHandler | null;
  private readonly handler: DispatchHandler | null;

  constructor(handler: AnyDispatchHandler) {
    if (isNewShape(handler)) {
      this.handler = handler;
      this.legacy = null;
    } else {
      this.handler = null;
      this.legacy = handler;
    }
  }

  get aborted(): boolean {
    return this.abortReason !== null;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  get reason(): Error | null {
    return this.abortReason;
  }

  /** The head's fields as bytes, made on first read (a new-shape handler may never ask). */
  get rawHeaders(): Buffer[] | undefined {
    if (this.raw === undefined && this.res !== null) this.raw = this.res.headers.toRawBuffers();
    return this.raw;
  }

  start(agent: Agent, opts: DispatchOptions): void {
    if (this.legacy !== null) this.legacy.onConnect?.((reason) => this.abort(reason), {});
    else this.handler!.onRequestStart?.(this, {});
    // The handler may abort from inside onConnect (fetch does, when its controller is already
    // terminated): nothing may be sent then.
    if (this.phase === DONE) return;
    let req: AgentRequest;
    try {
      req = toRequest(opts, this.abortController.signal);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.phase = WAITING;
    const small = smallStreamBody(req);
    if (small === null) {
      agent.request(req.url, req.options).then((res) => this.onResponse(res), (err: unknown) => this.fail(err));
      return;
    }
    collect(small).then((bytes) => {
      if (this.phase !== WAITING) return;
      req.options.body = bytes;
      agent.request(req.url, req.options).then((res) => this.onResponse(res), (err: unknown) => this.fail(err));
    }, (err: unknown) => this.fail(new RequestBodyError('reading the request body failed', false, err)));
  }

  /** Aborts at any phase: queued, connecting, writing, awaiting the head, or mid-body. */
  abort(reason?: unknown): void {
    if (this.phase === DONE) return;
    const err = reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
    this.abortReason = err;
    // DONE first: the body's own failure, which the lines below cause (synchronously, now that
    // its chunks come straight from the connection), must not be reported instead of `err`.
    this.phase = DONE;
    this.abortController.abort(err);
    // The signal ends a body that comes from the network; one an interceptor produced (a cache
    // hit, say) only stops when cancelled.
    this.res?.body.cancel(err);
    this.report(err);
  }

  pause(): void {
    this.isPaused = true;
    // Before `deliver` the body ignores this, and `deliver` starts from `isPaused` instead.
    this.res?.body.setDeliveryPaused(true);
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    if (this.phase === STREAMING) this.res?.body.setDeliveryPaused(false);
  }

  private onResponse(res: ClientResponse): void {
    if (this.phase === DONE) {
      res.body.cancel(this.abortReason ?? new Error('request aborted'));
      return;
    }
    this.res = res;
    this.phase = STREAMING;
    try {
      if (this.legacy !== null) {
        this.legacy.onResponseStarted?.();
        if (this.legacy.onHeaders?.(res.status, this.rawHeaders!, () => this.resume(), res.statusText) === false) this.isPaused = true;
      } else {
        this.handler!.onResponseStart?.(this, res.status, res.headers.toObject(), res.statusText);
      }
    } catch (err) {
      this.abort(err);
      return;
    }
    if (this.phase !== STREAMING) return;
    res.body.deliver(this, this.isPaused);
  }

  /** @internal A body chunk (BodySink); false asks the body to hold the next ones. */
  data(chunk: Buffer): boolean {
    if (this.phase !== STREAMING) return false;
    try {
      if (this.legacy !== null) {
        if (this.legacy.onData?.(chunk) === false) this.isPaused = true;
      } else {
        this.handler!.onResponseData?.(this, chunk);
      }
    } catch (err) {
      // The handler threw: nobody will read the rest, and a connection with unread body bytes
      // must not go back to the pool.
      const e = asError(err);
      this.phase = DONE;
      this.res!.body.cancel(e);
      this.reportSafely(e);
      return false;
    }
    return !this.isPaused;
  }

  /** @internal The body ended (BodySink). */
  end(): void {
    if (this.phase !== STREAMING) return;
    this.phase = DONE;
    try {
      const trailers = this.res!.trailers;
      const raw = trailers === null ? [] : trailers.toRawBuffers();
      this.rawTrailers = raw;
      if (this.legacy !== null) this.legacy.onComplete?.(raw);
      else this.handler!.onResponseEnd?.(this, trailers === null ? {} : trailers.toObject());
    } catch (err) {
      // As undici's Request.onComplete does: the handler's own failure at the end goes to its
      // error callback (once: the phase is DONE, so nothing else will call it).
      this.reportSafely(asError(err));
    }
  }

  /** @internal The body failed: truncated, reset, timed out (BodySink). */
  error(err: Error): void {
    if (this.phase !== STREAMING) return;
    this.phase = DONE;
    this.reportSafely(err);
  }

  private fail(err: unknown): void {
    if (this.phase === DONE) return;
    this.phase = DONE;
    this.report(asError(err));
  }

  /** Tells the handler of the error that ended the exchange (the phase is DONE already). */
  private report(e: Error): void {
    if (this.legacy !== null) {
      if (this.legacy.onError === undefined) throw e;
      this.legacy.onError(e);
    } else {
      this.handler!.onResponseError?.(this, e);
    }
  }

  private reportSafely(e: Error): void {
    try {
      this.report(e);
    } catch (err) {
      surface(err);
    }
  }
}

/**
 * An undici `Dispatcher` backed by a holdfast `Agent`. Pass it as `fetch(url, { dispatcher })`,
 * to undici's `setGlobalDispatcher`, or install it process-wide with `installGlobalDispatcher()`.
 */
export class HoldfastDispatcher extends EventEmitter {
  /** The agent whose pools carry every request. `closeIdle()` on it drops idle connections. */
  readonly agent: Agent;

  constructor(agent: Agent = new Agent()) {
    super();
    this.agent = agent;
  }

  /**
   * Starts a request and reports to `handler`. Always returns `true`: the agent queues requests
   * itself, so a caller never has to wait for `drain`.
   */
  dispatch(opts: DispatchOptions, handler: AnyDispatchHandler): boolean {
    if (handler === null || typeof handler !== 'object') throw new TypeError('handler must be an object');
    new Exchange(handler).start(this.agent, opts);
    return true;
  }

  /**
   * This dispatcher behind undici-style interceptors (`undici.interceptors.redirect()`,
   * `retry()`, `dns()`...): each wraps the dispatch function, the first innermost, as undici's
   * `Dispatcher.compose` does. The result shares this dispatcher's agent.
   */
  compose(...args: Array<DispatchInterceptor | DispatchInterceptor[]>): HoldfastDispatcher {
    const list = (Array.isArray(args[0]) ? args[0] : args) as Array<DispatchInterceptor | null | undefined>;
    let dispatch: DispatchFn = this.dispatch.bind(this);
    for (const interceptor of list) {
      if (interceptor === null || interceptor === undefined) continue;
      if (typeof interceptor !== 'function') throw new TypeError(`invalid interceptor, expected function received ${typeof interceptor}`);
      dispatch = interceptor(dispatch);
      if (typeof dispatch !== 'function') throw new TypeError('invalid interceptor: it must return a dispatch function');
    }
    const composed = dispatch;
    return new Proxy(this, {
      get: (target, key, receiver) => (key === 'dispatch' ? composed : Reflect.get(target, key, receiver) as unknown),
    });
  }

  /** Graceful close of the agent: queued and in-flight requests finish. */
  close(callback?: () => void): Promise<void> {
    const p = this.agent.close();
    if (callback !== undefined) p.then(callback, callback);
    return p;
  }

  /** Closes every connection now; in-flight requests fail. */
  destroy(err?: Error | null | (() => void), callback?: () => void): Promise<void> {
    const p = this.agent.destroy();
    const cb = typeof err === 'function' ? err : callback;
    if (cb !== undefined) p.then(cb, cb);
    return p;
  }
}
