/**
 * The Agent: one `Pool` per origin, the retry rules, timeouts and abort handling around each
 * exchange, and the interceptor chain that `request()` and `fetch()` share.
 */
import { HeaderList, hasToken, parseTokenList, trimOws, upgradeGranted, type HeaderInit } from '../wire/index.ts';
import { serializeRequestHeadAround } from '../wire/serializer.ts';
import { plainPathStart } from '../wire/urlPath.ts';
import type { Socket } from 'node:net';
import type { LookupFunction } from 'node:net';
import type { ClientTlsOptions } from '../transport/connect.ts';
import { pollTurn } from '../transport/liveness.ts';
import { Pool, type CheckoutHandle } from './pool.ts';
import { takeSwitchedSocket, type ClientConnection, type OutgoingRequest, type ExchangeTimeouts } from './connection.ts';
import { OutgoingBody, type RequestBodyInit } from './outgoingBody.ts';
import type { ClientResponse } from './response.ts';
import { compose, type Dispatch, type DispatchRequest, type Interceptor, type Timeouts } from './dispatch.ts';
import {
  AbortedError,
  ClientError,
  InvalidRequestError,
  PoolClosedError,
  ResponseParseError,
  StaleConnectionError,
  TimeoutError,
} from './errors.ts';
import { connectionReusedChannel, requestErrorChannel, requestRetryChannel, requestStartChannel } from './diagnostics.ts';
import { resolveRetryPolicy, isReplayable, type RetryPolicy, type ResolvedRetryPolicy } from './retry.ts';
import { fetchWith } from './fetch.ts';
import { InvalidOptionError, amountOption, booleanOption, durationOption } from '../wire/optionValidation.ts';

/** Options of an `Agent`. All durations are in milliseconds. */
export interface AgentOptions {
  /** Maximum connections per origin (default 128). */
  connections?: number;
  /** Maximum requests waiting for a connection per origin (default unlimited). */
  queueLimit?: number;
  /**
   * Safety margin subtracted from a server's `Keep-Alive: timeout` hint (default 1000). A hint
   * at or below the margin means the connection is not reused.
   */
  keepAliveMargin?: number;
  /** Idle lifetime of a connection when the server gave no hint (default 4000). */
  idleTimeout?: number;
  /** Longest idle lifetime even when the server's hint allows more (default 600000). */
  maxIdleTimeout?: number;
  /** DNS + TCP + TLS (default 10000). */
  connectTimeout?: number;
  /** From the request written to the response head (default 300000). */
  headersTimeout?: number;
  /** Longest gap between body chunks (default 300000). */
  bodyTimeout?: number;
  /** Whole request including the body (default 0 = none). */
  requestTimeout?: number;
  /** Wait for `100 Continue` at most this long before sending the body anyway (default 1000). */
  expectContinueTimeout?: number;
  /**
   * `true` (default): retry exactly when safe (see `README`/issue: reused connection, no
   * response byte, nothing written or an idempotent request with a replayable body).
   * `false`: never retry. A policy object adds opt-in retries on status codes and errors.
   */
  retry?: boolean | RetryPolicy;
  /** TLS settings for `https:` origins. */
  tls?: ClientTlsOptions;
  /**
   * Happy Eyeballs (RFC 8305, default true): every address a name resolves to is tried, IPv6 and
   * IPv4 interleaved, so one unreachable family does not fail the connect.
   */
  autoSelectFamily?: boolean;
  /** Name resolution in place of `dns.lookup` (it is called with `all: true` under Happy Eyeballs). */
  lookup?: LookupFunction;
  /** Wrappers around the dispatch of every request (first = outermost). */
  interceptors?: Interceptor[];
  /**
   * An HTTP cache for every request of this agent (`request()` and `fetch()`), e.g.
   * `createCache({ store, mode })` from `holdfast/cache`. Typed by shape, as the client layer does
   * not import the cache layer above it. Its interceptor runs after `interceptors` (so it sees the
   * headers they add, which Vary and the Authorization rules depend on) and before the retry
   * policy, so a hit never touches the network. Default none.
   */
  cache?: AgentCache | null;
  /**
   * Give pending socket events one turn of the event loop before writing to a reused
   * connection (default true). Turning it off only exists to measure what it costs.
   */
  livenessCheck?: boolean;
}

