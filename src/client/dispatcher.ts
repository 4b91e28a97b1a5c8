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
  return typeof n.onRequestStart === 'function' || typeof n.onResponseStart === 'function' ||
    typeof n.onResponseData === 'function' || typeof n.onResponseEnd === 'function' || typeof n.onResponseError === 'function';
}

function toRawBuffers(raw: readonly string[]): Buffer[] {
  const out = new Array<Buffer>(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = Buffer.from(raw[i]!, 'latin1');
  return out;
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

/** undici's header inputs as `[name, value]` pairs; a value that is an array becomes several lines. */
function headerPairs(h: DispatchOptions['headers']): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (h === null || h === undefined) return out;
  const add = (name: string, value: unknown): void => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) for (const v of value) out.push([name, scalarText(v)]);
    else out.push([name, scalarText(value)]);
  };
  if (Array.isArray(h)) {
    if (h.length > 0 && Array.isArray(h[0])) {
      for (const pair of h as unknown as Array<[string, unknown]>) add(String(pair[0]), pair[1]);
      return out;
    }
    if (h.length % 2 !== 0) throw new InvalidRequestError('headers array must have an even number of items');
    for (let i = 0; i < h.length; i += 2) add(String(h[i]), String(h[i + 1]));
    return out;
  }
  if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of h as Iterable<[string, unknown]>) add(name, value);
    return out;
  }
  for (const [name, value] of Object.entries(h)) add(name, value);
  return out;
}

type AgentBody = NonNullable<RequestOptions['body']>;

