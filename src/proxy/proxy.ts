/**
 * The reverse proxy: holdfast's server in front, holdfast's client behind, and optionally the
 * shared-mode cache in the middle.
 *
 * ```
 * client ──> Server (strict parsing, lingering close, preconnects harmless)
 *              └─> handler: target check, hop-by-hop removal, Via / X-Forwarded-*, request buffering
 *                    └─> Cache (shared mode, collapsing)        [optional]
 *                          └─> Balancer (round-robin, slots, shared queue, passive health)
 *                                └─> Agent per upstream (liveness check, safe retries, timeouts)
 * ```
 *
 * Framing is never forwarded: the server layer has already refused conflicting framing with 400;
 * what reaches the handler is a body the proxy re-frames itself (Content-Length when it knows the
 * length, chunked otherwise), so the two connections can never disagree on where a message ends.
 */
import type { AddressInfo } from 'node:net';
import { ClientError, type AgentOptions, type ClientResponse, type UpgradeResult } from '../client/index.ts';
import {
  HeaderList, parseContentLength, isStrictTarget, formatAuthority, requestUrl, parseAbsoluteTarget, responseHasNoBody,
  upgradeGranted, splitList, isToken, type Authority,
} from '../wire/index.ts';
import { Tunnel, type TunnelOptions, type TunnelRecord } from './tunnel.ts';
import {
  createServer,
  type CloseOptions,
  type ListenOptions,
  type ResponseWriter,
  type Server,
  type ServerOptions,
  type ServerRequest,
} from '../server/index.ts';
import { Cache, createCache, type CacheOutcome, type CacheRequest, type CacheResponse, type CacheStore, type StoredEntry } from '../cache/index.ts';
import { urlKeepsPath } from '../wire/urlPath.ts';
import { ProxyError } from './errors.ts';
import { connectionNominated, isHopByHop, stripHopByHop } from '../wire/hopByHop.ts';
import { isLengthValue } from '../wire/framing.ts';
import { InvalidOptionError, amountOption, booleanOption, durationOption, oneOfOption } from '../wire/optionValidation.ts';
import { addForwarded, appendVia, type ForwardedStyle } from './forwarded.ts';
import { prepareRequestBody, type PreparedBody } from './requestBuffer.ts';
import { ReadAhead } from './readAhead.ts';
import { Balancer, type Lease } from './balancer.ts';
import { ActiveHealthCheck, type ActiveHealthOptions } from './healthCheck.ts';
import { newExchange, type ProxyExchange } from './exchange.ts';
import { Upstream, isUpstreamFailure, type HealthOptions, type UpstreamKeepAlive, type UpstreamStatus } from './upstream.ts';

/** Per-phase timeouts of the proxy, in milliseconds. */
export interface ReverseProxyTimeouts {
  /** TCP (+TLS) connect to an upstream (default 5 000). */
  connect?: number;
  /** From the request written upstream to the response head (default 60 000, as nginx). */
  headers?: number;
  /** Longest pause between two upstream body chunks (default 60 000). */
  body?: number;
  /** Longest wait for a free upstream slot (default 60 000; 0 = unbounded). */
  queue?: number;
  /**
   * A tunnel (WebSocket...) with no byte either way for this long is closed (default 60 000, as
   * nginx's `proxy_read_timeout`; 0 = never). Keep it above the protocol's own ping interval.
   */
  tunnelIdle?: number;
}

/** Options of `createProxy`. */
export interface ReverseProxyOptions {
  /** Upstream base URLs (`http://127.0.0.1:8000`, optionally with a path prefix). At least one. */
  upstreams: ReadonlyArray<string | URL>;
  /**
   * A shared-mode cache in the middle: a `Cache` (must be `mode: 'shared'`), or a store from
   * `holdfast/cache` (`MemoryStore`, `SqliteStore`, `RedisStore`) to build one. Default none.
   */
  cache?: Cache | CacheStore | null;
  /** Requests in flight per upstream (default unlimited). `1` serialises a single-threaded backend. */
  upstreamConcurrency?: number;
  /**
   * Idle connections towards upstreams (see `UpstreamKeepAlive`). Default `while-queued` when
   * `upstreamConcurrency` is set, else `always`.
   */
  upstreamKeepAlive?: UpstreamKeepAlive;
  /** Request bodies up to this many bytes are read whole before going upstream (default 1 MiB; 0 = always stream). */
  bufferRequests?: number;
  /** Upstream response bytes read ahead of a slow client (default 1 MiB). */
  bufferResponses?: number;
  timeouts?: ReverseProxyTimeouts;
  /** Requests allowed to wait for an upstream slot (default 1024; beyond: 503). */
  queueLimit?: number;
  /** Passive health: `maxFails` consecutive failures skip an upstream for `failTimeout` ms. */
  health?: HealthOptions;
  /** Active health checks (a GET of `path` on each upstream every `interval` ms). Default none. */
  healthCheck?: ActiveHealthOptions | null;
  /** Client-information fields added upstream (default `both`: X-Forwarded-* and Forwarded). */
  forwarded?: ForwardedStyle;
  /** The pseudonym in `Via` (default `holdfast`). */
  via?: string;
  /** Send the client's Host upstream (default true, as Go's ReverseProxy); else the upstream's own. */
  preserveHost?: boolean;
  /** Options of the downstream server (timeouts, limits, TLS). */
  server?: Omit<ServerOptions, 'handler' | 'fetch' | 'upgrade'>;
  /** Extra options of each upstream `Agent` (liveness check, TLS, keep-alive margins...). */
  agent?: Omit<AgentOptions, 'connections' | 'connectTimeout' | 'headersTimeout' | 'bodyTimeout' | 'interceptors'>;
  /**
   * Protocols a client may upgrade to through the proxy (`Upgrade` tokens, case-insensitive,
   * without versions). Default `['websocket']`; `[]` passes no upgrade (the `Upgrade` field is
   * then dropped as hop-by-hop, and the request is an ordinary one).
   */
  upgradeProtocols?: readonly string[];
  /** Told about each tunnel when it has closed (bytes each way, duration): for access logs and metrics. */
  onTunnel?: (record: TunnelRecord) => void;
  /**
   * Told about failures the proxy answered for (upstream errors, cache errors), with the request
   * id of the request concerned when there is one. Default: silent.
   */
  onError?: (err: unknown, context: string, requestId?: string) => void;
}