/** What the `cache` option needs: a `Cache` of `holdfast/cache` provides it. */
export interface AgentCache {
  /** Wraps the dispatch chain; answers from the cache or passes the request on. */
  readonly interceptor: Interceptor;
}

/** Options of `request()`. */
export interface RequestOptions {
  /** Default `GET`. Upper-cased unless `exactMethod`. */
  method?: string;
  /**
   * Send `method` exactly as given: methods are case-sensitive (RFC 9110 §9.1), so a proxy
   * forwards `get` as `get`, never as `GET`.
   */
  exactMethod?: boolean;
  headers?: HeaderInit | Headers;
  body?: RequestBodyInit | null;
  signal?: AbortSignal | undefined;
  timeouts?: Timeouts;
  /** Treat a non-idempotent request as safe to repeat (as `Idempotency-Key` does). */
  idempotent?: boolean;
  /** Send `Expect: 100-continue` and hold the body until `100` (or the timeout). */
  expectContinue?: boolean;
  /**
   * Told of each interim (1xx) response (`103 Early Hints`, `100 Continue`) before the final
   * response, with its fields; a reverse proxy forwards them (RFC 9110 §15.2).
   */
  onInformational?: (status: number, headers: HeaderList) => void;
  /**
   * The exact request-target to send, in origin-form (`/path?query`) or `*` for OPTIONS, instead
   * of the one derived from `url`. `url` still chooses the origin (pool, Host, credentials); its
   * path and query are not sent. The target goes on the wire byte for byte: no dot-segment removal, no
   * percent-encoding or decoding, as `new URL()` would do. A reverse proxy needs this to forward
   * the path it received unchanged (`/a/../b`, `/%2e%2e/x`). Whitespace, controls and non-ASCII
   * are rejected with `InvalidRequestError`.
   */
  target?: string;
}

/** Options of `Agent.upgrade()`. */
export interface UpgradeOptions {
  /** The protocol to switch to, as the `Upgrade` field says it (`websocket`). Several: comma-separated, preferred first. */
  protocol: string;
  /** Further fields (`Sec-WebSocket-Key`, `Origin`...). `Connection` and `Upgrade` are set by the agent. */
  headers?: HeaderInit | Headers;
  /** Default `GET`. */
  method?: string;
  /** The request-target to send instead of the URL's path (see `RequestOptions.target`). */
  target?: string;
  /** Connect and response-head timeouts (the body timeouts apply to a refusal's body). */
  timeouts?: Timeouts;
}

/**
 * What `Agent.upgrade()` resolves with: the `101` and the socket now speaking the new protocol
 * (with `head`, bytes that arrived right after the 101), or the server's refusal — any other
 * response, with its body to read as usual.
 */
export type UpgradeResult =
  | { readonly upgraded: true; readonly response: ClientResponse; readonly socket: Socket; readonly head: Buffer }
  | { readonly upgraded: false; readonly response: ClientResponse };

/** Parsed request target, cached per URL string. */
interface Target {
  origin: string;
  secure: boolean;
  host: string;
  port: number;
  hostHeader: string;
  path: string;
  authorization: string | null;
}

const TARGET_CACHE_LIMIT = 512;

/**
 * Attempts of the built-in safe retry: the first, and one retry on a fresh connection. A fresh
 * connection never raises `StaleConnectionError`, so the second attempt is final anyway; the cap
 * makes that a rule of this loop instead of a property of the connection code, so that no future
 * path that reports staleness on a fresh connection can turn a dead server into an endless loop
 * of connects.
 */
const SAFE_RETRY_ATTEMPTS = 2;

/** Follows one request through queue, connection and body; carries abort and request timeout. */
class RequestContext implements CheckoutHandle {
  cancel: ((err: ClientError) => void) | null = null;
  aborted: ClientError | null = null;
  /** The connection and request currently in flight, for aborting it. */
  conn: ClientConnection | null = null;
  outgoing: OutgoingRequest | null = null;
  timer: NodeJS.Timeout | null = null;
  signal: AbortSignal | null = null;
  onSignal: (() => void) | null = null;