/** Bodies of every kind undici accepts, as the agent's request body plus a Content-Type to add. */
function requestBody(body: DispatchOptions['body']): { body: AgentBody | null; contentType: string | null } {
  if (body === null || body === undefined) return { body: null, contentType: null };
  if (typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer) return { body, contentType: null };
  if (ArrayBuffer.isView(body)) return { body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), contentType: null };
  if (body instanceof Blob) return { body, contentType: body.type === '' ? null : body.type };
  if (body instanceof FormData) {
    // Encoded the way fetch encodes it (multipart with a fresh boundary), streamed.
    const encoded = new Response(body);
    return { body: encoded.body as ReadableStream<Uint8Array>, contentType: encoded.headers.get('content-type') };
  }
  if (body instanceof Readable || body instanceof ReadableStream || typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    return { body: body as AgentBody, contentType: null };
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

/** Translates undici's dispatch options into the agent's; throws for what cannot be honoured. */
function toRequest(opts: DispatchOptions, signal: AbortSignal): { url: string; options: RequestOptions } {
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
  const pairs = headerPairs(opts.headers);
  const { body, contentType } = requestBody(opts.body);
  if (contentType !== null && !pairs.some(([n]) => n.toLowerCase() === 'content-type')) pairs.push(['content-type', contentType]);
  if (opts.reset === true && !pairs.some(([n]) => n.toLowerCase() === 'connection')) pairs.push(['connection', 'close']);
  const timeouts: Timeouts = {};
  if (typeof opts.headersTimeout === 'number') timeouts.headers = opts.headersTimeout;
  if (typeof opts.bodyTimeout === 'number') timeouts.body = opts.bodyTimeout;
  const options: RequestOptions = { method, headers: pairs, body, signal };
  if (timeouts.headers !== undefined || timeouts.body !== undefined) options.timeouts = timeouts;
  if (opts.idempotent === true) options.idempotent = true;
  if (opts.expectContinue === true) options.expectContinue = true;
  if (path.charCodeAt(0) === 0x2f) options.target = path;
  return { url: `${originOf(opts.origin)}${path.charCodeAt(0) === 0x2f ? path : `/${path}`}`, options };
}

/**
 * Bodies up to this size, streamed with a Content-Length, are read into memory before sending.
 * Node's fetch hands every body over as a one-shot async iterable, even a string, and a body
 * that cannot be sent twice rules out the safe retry of a PUT or DELETE (or a POST with an
 * `Idempotency-Key`) that crossed a server's idle close. Held in memory it can be replayed; a
 * larger or unsized stream (a `ReadableStream` upload) stays streamed and is never replayed.
 */
const REPLAYABLE_BODY_LIMIT = 64 * 1024;

/** The stream body of `options` when its declared length is at most the limit, else `null`. */
function smallStreamBody(options: RequestOptions): AsyncIterable<Uint8Array | string> | null {
  const body = options.body;
  if (body === null || body === undefined || typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob) return null;
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') return null;
  let length: string | undefined;
  for (const [name, value] of options.headers as Array<[string, string]>) if (name.toLowerCase() === 'content-length') length = value;
  if (length === undefined || !/^\d+$/.test(length) || Number(length) > REPLAYABLE_BODY_LIMIT) return null;
  return body as AsyncIterable<Uint8Array | string>;
}

async function collect(body: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
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
 * The phase is the only record of progress, and `complete` and `fail` are its only writers of
 * DONE, so a handler hears exactly one of complete or error, and nothing after it.
 */
class Exchange implements DispatchController {
  private phase: Phase = STARTING;
  private readonly abortController = new AbortController();
  private body: AsyncIterator<Uint8Array> | null = null;
  private res: ClientResponse | null = null;
  private pumping = false;
  private isPaused = false;
  private abortReason: Error | null = null;
  rawHeaders: Buffer[] | undefined = undefined;
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

  start(agent: Agent, opts: DispatchOptions): void {
    if (this.legacy !== null) this.legacy.onConnect?.((reason) => this.abort(reason), {});
    else this.handler!.onRequestStart?.(this, {});
    // The handler may abort from inside onConnect (fetch does, when its controller is already
    // terminated): nothing may be sent then.
    if (this.phase === DONE) return;
    let req: { url: string; options: RequestOptions };
    try {
      req = toRequest(opts, this.abortController.signal);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.phase = WAITING;
    const small = smallStreamBody(req.options);
    if (small === null) {
      agent.request(req.url, req.options).then((res) => this.onResponse(res), (err: unknown) => this.fail(err));
      return;
    }
    collect(small).then((bytes) => {
      if (this.phase !== WAITING) return;
      agent.request(req.url, { ...req.options, body: bytes }).then((res) => this.onResponse(res), (err: unknown) => this.fail(err));
    }, (err: unknown) => this.fail(new RequestBodyError('reading the request body failed', false, err)));
  }

  /** Aborts at any phase: queued, connecting, writing, awaiting the head, or mid-body. */
  abort(reason?: unknown): void {
    if (this.phase === DONE) return;
    const err = reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
    this.abortReason = err;
    this.abortController.abort(err);
    // The signal ends a body that comes from the network; one an interceptor produced (a cache
    // hit, say) only stops when cancelled.
    this.res?.body.cancel(err);
    this.fail(err);
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    if (this.phase === STREAMING) void this.pump();
  }

  private onResponse(res: ClientResponse): void {
    if (this.phase === DONE) {
      res.body.cancel(this.abortReason ?? new Error('request aborted'));
      return;
    }
    this.res = res;
    this.phase = STREAMING;
    const raw = toRawBuffers(res.headers.toRaw());
    this.rawHeaders = raw;
    try {
      if (this.legacy !== null) {
        this.legacy.onResponseStarted?.();
        if (this.legacy.onHeaders?.(res.status, raw, () => this.resume(), res.statusText) === false) this.isPaused = true;
      } else {
        this.handler!.onResponseStart?.(this, res.status, res.headers.toObject(), res.statusText);
      }
    } catch (err) {
      this.abort(err);
      return;
    }
    if (this.phase !== STREAMING) return;
    this.body = res.body[Symbol.asyncIterator]();
    void this.pump();
  }

  /**
   * Moves body chunks into the handler until it asks for a pause. While paused nothing is read
   * from the body, whose buffer then fills and stops the socket: memory stays bounded by the
   * body's high-water mark however large the response.
   */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.phase === STREAMING && !this.isPaused) {
        const it = this.body!;
        const r = await it.next();
        if (this.phase !== STREAMING) return;
        if (r.done === true) {
          this.complete();
          return;
        }
        const v = r.value;
        const chunk = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
        if (this.legacy !== null) {
          if (this.legacy.onData?.(chunk) === false) this.isPaused = true;
        } else {
          this.handler!.onResponseData?.(this, chunk);
        }
      }
    } catch (err) {
      if (this.phase === STREAMING) {
        // The body failed, or the handler threw: either way nobody will read the rest, and a
        // connection with unread body bytes must not go back to the pool.
        this.res?.body.cancel(err instanceof Error ? err : new Error(String(err)));
        this.fail(err);
      }
    } finally {
      this.pumping = false;
    }
  }

  private complete(): void {
    this.phase = DONE;
    const trailers = this.res!.trailers;
    const raw = trailers === null ? [] : toRawBuffers(trailers.toRaw());
    this.rawTrailers = raw;
    if (this.legacy !== null) this.legacy.onComplete?.(raw);
    else this.handler!.onResponseEnd?.(this, trailers === null ? {} : trailers.toObject());
  }

  private fail(err: unknown): void {
    if (this.phase === DONE) return;
    this.phase = DONE;
    const e = err instanceof Error ? err : new Error(String(err));
    if (this.legacy !== null) {
      if (this.legacy.onError === undefined) throw e;
      this.legacy.onError(e);
    } else {
      this.handler!.onResponseError?.(this, e);
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