/** Counters, for monitoring and tests. */
export interface ReverseProxyStats {
  requests: number;
  /** Answers generated by the proxy because of an upstream failure (502 / 503 / 504). */
  upstreamErrors: number;
  /** Requests that went to a second upstream after the first failed without processing them. */
  failovers: number;
  /** Responses cut short because the upstream body failed after the head was sent. */
  truncated: number;
  /** Cache outcomes by name. */
  cache: Partial<Record<CacheOutcome, number>>;
  /** Protocol upgrades (see `ReverseProxyTunnelStats`). */
  tunnels: ReverseProxyTunnelStats;
}

/** Counters of upgrades and the tunnels they opened. Bytes count closed tunnels only. */
export interface ReverseProxyTunnelStats {
  /** Upgrades the upstream accepted (tunnels opened). */
  opened: number;
  /** Upgrade requests the upstream answered with its own (non-101) response. */
  refused: number;
  /** Tunnels open now; each holds one upstream concurrency slot. */
  active: number;
  /** Tunnels closed for their idle timeout. */
  idleTimeouts: number;
  bytesFromClient: number;
  bytesFromUpstream: number;
}

const DEFAULT_BUFFER = 1024 * 1024;
/** The first attempt's exclusions: none (never added to). */
const NONE_TRIED: ReadonlySet<Upstream> = new Set();
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Error codes that mean "waited too long", answered 504 Gateway Timeout. */
const GATEWAY_TIMEOUT = new Set(['HF_CONNECT_TIMEOUT', 'HF_HEADERS_TIMEOUT', 'HF_REQUEST_TIMEOUT', 'HF_BODY_TIMEOUT']);

/**
 * What the forwarding step hands back: the response, its body paced by read-ahead — or the
 * whole body when it had already arrived with the head (the common small response).
 */
interface Forwarded {
  status: number;
  statusText: string;
  headers: HeaderList;
  body: ReadAhead | Uint8Array;
  trailers: () => HeaderList | null;
}

/** A caching reverse proxy. Create with `createProxy`, start with `listen`. */
export class ReverseProxy {
  /** The downstream server. */
  readonly server: Server;
  /** The cache in the middle, or null. */
  readonly cache: Cache | null;
  readonly stats: ReverseProxyStats = {
    requests: 0, upstreamErrors: 0, failovers: 0, truncated: 0, cache: {},
    tunnels: { opened: 0, refused: 0, active: 0, idleTimeouts: 0, bytesFromClient: 0, bytesFromUpstream: 0 },
  };
  private readonly balancer: Balancer;
  private readonly list: Upstream[];
  private readonly bufferRequests: number;
  private readonly bufferResponses: number;
  private readonly forwardedStyle: ForwardedStyle;
  private readonly via: string;
  private readonly preserveHost: boolean;
  private readonly onError: (err: unknown, context: string, requestId?: string) => void;
  private readonly healthCheck: ActiveHealthCheck | null;
  private readonly upgradeProtocols: ReadonlySet<string>;
  private readonly tunnelOptions: TunnelOptions;
  private readonly onTunnel: ((record: TunnelRecord) => void) | null;
  private readonly tunnels = new Set<Tunnel>();
  /** The `Via` value of responses (`1.1 holdfast`), see `respond`. */
  private readonly responseVia: string;
  /** Per stored response (the memory store hands out the same object on every hit): its fields as a hit sends them. */
  private readonly storedHeads = new WeakMap<StoredEntry, StoredHead>();