  abort(err: ClientError): void {
    if (this.aborted !== null) return;
    this.aborted = err;
    const cancel = this.cancel;
    this.cancel = null;
    if (cancel !== null) cancel(err);
    const conn = this.conn;
    if (conn !== null && this.outgoing !== null) conn.abortIf(this.outgoing, err);
  }

  /** The body ended or failed: stop listening. */
  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.signal !== null && this.onSignal !== null) this.signal.removeEventListener('abort', this.onSignal);
    this.signal = null;
    this.conn = null;
    this.outgoing = null;
  }

  /** Phase and whether anything was written, for abort errors. */
  whereNow(): { phase: 'queue' | 'write' | 'headers' | 'body'; written: boolean } {
    const conn = this.conn;
    if (conn === null || this.outgoing === null) return { phase: 'queue', written: false };
    return conn.progressOf(this.outgoing);
  }
}

/** Listener options shared by every request (not an object per request). */
const ONCE = Object.freeze({ once: true });

/** An HTTP/1.1 client: pools per origin, safe retries, timeouts, interceptors. */
export class Agent {
  private readonly pools = new Map<string, Pool>();
  private readonly targets = new Map<string, Target>();
  private readonly opts: Required<Omit<AgentOptions, 'tls' | 'interceptors' | 'retry' | 'cache' | 'lookup'>> & { tls: ClientTlsOptions | null; lookup: LookupFunction | undefined };
  private readonly retryPolicy: ResolvedRetryPolicy | null;
  private readonly safeRetries: boolean;
  private closed = false;
  /**
   * The composed dispatch: interceptors, then the cache, then the retry policy, then the network.
   * @internal
   */
  readonly dispatch: Dispatch;
  private readonly defaultTimeouts: Readonly<ExchangeTimeouts>;

  constructor(options: AgentOptions = {}) {
    // Timeouts of 0 mean "none"; a value setTimeout cannot hold (Infinity, 2^31 ms) is refused
    // rather than left to fire at once.
    this.opts = {
      connections: amountOption('connections', options.connections ?? 128, false, true),
      queueLimit: amountOption('queueLimit', options.queueLimit ?? Infinity, true, true),
      keepAliveMargin: durationOption('keepAliveMargin', options.keepAliveMargin ?? 1000, true),
      idleTimeout: durationOption('idleTimeout', options.idleTimeout ?? 4000, true),
      maxIdleTimeout: durationOption('maxIdleTimeout', options.maxIdleTimeout ?? 600_000, true),
      connectTimeout: durationOption('connectTimeout', options.connectTimeout ?? 10_000, true),
      headersTimeout: durationOption('headersTimeout', options.headersTimeout ?? 300_000, true),
      bodyTimeout: durationOption('bodyTimeout', options.bodyTimeout ?? 300_000, true),
      requestTimeout: durationOption('requestTimeout', options.requestTimeout ?? 0, true),
      expectContinueTimeout: durationOption('expectContinueTimeout', options.expectContinueTimeout ?? 1000, true),
      autoSelectFamily: booleanOption('autoSelectFamily', options.autoSelectFamily ?? true),
      lookup: options.lookup,
      livenessCheck: booleanOption('livenessCheck', options.livenessCheck ?? true),
      tls: options.tls ?? null,
    };
    this.defaultTimeouts = Object.freeze({
      headers: this.opts.headersTimeout,
      body: this.opts.bodyTimeout,
      expectContinue: this.opts.expectContinueTimeout,
    });
    const retry = options.retry ?? true;
    this.safeRetries = retry !== false;
    this.retryPolicy = typeof retry === 'object' ? resolveRetryPolicy(retry) : null;
    const network: Dispatch = (req) => this.dispatchNetwork(req);
    const base: Dispatch = this.retryPolicy === null ? network : (req) => this.retryPolicy!.run(req, network);
    const interceptors = [...(options.interceptors ?? [])];
    const cache = options.cache ?? null;
    if (cache !== null) {
      // A store or a plain object passed by mistake would otherwise fail on the first request.
      if (typeof cache.interceptor !== 'function') throw new InvalidOptionError('cache', 'cache must be a Cache (createCache from holdfast/cache)');
      interceptors.push(cache.interceptor);
    }
    this.dispatch = compose(base, interceptors);
  }

  /**
   * Sends a request; resolves once the response head arrived. The body streams afterwards and
   * must be consumed (or `dump()`ed / cancelled) to free the connection.
   */
  request(url: string | URL, options: RequestOptions = {}): Promise<ClientResponse> {
    let req: DispatchRequest;
    try {
      req = this.toDispatchRequest(url, options);
    } catch (err) {
      return Promise.reject(err instanceof ClientError ? err : new InvalidRequestError((err as Error).message, err));
    }
    return this.dispatch(req);
  }

  /**
   * Asks the server to switch protocols (RFC 9110 §7.8) on a fresh connection, so holdfast can be
   * the transport under a WebSocket or other client. Never retried, never cached, and interceptors
   * do not see it. A `101` whose `Upgrade` names no protocol that was asked for rejects with
   * `ResponseParseError` (the socket is destroyed: its bytes are neither protocol's).
   *
   * ```ts
   * const r = await agent.upgrade('http://127.0.0.1:8080/live', {
   *   protocol: 'websocket',
   *   headers: { 'sec-websocket-key': key, 'sec-websocket-version': '13' },
   * });
   * if (r.upgraded) speakWebSocket(r.socket, r.head); // frames from here on
   * else console.log(r.response.status, await r.response.body.text());
   * ```
   */
  async upgrade(url: string | URL, options: UpgradeOptions): Promise<UpgradeResult> {
    const protocol = options?.protocol;
    if (typeof protocol !== 'string' || protocol === '') throw new InvalidRequestError('upgrade() needs a protocol');
    let req: DispatchRequest;
    let t: Target;
    let outgoing: OutgoingRequest;
    try {
      req = this.toDispatchRequest(url, { method: options.method, headers: options.headers, target: options.target, timeouts: options.timeouts });
      // A copy: the caller's list is not ours to change.
      const headers = req.headers.clone();
      headers.set('connection', 'upgrade');
      headers.set('upgrade', protocol);
      req = { ...req, headers };
      t = this.target(req.url);
      outgoing = { ...this.buildOutgoing(req, t), upgrade: true };
    } catch (err) {
      throw err instanceof ClientError ? err : new InvalidRequestError((err as Error).message, err);
    }
    const pool = this.poolFor(t);
    const to = req.timeouts;
    const timeouts: ExchangeTimeouts = to === undefined ? this.defaultTimeouts : {
      headers: to.headers ?? this.opts.headersTimeout,
      body: to.body ?? this.opts.bodyTimeout,
      expectContinue: to.expectContinue ?? this.opts.expectContinueTimeout,
    };
    // Fresh: a pooled connection may be closing under us, and an upgrade is never repeated.
    const conn = await this.acquire(pool, true, to?.connect ?? this.opts.connectTimeout, null);
    const response = await conn.exchange(outgoing, timeouts);
    if (response.status !== 101) return { upgraded: false, response };
    const switched = takeSwitchedSocket(response);
    const asked = parseTokenList(protocol).map((p) => p.split('/')[0] ?? p);
    if (switched === null || upgradeGranted(101, response.headers, asked) === null) {
      switched?.socket.destroy();
      throw new ResponseParseError(`the server switched to ${JSON.stringify(response.headers.get('upgrade') ?? '')}, not to ${JSON.stringify(protocol)}`, 'headers', null);
    }
    return { upgraded: true, response, socket: switched.socket, head: switched.head };
  }

  /** WHATWG `fetch` over this agent; returns the global `Response`. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    return fetchWith(this.dispatch, input, init);
  }

  /** The pool for an origin (created on first use). @internal */
  pool(origin: string): Pool | undefined {
    return this.pools.get(origin);
  }

  /** Closes idle connections now and those becoming idle until each pool's next checkout. */
  closeIdle(): void {
    for (const p of this.pools.values()) p.closeIdle();
  }