  constructor(options: ReverseProxyOptions) {
    if (options === undefined || !Array.isArray(options.upstreams) || options.upstreams.length === 0) {
      throw new InvalidOptionError('upstreams', 'createProxy needs at least one upstream');
    }
    const concurrency = amountOption('upstreamConcurrency', options.upstreamConcurrency ?? Infinity, false, true);
    const keepAlive = oneOfOption('upstreamKeepAlive', options.upstreamKeepAlive ?? (Number.isFinite(concurrency) ? 'while-queued' : 'always'), ['always', 'while-queued', 'never']);
    const t = options.timeouts ?? {};
    const health = {
      maxFails: amountOption('health.maxFails', options.health?.maxFails ?? 1, false, true),
      failTimeout: durationOption('health.failTimeout', options.health?.failTimeout ?? 10_000, true),
    };
    this.list = options.upstreams.map(
      (u) =>
        new Upstream({
          url: String(u),
          concurrency,
          keepAlive,
          health,
          agent: {
            ...options.agent,
            connectTimeout: durationOption('timeouts.connect', t.connect ?? 5_000, true),
            headersTimeout: durationOption('timeouts.headers', t.headers ?? 60_000, true),
            bodyTimeout: durationOption('timeouts.body', t.body ?? 60_000, true),
          },
        }),
    );
    this.balancer = new Balancer(this.list, {
      queueLimit: amountOption('queueLimit', options.queueLimit ?? 1024, true, true),
      queueTimeout: durationOption('timeouts.queue', t.queue ?? 60_000, true),
    });
    this.bufferRequests = amountOption('bufferRequests', options.bufferRequests ?? DEFAULT_BUFFER, true);
    this.bufferResponses = Math.max(1, amountOption('bufferResponses', options.bufferResponses ?? DEFAULT_BUFFER, true));
    this.forwardedStyle = oneOfOption('forwarded', options.forwarded ?? 'both', ['x-forwarded', 'forwarded', 'both', 'none']);
    this.via = options.via ?? 'holdfast';
    this.responseVia = `1.1 ${this.via}`;
    this.preserveHost = booleanOption('preserveHost', options.preserveHost ?? true);
    this.onError = options.onError ?? (() => {});
    const raw: unknown = options.upgradeProtocols ?? ['websocket'];
    const items: readonly unknown[] = Array.isArray(raw) ? raw : [raw];
    const protocols = new Set<string>();
    for (const p of items) {
      if (!Array.isArray(raw) || typeof p !== 'string' || !isToken(p)) {
        throw new InvalidOptionError('upgradeProtocols', 'a list of protocol tokens, e.g. ["websocket"]');
      }
      protocols.add(p.toLowerCase());
    }
    this.upgradeProtocols = protocols;
    this.tunnelOptions = { idleTimeout: durationOption('timeouts.tunnelIdle', t.tunnelIdle ?? 60_000, true), closeTimeout: 5_000 };
    this.onTunnel = options.onTunnel ?? null;
    const c = options.cache ?? null;
    if (c === null) this.cache = null;
    else if (c instanceof Cache) {
      // A private-mode cache would store `private` responses and serve one user's page to another.
      if (c.mode !== 'shared') throw new InvalidOptionError('cache', "a proxy's cache must be created with mode: 'shared'");
      this.cache = c;
    } else {
      // The cache's RFC 9211 Cache-Status entry names this proxy, as its Via does.
      this.cache = createCache({ store: c, mode: 'shared', cacheStatus: { name: this.via }, onError: (err, context) => this.onError(err, `cache ${context}`) });
    }
    // A fresh cache hit is answered without a promise: the server calls `.then` only on the
    // promise of a forwarded request.
    this.server = createServer({
      ...options.server,
      handler: (req, res) => this.route(req, res, newExchange()),
    });
    const check = options.healthCheck ?? null;
    this.healthCheck = check === null ? null : new ActiveHealthCheck(this.list, check, options.agent?.tls);
  }

  /** The upstreams and their state. */
  get upstreams(): UpstreamStatus[] {
    return this.list.map((u) => u.status());
  }

  /** Requests waiting for an upstream slot. */
  get queued(): number {
    return this.balancer.waiting;
  }

  /** Starts listening; `listen(0, '127.0.0.1')` picks a free port. */
  listen(portOrOptions?: number | ListenOptions, hostname?: string): Promise<AddressInfo> {
    return this.server.listen(portOrOptions, hostname);
  }

  /** `http://host:port` of the listening proxy. */
  get url(): string {
    return this.server.url;
  }