  /** Graceful: new requests fail, in-flight and queued ones finish, then everything closes. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }

  /** `await using agent = new Agent()`: graceful `close()` when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Closes every connection now; in-flight requests and their bodies fail. */
  async destroy(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
  }

  private toDispatchRequest(url: string | URL, options: RequestOptions): DispatchRequest {
    const href = typeof url === 'string' ? url : url.href;
    const method = options.method === undefined ? 'GET' : options.exactMethod === true ? options.method : options.method.toUpperCase();
    const h = options.headers;
    const headers = h === undefined ? new HeaderList() : h instanceof HeaderList ? h : new HeaderList(h as HeaderInit);
    let body = OutgoingBody.from(options.body);
    if (body !== null && body.length === null && !body.replayable) {
      const cl = headers.get('content-length');
      if (cl !== undefined && /^\d+$/.test(cl)) body = OutgoingBody.withLength(options.body as never, Number(cl));
    }
    return {
      url: href,
      method,
      headers,
      body,
      signal: options.signal,
      timeouts: options.timeouts,
      idempotent: options.idempotent,
      expectContinue: options.expectContinue,
      target: options.target,
      onInformational: options.onInformational,
    };
  }

  private target(url: string): Target {
    // The usual URL (a plain origin, a path the URL parser keeps as written): its origin is
    // parsed once and its path taken as written, so a proxy forwarding many distinct paths does
    // not run `new URL()` per request nor churn the per-URL cache below.
    const slash = plainPathStart(url);
    if (slash !== -1 && slash !== url.length - 1) return { ...this.target(`${url.slice(0, slash)}/`), path: url.slice(slash) };
    const cached = this.targets.get(url);
    if (cached !== undefined) return cached;
    let u: URL;
    try {
      u = new URL(url);
    } catch (err) {
      throw new InvalidRequestError(`invalid URL ${JSON.stringify(url)}`, err);
    }
    const secure = u.protocol === 'https:';
    if (!secure && u.protocol !== 'http:') throw new InvalidRequestError(`unsupported protocol ${u.protocol}`);
    const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
    const authorization = u.username !== '' || u.password !== ''
      ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
      : null;
    const t: Target = {
      origin: `${u.protocol}//${u.hostname}:${port}`,
      secure,
      host: u.hostname,
      port,
      hostHeader: u.host,
      path: `${u.pathname}${u.search}`,
      authorization,
    };
    if (this.targets.size >= TARGET_CACHE_LIMIT) this.targets.clear();
    this.targets.set(url, t);
    return t;
  }

  private poolFor(t: Target): Pool {
    let pool = this.pools.get(t.origin);
    if (pool === undefined || pool.isClosed) {
      if (this.closed) throw new PoolClosedError('the agent is closed');
      pool = new Pool({
        origin: t.origin,
        host: t.host,
        port: t.port,
        tls: t.secure ? (this.opts.tls ?? {}) : null,
        connections: this.opts.connections,
        queueLimit: this.opts.queueLimit,
        connectTimeout: this.opts.connectTimeout,
        autoSelectFamily: this.opts.autoSelectFamily,
        lookup: this.opts.lookup,
        connection: {
          keepAliveMargin: this.opts.keepAliveMargin,
          idleTimeout: this.opts.idleTimeout,
          maxIdleTimeout: this.opts.maxIdleTimeout,
        },
      });
      this.pools.set(t.origin, pool);
    }
    return pool;
  }

  /** Builds the request head once per request (retries reuse it). */
  private buildOutgoing(req: DispatchRequest, t: Target): OutgoingRequest {
    const headers = req.headers;
    const body = req.body;
    // The client's own lines go around the caller's list, which is serialized in place (no copy
    // into pairs: a proxy sends every request through here).
    let before: Array<readonly [string, string]> | null = null;
    let after: Array<readonly [string, string]> | null = null;
    if (!headers.has('host')) before = [['host', t.hostHeader]];
    if (t.authorization !== null && !headers.has('authorization')) (before ??= []).push(['authorization', t.authorization]);
    let chunked = false;
    let expectContinue = false;
    if (body !== null) {
      const te = headers.get('transfer-encoding');
      const cl = headers.get('content-length');
      if (te !== undefined) {
        if (trimOws(te).toLowerCase() !== 'chunked') throw new InvalidRequestError(`unsupported Transfer-Encoding ${JSON.stringify(te)}`);
        if (cl !== undefined) throw new InvalidRequestError('both Content-Length and Transfer-Encoding');
        chunked = true;
      } else if (cl !== undefined) {
        if (body.length !== null && Number(cl) !== body.length) {
          throw new InvalidRequestError(`Content-Length ${cl} does not match the body's ${body.length} bytes`);
        }
      } else if (body.length !== null) {
        after = [['content-length', String(body.length)]];
      } else {
        after = [['transfer-encoding', 'chunked']];
        chunked = true;
      }
      if (req.expectContinue === true && !headers.has('expect')) (after ??= []).push(['expect', '100-continue']);
      expectContinue = req.expectContinue === true || hasToken(headers.get('expect'), '100-continue');
    }
    let target = t.path;
    if (req.target !== undefined) {
      // Only origin-form (or `*` for OPTIONS): absolute-form would make the line disagree with the
      // origin `url` chose. The serializer checks the characters.
      if (typeof req.target !== 'string' || (req.target.charCodeAt(0) !== 0x2f && !(req.target === '*' && req.method === 'OPTIONS'))) {
        throw new InvalidRequestError(`request target must be in origin-form (start with "/"), got ${JSON.stringify(req.target)}`);
      }
      target = req.target;
    }
    let head: string;
    try {
      head = serializeRequestHeadAround(req.method, target, before, headers, after);
    } catch (err) {
      throw new InvalidRequestError((err as Error).message, err);
    }
    return { method: req.method, head, body, chunked, expectContinue, diagnostics: req, url: req.url, onInformational: req.onInformational ?? null };
  }

  /** The network end of the dispatch chain: pool checkout, exchange, safe retry. */
  private async dispatchNetwork(req: DispatchRequest): Promise<ClientResponse> {
    const t = this.target(req.url);
    const pool = this.poolFor(t);
    const outgoing = this.buildOutgoing(req, t);
    const to = req.timeouts;
    // Exchanges only read their timeouts: requests without overrides share one object.
    const timeouts: ExchangeTimeouts = to === undefined ? this.defaultTimeouts : {
      headers: to.headers ?? this.opts.headersTimeout,
      body: to.body ?? this.opts.bodyTimeout,
      expectContinue: to.expectContinue ?? this.opts.expectContinueTimeout,
    };
    const connectTimeout = to?.connect ?? this.opts.connectTimeout;
    const requestTimeout = to?.request ?? this.opts.requestTimeout;
    const signal = req.signal ?? null;
    let ctx: RequestContext | null = null;
    if (signal !== null || requestTimeout > 0) {
      const c = new RequestContext();
      ctx = c;
      if (signal !== null) {
        if (signal.aborted) throw new AbortedError('queue', false, signal.reason);
        c.signal = signal;
        c.onSignal = () => {
          const where = c.whereNow();
          c.abort(new AbortedError(where.phase, where.written, signal.reason));
        };
        signal.addEventListener('abort', c.onSignal, ONCE);
      }
      if (requestTimeout > 0) {
        c.timer = setTimeout(() => {
          const where = c.whereNow();
          c.abort(new TimeoutError('HF_REQUEST_TIMEOUT', `request not complete within ${requestTimeout} ms`, where.phase, where.written, requestTimeout));
        }, requestTimeout);
        c.timer.unref();
      }
    }
    if (requestStartChannel.hasSubscribers) requestStartChannel.publish({ request: req, attempt: 1 });
    let fresh = false;
    let attempts = 0;
    try {
      for (;;) {
        attempts++;
        const conn = await this.acquire(pool, fresh, connectTimeout, ctx);
        const reused = conn.reused;
        if (ctx !== null) {
          ctx.conn = conn;
          ctx.outgoing = outgoing;
        }
        try {
          const res = await conn.exchange(outgoing, timeouts);
          res.attempts = attempts;
          if (ctx !== null) {
            if (res.body.complete) ctx.dispose();
            else res.body.onSettled(() => ctx.dispose());
          }
          return res;
        } catch (err) {
          if (ctx !== null && ctx.aborted !== null) throw ctx.aborted;
          if (
            this.safeRetries && attempts < SAFE_RETRY_ATTEMPTS && reused && err instanceof StaleConnectionError &&
            (!err.mayHaveBeenProcessed || isReplayable(req))
          ) {
            // The keep-alive race, lost safely: the next attempt goes to a fresh connection (not
            // another idle one, which may have been timed out by the same server clock), and a
            // failure there is final.
            if (requestRetryChannel.hasSubscribers) requestRetryChannel.publish({ request: req, attempt: attempts + 1, error: err });
            fresh = true;
            continue;
          }
          throw err;
        }
      }
    } catch (err) {
      ctx?.dispose();
      if (requestErrorChannel.hasSubscribers) requestErrorChannel.publish({ request: req, error: err });
      throw err;
    }
  }