  /**
   * Graceful shutdown: the server stops accepting and finishes in-flight requests (force-closing
   * after `timeout`), waiting requests fail with 503, then upstream connections close. A store
   * passed in `cache` belongs to the caller and is not closed.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    // Tunnels are busy connections: they may finish within the timeout, else they are closed at
    // it. Armed before the server's own deadline (same delay, so it fires first) for the record
    // to say `shutdown` rather than which socket happened to go first.
    const deadline = setTimeout(() => {
      for (const t of this.tunnels) t.destroy();
    }, options.timeout ?? 10_000);
    deadline.unref();
    const serverClosed = this.server.close(options);
    await serverClosed;
    clearTimeout(deadline);
    await this.healthCheck?.stop();
    this.balancer.close();
    await Promise.all(this.list.map((u) => u.agent.destroy()));
    if (this.cache !== null) await this.cache.idle();
  }

  /** `await using proxy = createProxy(...)`: graceful `close()` when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * The streaming handler (usable in another holdfast server: `createServer({ handler:
   * proxy.handle })`). `exchange`, when given, is filled in with what happened to the request
   * (for access logs and metrics); its `requestId` is echoed downstream as `X-Request-Id`.
   */
  readonly handle = (req: ServerRequest, res: ResponseWriter, exchange: ProxyExchange = newExchange()): Promise<void> => {
    try {
      return this.route(req, res, exchange) ?? RESOLVED;
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };

  /** A fresh cache hit answered at once (undefined: nothing to wait for), or the request proxied. */
  private route(req: ServerRequest, res: ResponseWriter, exchange: ProxyExchange): Promise<void> | undefined {
    return this.cache !== null && this.answerFreshHit(req, res, exchange) ? undefined : this.proxyRequest(req, res, exchange);
  }

  /**
   * A fresh cache hit for a plain GET or HEAD, answered at once (`Cache.freshHit`: a store that
   * answers synchronously, the memory store). Returns false, having done nothing, whenever the
   * request needs more than that: then `proxyRequest` handles it, through the cache as always.
   *
   * What makes this the same answer `proxyRequest` gives: the request is one the proxy would pass to
   * its cache unchanged in every field the cache reads (origin-form target the URL parser keeps
   * as it is, no body, no upgrade, no Expect, no field named in Connection; stored responses that
   * vary on a field the proxy adds or removes are left to `proxyRequest`), and the response is built
   * from the stored fields as `respond` builds it: hop-by-hop fields out, then Age, Cache-Status,
   * the stored Content-Length, Via and X-Request-Id — serialised once per stored response, then
   * written with the body in one write.
   */
  private answerFreshHit(req: ServerRequest, res: ResponseWriter, exchange: ProxyExchange): boolean {
    const method = req.method;
    if ((method !== 'GET' && method !== 'HEAD') || req.framing.kind !== 'none' || req.head.upgrade.length > 0) return false;
    const target = req.target;
    if (!urlKeepsPath(target) || !isStrictTarget(target)) return false;
    const headers = req.headers;
    if (headers.has('expect') || (headers.has('connection') && !namesOnlyKeepAlive(headers))) return false;
    const url = requestUrl(req.secure ? 'https' : 'http', req.head.authority, target, 'upstream');
    const hit = this.cache!.freshHit(method, url, headers, varyUsableOnHit);
    if (hit === undefined) return false;
    this.stats.requests++;
    this.stats.cache.hit = (this.stats.cache.hit ?? 0) + 1;
    exchange.cacheOutcome = 'hit';
    const entry = hit.entry;
    let stored = this.storedHeads.get(entry);
    if (stored === undefined) {
      stored = storedHead(entry);
      this.storedHeads.set(entry, stored);
    }
    const requestId = exchange.requestId;
    const fields = (requestId !== null ? stored.fieldsWithoutRequestId : stored.fields).slice();
    fields.push(['age', hit.age]);
    if (hit.cacheStatus !== undefined) fields.push(['cache-status', hit.cacheStatus]);
    if (stored.length !== undefined) fields.push(['content-length', stored.length]);
    fields.push(['via', this.responseVia]);
    if (requestId !== null) fields.push(['x-request-id', requestId]);
    res.writeHead(entry.status, fields, entry.statusText === '' ? undefined : entry.statusText);
    const noBody = responseHasNoBody(method, entry.status);
    if (!noBody) exchange.bytes = entry.body.byteLength;
    res.end(noBody ? null : entry.body).then(undefined, (err: unknown) => {
      try {
        this.onError(err, 'downstream', requestId ?? undefined);
      } catch {
        // Nobody awaits this write: a throwing observer must not become an unhandled rejection.
      }
    });
    return true;
  }

  /** Everything but a fresh cache hit (see `handle`). */
  private readonly proxyRequest = async (req: ServerRequest, res: ResponseWriter, exchange: ProxyExchange): Promise<void> => {
    this.stats.requests++;
    let target: ProxyTarget;
    try {
      target = requestTarget(req);
    } catch (err) {
      return this.answerError(res, err, 'target', exchange);
    }
    const headers = stripHopByHop(req.headers);
    // Upgrade is hop-by-hop; an allowed one is asked for again, on a connection of its own.
    const asked = req.head.upgrade;
    const upgrade = asked.length === 0 ? asked : asked.filter((p) => this.upgradeProtocols.has(p));
    // The proxy deals with the expectation itself (see requestBuffer.ts): it is not forwarded.
    headers.delete('expect');
    // In origin-form the Host line (the parser allows one) is already the one to send.
    const host = target.authority === null ? undefined : formatAuthority(target.authority);
    if (target.absolute && host !== undefined) headers.set('host', host);
    if (!this.preserveHost) headers.delete('host');
    addForwarded(headers, { remoteAddress: req.remoteAddress, proto: req.secure ? 'https' : 'http', host, versionMinor: req.versionMinor }, this.forwardedStyle);
    appendVia(headers, req.versionMinor, this.via);
    if (upgrade.length > 0) return this.upgrade(req, res, target.pathAndQuery, headers, upgrade, exchange);

    // A failing upload (client gone, malformed chunked body, over maxBodySize) throws here, before
    // anything was sent upstream; the server answers it (400/413) when it still can.
    // (Most requests have no body: no promise to wait for then.)
    const body = req.framing.kind === 'none' ? null : await prepareRequestBody(req, this.bufferRequests);
    if (exchange.requestId !== null) headers.set('x-request-id', exchange.requestId);
    // Interim responses go on to the client as they come (RFC 9110 §15.2), never into the cache:
    // 103 Early Hints lets a browser fetch the page's resources while the backend still works.
    // A 100 answers the proxy's own `Expect` (the client's was answered by the proxy itself).
    const interim = (status: number, fields: HeaderList): void => {
      if (status === 100 || res.headSent || res.finished || req.aborted) return;
      try {
        res.writeInformational(status, stripHopByHop(fields));
      } catch (err) {
        // A field the server will not serialise must not fail the upstream exchange under way.
        this.onError(err, 'interim response', exchange.requestId ?? undefined);
      }
    };

    // The cache keys on `new URL()`, which would file `/a/../b` under `/b` although the backend
    // is asked for `/a/../b` and may answer it differently: such reads skip the cache. Unsafe
    // methods still pass through it, for the invalidation their normalised URL causes.
    // (Checked only with a cache: `new URL()` per request is not free.)
    // `OPTIONS *` names no resource: nothing to look up or invalidate.
    const cache = target.pathAndQuery === '*' || (this.cache !== null && (req.method === 'GET' || req.method === 'HEAD') && urlRewrites(target.pathAndQuery)) ? null : this.cache;
    // Aborting the upstream exchange when the client goes away; not with a cache, where the
    // response may be wanted by collapsed requests and by the next client.
    const signal = cache === null || req.method !== 'GET' ? req.signal : undefined;
    let out: { status: number; statusText: string; headers: HeaderList; body: Uint8Array | AsyncIterable<Uint8Array>; trailers: () => HeaderList | null; stripped: boolean };
    try {
      if (cache !== null) {
        // From the validated parts, never Host pasted before the target: `Host: victim#` with
        // `GET /evil` would otherwise be stored as `http://victim/` and served for every `/`.
        const cacheUrl = requestUrl(req.secure ? 'https' : 'http', target.authority, target.pathAndQuery, 'upstream');
        const creq: CacheRequest = { method: req.method, url: cacheUrl, headers };
        let trailers: () => HeaderList | null = () => null;
        const next = async (r: CacheRequest): Promise<CacheResponse> => {
          const f = await this.forward(r.method, target.pathAndQuery, r.headers, body, signal, exchange, interim);
          trailers = f.trailers;
          return { status: f.status, statusText: f.statusText, headers: f.headers, body: f.body };
        };
        const cres = await cache.handle(creq, next);
        const outcome = cres.cacheOutcome ?? null;
        if (outcome !== null) this.stats.cache[outcome] = (this.stats.cache[outcome] ?? 0) + 1;
        exchange.cacheOutcome = outcome;
        out = { status: cres.status, statusText: cres.statusText, headers: cres.headers, body: cres.body, trailers: () => trailers(), stripped: false };
      } else {
        const f = await this.forward(req.method, target.pathAndQuery, headers, body, signal, exchange, interim);
        // `forward` already stripped hop-by-hop fields and re-derived the length.
        out = { status: f.status, statusText: f.statusText, headers: f.headers, body: f.body, trailers: f.trailers, stripped: true };
      }
    } catch (err) {
      return this.answerError(res, err, 'upstream', exchange);
    }
    await this.respond(req, res, out.status, out.statusText, out.headers, out.body, out.trailers, out.stripped, exchange);
  };

  /**
   * Sends one request upstream: takes a slot, dispatches through the upstream's agent, and fails
   * over to another upstream when that is certainly safe (nothing was processed) or the request
   * is idempotent with a replayable body.
   */
  private async forward(method: string, pathAndQuery: string, headers: HeaderList, body: PreparedBody | null, signal: AbortSignal | undefined, exchange: ProxyExchange, interim: (status: number, headers: HeaderList) => void): Promise<Forwarded> {
    // Upstreams already tried, created only when a second attempt is made.
    let tried: Set<Upstream> | null = null;
    let lastError: ClientError | null = null;
    for (let attempt = 0; attempt < this.list.length; attempt++) {
      let lease: Lease;
      try {
        const exclude = tried ?? NONE_TRIED;
        lease = this.balancer.tryAcquire(exclude) ?? await this.balancer.acquire(exclude, signal);
      } catch (err) {
        // Every upstream was tried: the last upstream error says more than "none left".
        if (err instanceof ProxyError && err.code === 'HF_PROXY_NO_UPSTREAM' && lastError !== null) throw lastError;
        throw err;
      }
      const u = lease.upstream;
      exchange.upstream = u.url;
      const sentAt = performance.now();
      // The agent only reads the headers (it serialises its own copy), so they need copying only
      // when this attempt adds to them and a later attempt must not see it.
      let h = headers;
      if (u.keepAlive === 'never') h = headers.clone().set('connection', 'close');
      let res: ClientResponse;
      try {
        const asterisk = pathAndQuery === '*';
        res = await u.agent.request(asterisk ? u.origin : u.prefix === '' ? u.origin + pathAndQuery : u.url + pathAndQuery, {
          // The URL only picks the upstream: `new URL()` would resolve dot-segments and re-encode
          // the path, letting `/public/../admin` past a backend's access rule or breaking a signed
          // URL. The request line carries the client's bytes (behind the upstream's prefix).
          target: asterisk ? '*' : u.prefix + pathAndQuery,
          // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET and goes on as sent.
          exactMethod: true,
          method,
          headers: h,
          body: body?.body ?? null,
          signal,
          expectContinue: body?.expectContinue === true,
          onInformational: interim,
        });
      } catch (err) {
        lease.release();
        if (!(err instanceof ClientError)) throw err;
        if (isUpstreamFailure(err)) u.recordFailure();
        lastError = err;
        if (!this.mayTryAnother(err, method, body)) throw err;
        (tried ??= new Set()).add(u);
        this.stats.failovers++;
        exchange.retries++;
        this.onError(err, `upstream ${u.url} (trying another)`, exchange.requestId ?? undefined);
        continue;
      }
      if (res.status === 101) {
        // Upgrade was stripped from the request, so a 101 is a protocol error of the upstream.
        lease.release();
        u.recordFailure();
        throw new ProxyError('HF_PROXY_UPSTREAM_PROTOCOL', `upstream ${u.url} switched protocols although no upgrade was requested`, 502);
      }
      u.recordSuccess();
      exchange.upstreamMs = performance.now() - sentAt;
      const out = stripHopByHop(res.headers);
      // Re-derive framing: the length the client's strict parser accepted, never the line as sent.
      if (!res.headers.has('transfer-encoding')) {
        try {
          const length = parseContentLength(res.headers);
          if (length !== undefined) out.set('content-length', String(length));
        } catch {
          // The client would not have accepted an invalid Content-Length; nothing to carry over.
        }
      }
      const trailers = (): HeaderList | null => res.trailers;
      if (res.body.complete && (res.trailers === null || res.trailers.size === 0)) {
        // The body arrived with the head (a small response): the upstream side is finished, so
        // the slot goes back now, and the writer sends head and body in one write without
        // read-ahead or async iteration — taken at once, not through `bytes()`'s promise.
        lease.release();
        const whole = res.body.takeWhole();
        return { status: res.status, statusText: res.statusText, headers: out, body: whole ?? await res.body.bytes(), trailers };
      }
      const readAhead = new ReadAhead(res.body, this.bufferResponses, () => lease.release());
      return { status: res.status, statusText: res.statusText, headers: out, body: readAhead, trailers };
    }
    throw lastError ?? new ProxyError('HF_PROXY_NO_UPSTREAM', 'no upstream could be tried', 502);
  }

  /**
   * An upgrade request (RFC 9110 §7.8): asked again upstream on a fresh connection, holding one
   * upstream slot for the tunnel's whole life (so with `upstreamConcurrency: 1` an open WebSocket
   * makes every other request to that upstream wait). Never cached (it is not a cacheable
   * exchange), never retried nor failed over (the client may have meant the one upstream it
   * reached, and a tunnel cannot be replayed). A refusal is relayed as the upstream's response,
   * after which the client's connection carries HTTP again.
   */
  private async upgrade(req: ServerRequest, res: ResponseWriter, pathAndQuery: string, headers: HeaderList, protocols: readonly string[], exchange: ProxyExchange): Promise<void> {
    // The client's own tokens (with versions, `websocket/13`) among those allowed, in its order.
    const asked = splitList(req.headers.get('upgrade') ?? '').filter((t) => protocols.includes((t.split('/')[0] ?? t).toLowerCase()));
    let lease: Lease;
    try {
      lease = await this.balancer.acquire(new Set(), req.signal);
    } catch (err) {
      return this.answerError(res, err, 'upstream', exchange);
    }
    const u = lease.upstream;
    exchange.upstream = u.url;
    const sentAt = performance.now();
    let result: UpgradeResult;
    try {
      result = await u.agent.upgrade(u.prefix === '' ? u.origin + pathAndQuery : u.url + pathAndQuery, {
        protocol: asked.join(', '),
        method: req.method,
        headers,
        target: u.prefix + pathAndQuery,
      });
    } catch (err) {
      lease.release();
      if (err instanceof ClientError && isUpstreamFailure(err)) u.recordFailure();
      return this.answerError(res, err, 'upstream', exchange);
    }
    u.recordSuccess();
    exchange.upstreamMs = performance.now() - sentAt;
    const upstreamRes = result.response;
    if (!result.upgraded) {
      this.stats.tunnels.refused++;
      const out = stripHopByHop(upstreamRes.headers);
      const length = upstreamRes.headers.has('transfer-encoding') ? undefined : safeContentLength(upstreamRes.headers);
      if (length !== undefined) out.set('content-length', String(length));
      const body = new ReadAhead(upstreamRes.body, this.bufferResponses, () => lease.release());
      return this.respond(req, res, upstreamRes.status, upstreamRes.statusText, out, body, () => upstreamRes.trailers, true, exchange);
    }
    const { socket: upstreamSocket, head: upstreamHead } = result;
    const out = stripHopByHop(upstreamRes.headers);
    out.set('upgrade', upstreamRes.headers.get('upgrade')!);
    appendVia(out, 1, this.via);
    let switched;
    try {
      switched = res.switchProtocols(out);
    } catch (err) {
      // The client went away while the upstream agreed.
      upstreamSocket.destroy();
      lease.release();
      this.onError(err, 'downstream');
      return;
    }
    const tunnels = this.stats.tunnels;
    tunnels.opened++;
    tunnels.active++;
    const protocol = upgradeGranted(101, upstreamRes.headers, protocols) ?? protocols[0]!;
    let closed: (record: TunnelRecord) => void = () => {};
    exchange.tunnel = new Promise<TunnelRecord>((resolve) => (closed = resolve));
    const tunnel = new Tunnel(switched.socket, switched.head, upstreamSocket, upstreamHead, this.tunnelOptions, (t, reason, durationMs) => {
      this.tunnels.delete(t);
      lease.release();
      tunnels.active--;
      tunnels.bytesFromClient += t.bytesFromClient;
      tunnels.bytesFromUpstream += t.bytesFromUpstream;
      if (reason === 'idle-timeout') tunnels.idleTimeouts++;
      const record: TunnelRecord = {
        protocol, upstream: u.url, target: req.target, remoteAddress: req.remoteAddress,
        bytesFromClient: t.bytesFromClient, bytesFromUpstream: t.bytesFromUpstream, durationMs, reason,
      };
      this.onTunnel?.(record);
      closed(record);
    });
    if (tunnel.active) this.tunnels.add(tunnel);
  }

  /** Whether a failed attempt may be repeated on another upstream. */
  private mayTryAnother(err: ClientError, method: string, body: PreparedBody | null): boolean {
    if (this.list.length < 2) return false;
    if (err.code === 'HF_ABORTED' || err.code === 'HF_REQUEST_BODY' || err.code === 'HF_INVALID_REQUEST') return false;
    const bodyUsable = body === null || body.body.usable;
    if (!err.mayHaveBeenProcessed) return bodyUsable;
    // Processed maybe, but repeating an idempotent request is harmless — except after a timeout,
    // where a second full wait would double the client's.
    if (GATEWAY_TIMEOUT.has(err.code)) return false;
    return IDEMPOTENT.has(method) && (body === null || body.buffered);
  }

  /**
   * Writes the upstream's (or the cache's) response downstream. Not an async function: a whole
   * body (the common small response) is written at once and only the end's promise is handed
   * back; a streamed body goes through `streamBody`. Callers await it inside their own async
   * function, so a synchronous throw here fails them as a rejection would.
   */
  private respond(
    req: ServerRequest,
    res: ResponseWriter,
    status: number,
    statusText: string,
    upstreamHeaders: HeaderList,
    body: Uint8Array | AsyncIterable<Uint8Array>,
    trailers: () => HeaderList | null,
    stripped: boolean,
    exchange: ProxyExchange,
  ): Promise<void> {
    // Stored responses have had hop-by-hop fields removed already; strip again for the
    // cache-generated and pass-through ones, keeping the length the proxy itself derived.
    // Straight from `forward` (`stripped`) the list is already a fresh, stripped copy.
    let headers = upstreamHeaders;
    if (!stripped) {
      const length = keptContentLength(upstreamHeaders);
      headers = stripHopByHop(upstreamHeaders);
      if (length !== undefined) headers.set('content-length', length);
    }
    appendVia(headers, 1, this.via);
    if (exchange.requestId !== null) headers.set('x-request-id', exchange.requestId);
    if (status < 200) {
      // A 1xx cannot be a final answer.
      return cancelBody(body).then(() => this.answerError(res, new ProxyError('HF_PROXY_UPSTREAM_PROTOCOL', `upstream sent ${status} as a final response`, 502), 'upstream', exchange));
    }
    res.writeHead(status, headers, statusText === '' ? undefined : statusText);
    const noBody = responseHasNoBody(req.method, status);
    if (body instanceof ReadAhead && !noBody && (trailers()?.size ?? 0) === 0) {
      // A small response is usually complete by now: one write for head and body.
      const whole = body.takeWhole();
      if (whole !== null) body = whole;
    }
    if (body instanceof Uint8Array) {
      if (!noBody) exchange.bytes = body.byteLength;
      return res.end(noBody ? null : body).then(undefined, (err: unknown) => this.onError(err, 'downstream', exchange.requestId ?? undefined));
    }
    return this.streamBody(req, res, body, trailers, exchange);
  }

  /** The streamed part of `respond`: the body chunk by chunk, then the trailers. */
  private async streamBody(req: ServerRequest, res: ResponseWriter, body: AsyncIterable<Uint8Array>, trailers: () => HeaderList | null, exchange: ProxyExchange): Promise<void> {
    let wrote = false;
    try {
      for await (const chunk of body) {
        wrote = true;
        exchange.bytes += chunk.byteLength;
        await res.write(chunk);
      }
    } catch (err) {
      if (res.finished || req.aborted) return; // the client went away; the upstream body was cancelled by for-await
      if (!wrote && !res.headSent) {
        // Nothing reached the client yet: a clean 502 is still possible.
        return this.answerError(res, err, 'upstream body', exchange);
      }
      // Half a response was sent: the client must see a truncated message, never a complete wrong one.
      this.stats.truncated++;
      this.onError(err, 'upstream body', exchange.requestId ?? undefined);
      res.abort(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const t = trailers();
    await res.end(null, t !== null && t.size > 0 ? stripHopByHop(t) : undefined).catch((err: unknown) => this.onError(err, 'downstream', exchange.requestId ?? undefined));
  }

  /** Answers an upstream or proxy failure: 502, 503 or 504 with a short body saying why. */
  private async answerError(res: ResponseWriter, err: unknown, context: string, exchange: ProxyExchange): Promise<void> {
    this.onError(err, context, exchange.requestId ?? undefined);
    if (res.request.aborted) return; // nobody to answer
    if (res.headSent || res.finished) {
      res.abort(err instanceof Error ? err : undefined);
      return;
    }
    let status = 502;
    let text: string;
    if (err instanceof ClientError) {
      if (GATEWAY_TIMEOUT.has(err.code)) status = 504;
      else if (err.code === 'HF_QUEUE_FULL' || err.code === 'HF_POOL_CLOSED') status = 503;
      text = `upstream request failed: ${err.code} in phase ${err.phase}${err.mayHaveBeenProcessed ? ' (the upstream may have processed it)' : ''}: ${err.message}`;
    } else if (err instanceof ProxyError) {
      status = err.status;
      text = `${err.code}: ${err.message}`;
    } else {
      const code = (err as { code?: unknown } | null)?.code;
      text = `proxy error${typeof code === 'string' ? ` ${code}` : ''}: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (status === 502 || status === 504 || status === 503) this.stats.upstreamErrors++;
    const headers = new HeaderList({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', via: `1.1 ${this.via}` });
    if (exchange.requestId !== null) headers.set('x-request-id', exchange.requestId);
    res.writeHead(status, headers);
    const message = `${text}\n`;
    exchange.bytes = Buffer.byteLength(message);
    await res.end(message).catch(() => {});
  }
}

const RESOLVED = Promise.resolve();

/**
 * Request fields a proxy adds, removes or rewrites before its cache sees the request (besides the
 * hop-by-hop ones): a stored response that varies on one of them is selected by `proxyRequest`, which
 * selects it with the request as forwarded.
 */
const PROXY_REWRITTEN: ReadonlySet<string> = new Set(['host', 'expect', 'via', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-request-id']);

function varyUsableOnHit(field: string): boolean {
  return !isHopByHop(field) && !PROXY_REWRITTEN.has(field);
}

/** Whether Connection names no field but Keep-Alive (which goes anyway): `close` is an option, not a field. */
function namesOnlyKeepAlive(headers: HeaderList): boolean {
  for (const name of connectionNominated(headers)) if (name !== 'keep-alive') return false;
  return true;
}

/** A stored response's fields as a cache hit sends them, worked out once per stored response. */
interface StoredHead {
  /** The stored fields without hop-by-hop ones (Content-Length among them, as `respond` strips) nor Age. */
  fields: ReadonlyArray<[string, string]>;
  /** The stored Content-Length when it is one `respond` would keep, else undefined. */
  length: string | undefined;
  /** `fields` without X-Request-Id, for a hit that sends the request's own id. */
  fieldsWithoutRequestId: ReadonlyArray<[string, string]>;
}

/**
 * The Content-Length a response keeps through the proxy (hop-by-hop stripping drops it with the
 * framing): a single plain value, the only kind the strict parser let through unchanged.
 */
function keptContentLength(headers: HeaderList): string | undefined {
  const length = headers.get('content-length');
  return length !== undefined && isLengthValue(length) ? length : undefined;
}

function storedHead(entry: StoredEntry): StoredHead {
  const fields = stripHopByHop(entry.headers).entries().filter(([n]) => n.toLowerCase() !== 'age');
  return {
    fields,
    length: keptContentLength(entry.headers),
    fieldsWithoutRequestId: fields.filter(([n]) => n.toLowerCase() !== 'x-request-id'),
  };
}

/** The Content-Length the client's strict parser accepted, or undefined. */
function safeContentLength(headers: HeaderList): number | undefined {
  try {
    return parseContentLength(headers);
  } catch {
    return undefined;
  }
}

/** Cancels a body that will not be sent. */
async function cancelBody(body: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
  if (body instanceof Uint8Array) return;
  await body[Symbol.asyncIterator]().return?.();
}

/** Where a request goes: its path (or `*`) and the authority the client asked for. */
interface ProxyTarget {
  /** Origin-form path and query as sent, or `*` for `OPTIONS *`. */
  pathAndQuery: string;
  /** The validated authority (absolute-form target, else Host); null when the request has none. */
  authority: Authority | null;
  absolute: boolean;
}

/**
 * The upstream path and the authority the client asked for. Origin-form passes as sent;
 * absolute-form (`GET http://host/path`) is accepted as RFC 9112 §3.2.2 requires of servers, its
 * authority replacing Host and its path passing as sent; `OPTIONS *` (asterisk-form) is forwarded.
 * A target that is no URI (`#`, `%zz`, `"`, `<`, `>`) is refused rather than handed to a backend
 * to guess at. CONNECT is not proxied.
 */
function requestTarget(req: ServerRequest): ProxyTarget {
  if (req.method === 'CONNECT') throw new ProxyError('HF_PROXY_BAD_TARGET', 'CONNECT is not supported by this reverse proxy', 501);
  const t = req.target;
  // The server's parser validated Host and an absolute-form authority (wire/authority.ts).
  const authority = req.head.authority;
  if (t === '*') {
    if (req.method !== 'OPTIONS') throw new ProxyError('HF_PROXY_BAD_TARGET', `asterisk-form is only for OPTIONS, not ${req.method}`, 400);
    return { pathAndQuery: '*', authority, absolute: false };
  }
  if (!isStrictTarget(t)) throw new ProxyError('HF_PROXY_BAD_TARGET', `invalid request target ${JSON.stringify(t.slice(0, 80))}`, 400);
  if (t.charCodeAt(0) === 0x2f) return { pathAndQuery: t, authority, absolute: false };
  const absolute = parseAbsoluteTarget(t);
  if (absolute === null) throw new ProxyError('HF_PROXY_BAD_TARGET', `request target ${JSON.stringify(t.slice(0, 80))} cannot be proxied`, 400);
  return { pathAndQuery: absolute.pathAndQuery, authority: absolute.authority, absolute: true };
}

/** Whether `new URL()` would turn this origin-form target into another path or query. */
function urlRewrites(pathAndQuery: string): boolean {
  if (urlKeepsPath(pathAndQuery)) return false; // the common case, without parsing a URL
  try {
    const u = new URL(pathAndQuery, 'http://x');
    return `${u.pathname}${u.search}` !== pathAndQuery;
  } catch {
    return true;
  }
}

/**
 * Creates a caching reverse proxy (not yet listening).
 *
 * ```ts
 * import { createProxy } from 'holdfast/proxy';
 * import { SqliteStore } from 'holdfast/cache';
 * const proxy = createProxy({
 *   upstreams: ['http://127.0.0.1:8000'],
 *   upstreamConcurrency: 1,
 *   cache: new SqliteStore({ directory: '.cache/proxy' }),
 * });
 * await proxy.listen(8080, '127.0.0.1');
 * ```
 */
export function createProxy(options: ReverseProxyOptions): ReverseProxy {
  return new ReverseProxy(options);
}