  /**
   * A connection ready for writing. A reused one first gets a turn of the event loop so that a
   * FIN, RST or stray bytes that already reached us evict it instead of eating our request.
   *
   * The usual case (an idle connection at once, then the liveness turn) runs without an async
   * frame: the checkout is synchronous and the turn's promise is continued with `.then`. Anything
   * else (a wait for a connection, no liveness check) goes through `acquireSlowly`. Not being an
   * async function, it can throw (an aborted request, a closed pool): its callers await it inside
   * their own async function, where that is the same as a rejection.
   */
  private acquire(pool: Pool, fresh: boolean, connectTimeout: number, ctx: RequestContext | null): Promise<ClientConnection> {
    if (ctx !== null && ctx.aborted !== null) throw ctx.aborted;
    const got = pool.checkout(fresh, connectTimeout, ctx);
    if (got instanceof Promise || !got.reused || !this.opts.livenessCheck) return this.acquireSlowly(pool, fresh, connectTimeout, ctx, got);
    const conn = got;
    this.claim(pool, conn, ctx);
    return pollTurn().then(() => {
      this.putBackIfAborted(pool, conn, ctx);
      // Evicted during the turn: it was dead, and nothing was lost. Take another.
      return conn.state === 'reserved' ? this.reused(pool, conn) : this.acquireSlowly(pool, fresh, connectTimeout, ctx, null);
    });
  }

  /** The request holds `conn` now: it no longer cancels a wait, and an abort that came meanwhile puts it back. */
  private claim(pool: Pool, conn: ClientConnection, ctx: RequestContext | null): void {
    if (ctx === null) return;
    ctx.cancel = null;
    this.putBackIfAborted(pool, conn, ctx);
  }

  private putBackIfAborted(pool: Pool, conn: ClientConnection, ctx: RequestContext | null): void {
    if (ctx !== null && ctx.aborted !== null) {
      pool.putBack(conn);
      throw ctx.aborted;
    }
  }

  /** A kept-alive connection that passed its liveness turn (or needs none), announced. */
  private reused(pool: Pool, conn: ClientConnection): ClientConnection {
    if (connectionReusedChannel.hasSubscribers) {
      connectionReusedChannel.publish({ connectionId: conn.id, origin: pool.origin, socket: conn.socket, requestCount: conn.requestCount });
    }
    return conn;
  }

  /** `acquire` in general; `first` is a checkout already made (null: none yet). */
  private async acquireSlowly(
    pool: Pool, fresh: boolean, connectTimeout: number, ctx: RequestContext | null, first: ClientConnection | Promise<ClientConnection> | null,
  ): Promise<ClientConnection> {
    let pending = first;
    for (;;) {
      let got = pending;
      pending = null;
      if (got === null) {
        if (ctx !== null && ctx.aborted !== null) throw ctx.aborted;
        got = pool.checkout(fresh, connectTimeout, ctx);
      }
      const conn = got instanceof Promise ? await got : got;
      this.claim(pool, conn, ctx);
      if (!conn.reused) return conn;
      if (this.opts.livenessCheck) {
        await pollTurn();
        this.putBackIfAborted(pool, conn, ctx);
        // Evicted during the turn: it was dead, and nothing was lost. Take another.
        if (conn.state !== 'reserved') continue;
      }
      return this.reused(pool, conn);
    }
  }
}
