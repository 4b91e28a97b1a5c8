/**
 * The cache layer: RFC 9111 in front of any `next` hop. Policy lives in pure functions beside this
 * file; this file sequences them and talks to the store.
 *
 * The seed-003 race (two processes, one store, Vary: Accept-Encoding, a 304 that can no longer be
 * matched, a raw 304 handed to a caller) cannot happen here, by construction:
 * 1. the response being validated is read whole from the store *before* the conditional request
 *    is sent, and kept at hand; only its validators are sent;
 * 2. a 304 is matched against that held response (§4.3.4) and the answer is built from it, never
 *    from a second read of the store that another process may have changed meanwhile;
 * 3. the store is updated by compare-and-set on the entry id, so a concurrent replacement wins;
 * 4. if the 304 does not match, the request is repeated unconditionally; a 304 to an
 *    unconditional request is an error ({@link Unexpected304Error}), never an answer.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { CacheMode, CacheRequest, CacheResponse, Next, StoredEntry } from './types.ts';
import { HeaderList } from '../wire/headers.ts';
import { formatHttpDate } from '../wire/httpDate.ts';
import { stripHopByHop } from '../wire/hopByHop.ts';
import { isToken } from '../wire/chars.ts';
import type { CacheStore } from './store.ts';
import { parseRequestDirectives, deltaSeconds } from './cacheControl.ts';
import type { Directives } from './cacheControl.ts';
import { DEFAULT_HEURISTICS, ageHeaderValue, currentAge, freshnessLifetime } from './freshness.ts';
import type { HeuristicOptions } from './freshness.ts';
import { whyNotStorable } from './storability.ts';
import { normalizedFieldValue, selectVariant, variantKey, varyFields } from './vary.ts';
import { CONDITIONAL_REQUEST_FIELDS, conditionalHeaders, hasValidator, mergeNotModified, notModifiedMatches, sharesStrongValidator } from './revalidation.ts';
import { conditionsSayNotModified, hasCallerConditions, notModifiedFor } from './conditions.ts';
import { invalidationKeys } from './invalidation.ts';
import { ERROR_STATUSES, decideReuse, staleForbidden, staleIfErrorAllows } from './reuse.ts';
import { CDN_CACHE_CONTROL, responsePolicy } from './targeted.ts';
import type { ResponsePolicy } from './targeted.ts';
import { CacheStatusNote, cacheStatusMember } from './cacheStatus.ts';
import { serializeTokenOrString } from '../wire/structuredFields.ts';
import type { ForwardReason } from './cacheStatus.ts';
import { combineParts, partSatisfies, rangeFromPart, rangeFromStored } from './ranges.ts';
import { cacheKey } from './cacheKey.ts';
import { Flights, awaitLease, keepLease } from './collapse.ts';
import { bufferUpTo, cancel, drain } from './body.ts';
import { StoreUnavailableError, StoreTimeoutError, Unexpected304Error, describeError } from './errors.ts';
import { StoreGuard } from './storeGuard.ts';
import type { BreakerState, StoreGuardOptions } from './storeGuard.ts';
import { InvalidOptionError, amountOption, durationOption, oneOfOption } from '../wire/optionValidation.ts';
import type { Interceptor } from '../client/dispatch.ts';
import { cacheInterceptor } from './clientInterceptor.ts';

/** Options of {@link createCache}. */
export interface CacheOptions {
  /** Where responses are kept: `new MemoryStore()`, `new SqliteStore({ directory })`, `await RedisStore.connect(...)`... */
  store: CacheStore;
  /** `private` (default): a user agent's cache. `shared`: a proxy's (RFC 9111 §3.5, s-maxage, private). */
  mode?: CacheMode;
  /**
   * Request collapsing: `'store'` (default) collapses within the process and, through a lease in
   * the store, across processes; `'process'` only within the process; `false` never.
   */
  collapse?: 'store' | 'process' | false;
  /** Lease expiry, ms: how long a crashed holder can hold others back. Default 10 000. */
  leaseTtlMs?: number;
  /** How long to wait for another process's lease before fetching anyway, ms. Default `leaseTtlMs`. */
  leaseWaitMs?: number;
  /** Seconds a stale response with a validator is kept for revalidation. Default 86 400. */
  staleRetentionSeconds?: number;
  /** Responses with bodies larger than this are passed through unstored. Default 16 MiB. */
  maxEntryBytes?: number;
  /** Heuristic freshness (RFC 9111 §4.2.2). Default 10% of the time since Last-Modified, at most a day. */
  heuristics?: Partial<HeuristicOptions>;
  /** Clock, ms since the epoch (tests inject one). Default `Date.now`. */
  now?: () => number;
  /**
   * Told about errors the cache absorbs (store failures, background revalidation failures).
   * Store failures are told only while the store's circuit breaker is closed: once it opens,
   * its `onStateChange` speaks for the outage.
   */
  onError?: (error: unknown, context: string) => void;
  /**
   * Bounds on store operations and the store's circuit breaker ({@link StoreGuard}): each
   * operation waits at most `timeoutMs` (default 500), and after `failureThreshold` (5)
   * failures among the last 2 × that many operations the store is skipped for `coolDownMs`
   * (2000), then probed. `false`
   * calls the store unguarded. A store that is already a `StoreGuard` is used as it is.
   */
  storeGuard?: StoreGuardOptions | false;
  /**
   * Shared mode: the targeted cache-control fields this cache obeys, first match wins (RFC 9213).
   * Default `['cdn-cache-control']`; a proxy that wants its own puts its field first, e.g.
   * `['example-cdn-cache-control', 'cdn-cache-control']`. `[]` obeys `Cache-Control` only.
   */
  targetedFields?: readonly string[];
  /**
   * RFC 9211 `Cache-Status`: this cache's entry is appended to every response it answers or
   * forwards. `name` identifies the cache (default `holdfast`); `key: true` adds the cache key.
   * `false` adds no entry (`cacheOutcome` still says what happened).
   */
  cacheStatus?: { name?: string; key?: boolean } | false;
  /**
   * Serve a stored stale response when the origin cannot be reached or drops the connection
   * (RFC 9111 §4.2.4 "disconnected"), unless the response forbids stale reuse (`must-revalidate`,
   * `no-cache`, shared mode: `proxy-revalidate`, `s-maxage`). Default `false`. (`stale-if-error`
   * needs no option.)
   */
  staleIfDisconnected?: boolean;
}

/** Counters, for tests and monitoring. */
export interface CacheStats {
  hits: number;
  stale: number;
  revalidated: number;
  misses: number;
  bypassed: number;
  /** 304s that matched no held response, so the request was repeated unconditionally (§4.3.4). */
  repeatedUnconditionally: number;
  /**
   * 304s that matched the held response after another writer had replaced or removed it in the
   * store (its compare-and-set freshen changed nothing); answered from the held copy all the same.
   * This is the seed-003 window: a cache that re-read the store here would have nothing to serve.
   */
  revalidatedDisplaced: number;
  /** Requests that waited for another request's flight or lease. */
  collapsed: number;
  /** Store operations that failed or timed out (the request went on as if nothing were cached). */
  storeErrors: number;
  /** Of those, operations that did not settle within the store timeout. */
  storeTimeouts: number;
  /** Store operations not tried because the store's circuit breaker was open. */
  storeSkipped: number;
  /** The store's circuit breaker: `closed` (in use), `open` (skipped), `half-open` (being probed); null when unguarded. */
  storeState: BreakerState | null;
}

interface Ctx {
  request: CacheRequest;
  /** The request sent upstream: the caller's conditions removed (the cache owns validation). */
  upstream: CacheRequest;
  key: string;
  head: boolean;
  reqCC: Directives;
  next: Next;
  /**
   * A store operation of this request failed or timed out: the rest of the request goes without
   * the store, so a store that stops answering costs a request one store timeout, not one per call.
   */
  storeFailed: boolean;
  /** What this request's Cache-Status entry will say. */
  note: CacheStatusNote;
}

const EMPTY = new Uint8Array(0);
/** Lookups per request when collapsing (each wait is for another flight; then go upstream anyway). */
const MAX_COLLAPSE_ROUNDS = 3;
/** A store failure with the same message is told to `onError` at most this often, ms. */
const STORE_ERROR_REPEAT_MS = 10_000;

/**
 * RFC 9211 §2.4: ttl is the remaining freshness, negative once stale, in whole seconds taken the
 * same way as Age, so that ttl + Age is the lifetime a client can check.
 */
function remainingTtl(lifetime: number, age: number): number {
  return Math.floor(lifetime) - Math.floor(age);
}

/** An RFC 9111 HTTP cache in front of a `next` hop. Create with {@link createCache}. */
export class Cache {
  readonly mode: CacheMode;
  readonly store: CacheStore;
  /** The guard between this cache and its store (timeouts, circuit breaker), or null when unguarded. */
  readonly storeGuard: StoreGuard | null;
  readonly stats: CacheStats;
  readonly #collapse: 'store' | 'process' | false;
  readonly #leaseTtlMs: number;
  readonly #leaseWaitMs: number;
  readonly #staleRetention: number;
  readonly #maxEntryBytes: number;
  readonly #heuristics: HeuristicOptions;
  readonly #now: () => number;
  readonly #onError: (error: unknown, context: string) => void;
  /** The store as this cache calls it: through the guard when there is one. */
  readonly #store: CacheStore;
  /** When each store failure (context and message) was last told to `onError`. */
  readonly #toldAt = new Map<string, number>();
  readonly #owner = `${process.pid}:${randomUUID()}`;
  readonly #flights = new Flights();
  readonly #background = new Map<string, Promise<void>>();
  /** Responses built from an entry that is in the store (a fresh one just written, or freshened). */
  readonly #stored = new WeakSet<CacheResponse>();
  readonly #factsMemo = new WeakMap<StoredEntry, { cc: Directives; lifetime: number; initialAge: number }>();
  readonly #targets: readonly string[];
  /** The name in this cache's Cache-Status entries, serialised as a token or string (null: no entry). */
  readonly #statusId: string | null;
  readonly #statusKey: boolean;
  readonly #staleIfDisconnected: boolean;
  #interceptor: Interceptor | undefined;

  constructor(options: CacheOptions) {
    if (options?.store === undefined) throw new InvalidOptionError('store', 'createCache needs a store');
    this.mode = oneOfOption('mode', options.mode ?? 'private', ['private', 'shared']);
    this.store = options.store;
    const collapse = options.collapse ?? 'store';
    this.#collapse = collapse === false ? false : oneOfOption('collapse', collapse, ['store', 'process']);
    this.#leaseTtlMs = durationOption('leaseTtlMs', options.leaseTtlMs ?? 10_000);
    this.#leaseWaitMs = durationOption('leaseWaitMs', options.leaseWaitMs ?? this.#leaseTtlMs, true);
    this.#staleRetention = amountOption('staleRetentionSeconds', options.staleRetentionSeconds ?? 86_400, true);
    this.#maxEntryBytes = amountOption('maxEntryBytes', options.maxEntryBytes ?? 16 * 1024 * 1024, true);
    this.#heuristics = { ...DEFAULT_HEURISTICS, ...options.heuristics };
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    const guard = options.storeGuard;
    const storeGuard = options.store instanceof StoreGuard ? options.store : guard === false ? null : new StoreGuard(options.store, guard);
    this.storeGuard = storeGuard;
    this.#store = storeGuard ?? options.store;
    const counters = { hits: 0, stale: 0, revalidated: 0, misses: 0, bypassed: 0, repeatedUnconditionally: 0, revalidatedDisplaced: 0, collapsed: 0, storeErrors: 0, storeTimeouts: 0, storeSkipped: 0 };
    // Read from the guard, so that it is right however the guard was made (by this cache, or
    // passed in and shared).
    this.stats = Object.defineProperty(counters, 'storeState', { enumerable: true, get: () => storeGuard?.state ?? null }) as CacheStats;
    const targets: unknown = options.targetedFields ?? [CDN_CACHE_CONTROL];
    if (!Array.isArray(targets) || !targets.every((n: unknown): n is string => typeof n === 'string' && isToken(n))) {
      throw new InvalidOptionError('targetedFields', 'targetedFields must be a list of field names');
    }
    this.#targets = targets.map((n) => n.toLowerCase());
    const status = options.cacheStatus ?? {};
    if (status !== false && (typeof status !== 'object' || status === null)) throw new InvalidOptionError('cacheStatus', 'cacheStatus must be an object or false');
    const statusName = status === false ? null : (status.name ?? 'holdfast');
    this.#statusId = statusName === null ? null : (serializeTokenOrString(statusName) ?? null);
    if (statusName !== null && this.#statusId === null) {
      throw new InvalidOptionError('cacheStatus.name', 'cacheStatus.name must be printable ASCII');
    }
    this.#statusKey = status !== false && status.key === true;
    this.#staleIfDisconnected = options.staleIfDisconnected === true;
  }

  /**
   * Answer `request`, from the store when RFC 9111 allows, else through `next` (storing the
   * response when allowed). Never resolves with a 304 unless the caller sent If-None-Match or
   * If-Modified-Since and the answer matches them.
   */
  async handle(request: CacheRequest, next: Next): Promise<CacheResponse> {
    const note = new CacheStatusNote();
    const response = await this.#handle(request, next, note);
    // RFC 9211 §2: each cache appends its entry, keeping those of the caches before it.
    if (this.#statusId !== null) response.headers.append('cache-status', cacheStatusMember(this.#statusId, note));
    return response;
  }

  /**
   * `handle`'s answer when it is a fresh stored response served as it is, found without a promise;
   * `undefined` whenever `handle` could do anything else (then call it). For callers that answer
   * many hits and can write a stored response themselves (the reverse proxy).
   *
   * Only a store with `getSync` (the memory store) answers here, and only for the plainest request:
   * GET or HEAD, no Range, no Cache-Control or Pragma, no If-None-Match or If-Modified-Since. Then
   * RFC 9111 leaves one question, the same `handle` asks through `decideReuse`: is the selected
   * response (§4.1) fresh (§4.2)? A stale one, one to validate, a miss, or a store that fails are
   * all `handle`'s to deal with. `varyUsable(field)` says whether `headers` hold the request's
   * final value of a field a stored response varies on (a proxy adds and removes fields before
   * the request reaches its cache); when it says no for any stored variant, `undefined`.
   *
   * Counts the hit in `stats`. The entry is the stored one, shared by every hit: read it, never
   * change it.
   * @internal
   */
  freshHit(method: string, url: string, headers: HeaderList, varyUsable: (field: string) => boolean): FreshHit | undefined {
    if ((method !== 'GET' && method !== 'HEAD') || hasFieldOf(headers, FRESH_HIT_EXCLUDES)) return undefined;
    let entries: StoredEntry[] | undefined;
    let key: string;
    try {
      key = cacheKey(url);
      const guard = this.storeGuard;
      entries = guard !== null ? guard.tryGetSync(key) : this.store.getSync?.(key);
    } catch {
      return undefined; // `handle` meets the same failure and deals with it
    }
    if (entries === undefined || entries.length === 0) return undefined;
    for (const e of entries) for (const field of e.vary) if (!varyUsable(field)) return undefined;
    const selected = selectVariant(entries, headers);
    if (selected === undefined) return undefined;
    const input = this.#reuseInput(selected, NO_DIRECTIVES);
    if (decideReuse(input) !== 'fresh') return undefined;
    const age = input.age;
    this.stats.hits++;
    let cacheStatus: string | undefined;
    if (this.#statusId !== null) {
      // The entry `handle` would append for this hit.
      const note = new CacheStatusNote();
      note.hit = true;
      note.ttl = remainingTtl(input.lifetime, age);
      if (this.#statusKey) note.key = key;
      cacheStatus = cacheStatusMember(this.#statusId, note);
    }
    return { entry: selected, age: ageHeaderValue(age), cacheStatus };
  }

  async #handle(request: CacheRequest, next: Next, note: CacheStatusNote): Promise<CacheResponse> {
    const method = request.method;
    if (method !== 'GET' && method !== 'HEAD') return this.#unsafeOrOther(request, next, note);
    let key: string;
    try {
      key = cacheKey(request.url);
    } catch {
      return this.#bypass(request, next, note);
    }
    if (this.#statusKey) note.key = key;
    const range = request.headers.has('range') && method === 'GET';
    // A range request is looked up as the whole response; the range is cut from a stored one.
    const whole = range ? withoutFields(request.headers, RANGE_REQUEST_FIELDS) : request.headers;
    const ctx: Ctx = {
      request: range ? { ...request, headers: whole } : request,
      upstream: { ...request, headers: withoutFields(whole, CONDITIONAL_REQUEST_FIELDS) },
      key,
      head: method === 'HEAD',
      reqCC: parseRequestDirectives(request.headers),
      next,
      storeFailed: false,
      note,
    };
    if (range) return this.#range(ctx, request);
    const response = await this.#lookupOrFetch(ctx);
    return this.#finish(ctx, response);
  }

  /**
   * The stored response as an answer when it may be used without the origin (fresh, or stale
   * where allowed, with a background revalidation for stale-while-revalidate); undefined when it
   * must be validated first. Counts the hit or the stale answer.
   */
  #reusedAnswer(ctx: Ctx, stored: StoredEntry, entries: StoredEntry[]): CacheResponse | undefined {
    const reuse = decideReuse(this.#reuseInput(stored, ctx.reqCC));
    if (reuse !== 'fresh' && reuse !== 'stale' && reuse !== 'stale-while-revalidate') return undefined;
    if (reuse === 'stale-while-revalidate') this.#revalidateInBackground(ctx, stored, entries);
    if (reuse === 'fresh') this.stats.hits++;
    else this.stats.stale++;
    ctx.note.hit = true;
    return this.#answer(ctx, stored, reuse === 'fresh' ? 'hit' : 'stale');
  }

  /**
   * RFC 9110 §14, RFC 9111 §3.3-3.4: a range of a stored complete response is cut from it, without
   * an origin request, or after validating it when it is stale; a range wholly within a stored
   * part (a 206) is cut from that part, after validating it with a conditional range request when
   * it is stale. Otherwise the request is forwarded as the client sent it, and a 206 that comes
   * back is stored, combined with a stored part of the same strong validator (ranges.ts).
   */
  async #range(ctx: Ctx, original: CacheRequest): Promise<CacheResponse> {
    const entries = await this.#get(ctx.key, ctx);
    const selected = selectVariant(entries, ctx.request.headers);
    if (selected !== undefined && selected.status === 200) {
      const answer = this.#reusedAnswer(ctx, selected, entries);
      if (answer !== undefined) return this.#finish(ctx, rangeFromStored(answer, original.headers));
    }
    const part = selected !== undefined && selected.status === 206 && partSatisfies(selected.headers, selected.body.byteLength, original.headers) ? selected : undefined;
    if (part !== undefined) {
      // A stale part is revalidated in the background as a whole; a 304 freshens it, a 200
      // replaces it with the complete response.
      const answer = this.#reusedAnswer(ctx, part, entries);
      if (answer !== undefined) return this.#finish(ctx, rangeFromPart(answer, original.headers));
    }
    if (ctx.reqCC.has('only-if-cached')) return this.#onlyIfCachedMiss(ctx);
    if (selected !== undefined && selected.status === 200 && hasValidator(selected)) {
      // A stored response that needs validation: validate it (the origin sees a conditional
      // request for the whole response, not the range) and cut the range from what is then
      // stored; a response that could not be held whole is answered whole (§14.2 allows that).
      const response = await this.#lookupOrFetch(ctx);
      return this.#finish(ctx, response.status === 200 ? rangeFromStored(response, original.headers) : response);
    }
    // RFC 9211 §2.2: `partial` when the stored part lacks the range asked for; a part that holds
    // it but must be validated goes forward for the same reasons as a complete response.
    ctx.note.fwd = selected?.status === 206 && part === undefined ? 'partial' : this.#forwardReason(entries, selected, ctx.reqCC);
    const forwarded = { ...original, headers: withoutFields(original.headers, CONDITIONAL_REQUEST_FIELDS) };
    if (part !== undefined && hasValidator(part)) return this.#finish(ctx, await this.#revalidatePart(ctx, forwarded, part, entries));
    return this.#finish(ctx, await this.#forwardRange(ctx, forwarded, selected));
  }

  /**
   * §4.3.1 with §3.3: a stale stored part that holds the range asked for is validated by the range
   * request made conditional on the part's validators. A 304 that matches it freshens it (§4.3.4)
   * and the range is cut from it; a 304 that does not is not trusted, and the range request is
   * repeated unconditionally; a 206 or 200 is stored like any other.
   */
  async #revalidatePart(ctx: Ctx, forwarded: CacheRequest, part: StoredEntry, entries: StoredEntry[]): Promise<CacheResponse> {
    const headers = forwarded.headers.clone();
    for (const [name, value] of conditionalHeaders(part)) headers.append(name, value);
    const requestTime = this.#now();
    let response: CacheResponse;
    try {
      response = await ctx.next({ ...forwarded, headers });
    } catch (err) {
      const stale = this.#staleOnFailure(part, ctx);
      if (stale !== undefined) return rangeFromPart(stale, forwarded.headers);
      throw err;
    }
    ctx.note.fwdStatus = response.status;
    const responseTime = this.#now();
    if (response.status !== 304) return this.#storeRange(ctx, response, part, requestTime, responseTime);
    await drain(response.body);
    if (!notModifiedMatches(part, response.headers)) {
      this.stats.repeatedUnconditionally++;
      return this.#forwardRange(ctx, forwarded, part);
    }
    const fresh = this.#freshened(part, response.headers, requestTime, responseTime);
    if (!(await this.#persistFreshened(part, fresh, response.headers, entries, ctx))) this.stats.revalidatedDisplaced++;
    this.stats.revalidated++;
    return rangeFromPart(this.#answer(ctx, fresh, 'revalidated'), forwarded.headers);
  }

  /** A range request forwarded as the client sent it (less its conditions); its answer stored when allowed. */
  async #forwardRange(ctx: Ctx, forwarded: CacheRequest, selected: StoredEntry | undefined): Promise<CacheResponse> {
    const requestTime = this.#now();
    const response = await ctx.next(forwarded);
    ctx.note.fwdStatus = response.status;
    return this.#storeRange(ctx, response, selected, requestTime, this.#now());
  }

  /**
   * The answer to a forwarded range request, stored when allowed: a 206 (§3.3) combined with the
   * stored part of the same strong validator where the parts meet (§3.4), else replacing it;
   * a 200 (the origin sent the whole) like any complete response. The caller gets what the origin
   * sent.
   */
  async #storeRange(ctx: Ctx, response: CacheResponse, selected: StoredEntry | undefined, requestTime: number, responseTime: number): Promise<CacheResponse> {
    if (response.status === 200) return this.#storeAndAnswer(ctx, response, requestTime, responseTime);
    if (response.status !== 206) {
      this.stats.bypassed++;
      return { ...response, cacheOutcome: 'bypass' };
    }
    return this.#storeAndAnswer(ctx, response, requestTime, responseTime, (part) => {
      // Only a stored part is combined: a stored complete response with a strong validator is
      // validated rather than forwarded around (#range), so a part never meets one here.
      if (selected === undefined || selected.status !== 206) return part;
      const combined = combineParts(selected, part);
      if (combined === undefined) return part;
      const union: StoredEntry = { ...part, ...combined };
      union.expires = this.#expires(union);
      return union;
    });
  }

  /**
   * This cache as an interceptor of the holdfast client; `new Agent({ cache })` uses it. Agents
   * given the same cache share its store, request collapsing and statistics.
   */
  get interceptor(): Interceptor {
    return (this.#interceptor ??= cacheInterceptor(this));
  }

  /** Resolves once background revalidations (stale-while-revalidate) have settled. */
  async idle(): Promise<void> {
    for (let i = 0; i < 1000 && this.#background.size > 0; i++) await Promise.allSettled([...this.#background.values()]);
  }

  /** Waits for background work. The store belongs to the caller and is not closed. */
  async close(): Promise<void> {
    await this.idle();
  }

  /** `await using cache = createCache(...)`: `close()` when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- request paths ------------------------------------------------------------------------

  async #unsafeOrOther(request: CacheRequest, next: Next, note: CacheStatusNote): Promise<CacheResponse> {
    note.fwd = 'method';
    const response = await next(request);
    note.fwdStatus = response.status;
    // §4.4: a non-error response to an unsafe method invalidates the target URI and same-origin
    // Location / Content-Location.
    let keys: string[] = [];
    try {
      keys = invalidationKeys(request.method, request.url, response.status, response.headers);
    } catch {
      keys = [];
    }
    for (const k of keys) await this.#storeOp('delete', () => this.#store.delete(k));
    this.stats.bypassed++;
    return { ...response, cacheOutcome: 'bypass' };
  }

  async #bypass(request: CacheRequest, next: Next, note: CacheStatusNote): Promise<CacheResponse> {
    this.stats.bypassed++;
    note.fwd = 'bypass';
    const response = await next(request);
    note.fwdStatus = response.status;
    return { ...response, cacheOutcome: 'bypass' };
  }

  /** §5.2.1.7: only-if-cached and nothing usable stored: 504, without contacting the origin. */
  #onlyIfCachedMiss(ctx: Ctx): CacheResponse {
    ctx.note.detail = 'only-if-cached';
    return { status: 504, statusText: 'Gateway Timeout', headers: new HeaderList([['content-length', '0']]), body: EMPTY, cacheOutcome: 'generated' };
  }

  /** RFC 9211 §2.2: why a request that found no usable stored response goes forward. */
  #forwardReason(entries: StoredEntry[], selected: StoredEntry | undefined, reqCC: Directives): ForwardReason {
    if (entries.length === 0) return 'uri-miss';
    if (selected === undefined) return 'vary-miss';
    // The request's own directives (no-cache, max-age, min-fresh) are why, if without them the
    // stored response would have served.
    if (reqCC.size > 0 && decideReuse(this.#reuseInput(selected, new Map())) !== 'validate') return 'request';
    return 'stale';
  }

  async #lookupOrFetch(ctx: Ctx): Promise<CacheResponse> {
    for (let round = 0; ; round++) {
      const entries = await this.#get(ctx.key, ctx);
      const found = selectVariant(entries, ctx.request.headers);
      // §3.3: a stored part (206) never answers a request for the whole response.
      const selected = found?.status === 206 ? undefined : found;
      if (selected !== undefined) {
        const reuse = decideReuse(this.#reuseInput(selected, ctx.reqCC));
        if (reuse === 'fresh') {
          this.stats.hits++;
          ctx.note.hit = true;
          return this.#answer(ctx, selected, 'hit');
        }
        if (reuse === 'stale' || reuse === 'stale-while-revalidate') {
          if (reuse === 'stale-while-revalidate') this.#revalidateInBackground(ctx, selected, entries);
          this.stats.stale++;
          ctx.note.hit = true;
          return this.#answer(ctx, selected, 'stale');
        }
      }
      // §5.2.1.7: only-if-cached and nothing usable: 504.
      if (ctx.reqCC.has('only-if-cached')) return this.#onlyIfCachedMiss(ctx);
      ctx.note.fwd = found !== selected ? 'partial' : this.#forwardReason(entries, selected, ctx.reqCC);
      // HEAD is answered from stored GET responses, but not stored itself; forwarded as sent.
      if (ctx.head) {
        this.stats.misses++;
        const response = await ctx.next(ctx.request);
        ctx.note.fwdStatus = response.status;
        return { ...response, cacheOutcome: 'miss' };
      }
      // A request that insists on validation (no-cache) is not made to wait for other flights.
      if (this.#collapse === false || round >= MAX_COLLAPSE_ROUNDS || ctx.reqCC.has('no-cache')) {
        return this.#fromOrigin(ctx, selected, entries);
      }
      const flight = this.#flights.current(ctx.key);
      if (flight !== undefined) {
        // Another request of this process is fetching this key: wait, then look again.
        this.stats.collapsed++;
        ctx.note.collapsed = true;
        const stored = await flight;
        // Nothing was stored (uncacheable, too large, an error): waiting again would only queue
        // the waiters behind one another, so go upstream now.
        if (!stored) return this.#fromOrigin(ctx, selected, entries);
        continue;
      }
      const finish = this.#flights.start(ctx.key);
      const leaseName = `fetch ${ctx.key}`;
      let leased = false;
      /** A lease really taken in the store (not the fallback of a store that failed). */
      let held = false;
      let stored = true; // waiting on a lease: let in-process waiters look again too
      try {
        if (this.#collapse === 'store') {
          leased = await this.#storeOp('lease', () => this.#store.acquireLease(leaseName, this.#owner, this.#leaseTtlMs), true, ctx);
          held = leased && !ctx.storeFailed;
          if (!leased) {
            // Another process is fetching this key: wait for its lease (bounded), then look again.
            this.stats.collapsed++;
            ctx.note.collapsed = true;
            leased = await this.#storeOp('lease', () => awaitLease(this.#store, leaseName, this.#owner, this.#leaseTtlMs, this.#leaseWaitMs), true, ctx);
            held = leased && !ctx.storeFailed;
            continue;
          }
        }
        stored = false;
        const stopRenewing = held ? this.#keepLease(leaseName) : null;
        try {
          const response = await this.#fromOrigin(ctx, selected, entries);
          stored = this.#stored.has(response);
          return response;
        } finally {
          stopRenewing?.();
        }
      } finally {
        if (held) {
          const release = this.#storeOp('lease', () => this.#store.releaseLease(leaseName, this.#owner));
          // Released even when the store failed meanwhile (a lease left to expire would hold other
          // processes back for its TTL), but then not waited for: the answer is ready.
          if (!ctx.storeFailed) await release;
        }
        finish(stored);
      }
    }
  }

  #fromOrigin(ctx: Ctx, selected: StoredEntry | undefined, entries: StoredEntry[]): Promise<CacheResponse> {
    if (selected !== undefined && hasValidator(selected)) return this.#revalidate(ctx, selected, entries);
    return this.#fetchUnconditionally(ctx, selected);
  }

  /**
   * Validate `held` with the origin (§4.3). `held` was read whole before the request is sent and
   * is the only response this 304 can be merged into and answered from.
   */
  async #revalidate(ctx: Ctx, held: StoredEntry, entries: StoredEntry[]): Promise<CacheResponse> {
    const headers = ctx.upstream.headers.clone();
    for (const [name, value] of conditionalHeaders(held)) headers.append(name, value);
    const conditional: CacheRequest = { ...ctx.upstream, headers };
    const requestTime = this.#now();
    let response: CacheResponse;
    try {
      response = await ctx.next(conditional);
    } catch (err) {
      const stale = this.#staleOnFailure(held, ctx);
      if (stale !== undefined) return stale;
      throw err;
    }
    ctx.note.fwdStatus = response.status;
    const responseTime = this.#now();
    if (response.status === 304) {
      await drain(response.body);
      if (notModifiedMatches(held, response.headers)) {
        const fresh = this.#freshened(held, response.headers, requestTime, responseTime);
        if (!(await this.#persistFreshened(held, fresh, response.headers, entries, ctx))) this.stats.revalidatedDisplaced++;
        this.stats.revalidated++;
        const answer = this.#answer(ctx, fresh, 'revalidated');
        this.#stored.add(answer);
        return answer;
      }
      // §4.3.4: the 304 identifies no response we hold: repeat the request unconditionally
      // rather than guess (and never pass the 304 on).
      this.stats.repeatedUnconditionally++;
      return this.#fetchUnconditionally(ctx, undefined);
    }
    if (ERROR_STATUSES.has(response.status) && this.#staleIfError(held, ctx.reqCC)) {
      await cancel(response.body);
      return this.#servedStale(held, ctx, 'stale-if-error');
    }
    return this.#storeAndAnswer(ctx, response, requestTime, responseTime);
  }

  async #fetchUnconditionally(ctx: Ctx, staleCandidate: StoredEntry | undefined): Promise<CacheResponse> {
    const requestTime = this.#now();
    let response: CacheResponse;
    try {
      response = await ctx.next(ctx.upstream);
    } catch (err) {
      const stale = staleCandidate === undefined ? undefined : this.#staleOnFailure(staleCandidate, ctx);
      if (stale !== undefined) return stale;
      throw err;
    }
    ctx.note.fwdStatus = response.status;
    const responseTime = this.#now();
    if (response.status === 304) {
      // The upstream request carried no conditions; a 304 to it is the origin's bug, and passing
      // it on is exactly the seed-003 failure.
      await drain(response.body);
      throw new Unexpected304Error(ctx.request.url);
    }
    if (staleCandidate !== undefined && ERROR_STATUSES.has(response.status) && this.#staleIfError(staleCandidate, ctx.reqCC)) {
      await cancel(response.body);
      return this.#servedStale(staleCandidate, ctx, 'stale-if-error');
    }
    return this.#storeAndAnswer(ctx, response, requestTime, responseTime);
  }

  /** `combine`: what to store in place of the entry made from `response` (a part combined with a stored one); the answer is `response`'s all the same. */
  async #storeAndAnswer(ctx: Ctx, response: CacheResponse, requestTime: number, responseTime: number, combine?: (entry: StoredEntry) => StoredEntry): Promise<CacheResponse> {
    this.stats.misses++;
    const policy = this.#policy(response.headers);
    const why = whyNotStorable({
      mode: this.mode,
      method: ctx.request.method,
      requestHeaders: ctx.request.headers,
      requestDirectives: ctx.reqCC,
      status: response.status,
      responseHeaders: response.headers,
      responseDirectives: policy.directives,
      useExpires: policy.targeted === undefined,
    });
    if (why !== undefined) return { ...response, cacheOutcome: 'miss' };
    const declared = Number(response.headers.first('content-length'));
    if (Number.isFinite(declared) && declared > this.#maxEntryBytes) return { ...response, cacheOutcome: 'miss' };
    const buffered = await bufferUpTo(response.body, this.#maxEntryBytes);
    if (buffered.kind === 'overflow') return { ...response, body: buffered.body, cacheOutcome: 'miss' };
    const body = buffered.bytes;
    // §3.1: hop-by-hop fields are not stored. The body is now whole, so its length frames it.
    const headers = stripHopByHop(response.headers, 'store');
    headers.set('content-length', String(body.byteLength));
    // RFC 9110 §6.6.1: a recipient with a clock adds Date to a response it caches that lacks one.
    if (!headers.has('date')) headers.append('date', formatHttpDate(responseTime));
    const vary = varyFields(headers);
    const varyValues = vary.map((name) => normalizedFieldValue(ctx.request.headers, name));
    const entry: StoredEntry = {
      id: randomUUID(),
      key: ctx.key,
      variant: variantKey(vary, varyValues),
      vary,
      varyValues,
      status: response.status,
      statusText: response.statusText,
      headers,
      body,
      requestTime,
      responseTime,
      expires: 0,
    };
    entry.expires = this.#expires(entry);
    const stored = combine === undefined ? entry : combine(entry);
    let put = true;
    await this.#storeOp('put', () => this.#store.put(stored), undefined, ctx, () => (put = false));
    ctx.note.stored = put;
    const answer = this.#answer(ctx, entry, 'miss');
    this.#stored.add(answer);
    return answer;
  }

  // ---- stale-while-revalidate ----------------------------------------------------------------

  #revalidateInBackground(ctx: Ctx, held: StoredEntry, entries: StoredEntry[]): void {
    // RFC 5861 §3: revalidate once, in the background, however many requests are served stale.
    const name = `swr ${ctx.key}\n${held.id}`;
    if (this.#background.has(name)) return;
    const bgCtx: Ctx = { ...ctx, head: false, reqCC: new Map(), note: new CacheStatusNote() };
    const work = (async () => {
      let leased = true;
      if (this.#collapse === 'store') {
        leased = await this.#storeOp('lease', () => this.#store.acquireLease(name, this.#owner, this.#leaseTtlMs), false);
        if (!leased) return; // another process is revalidating it
      }
      const stopRenewing = this.#collapse === 'store' ? this.#keepLease(name) : null;
      try {
        const response = await this.#fromOrigin(bgCtx, held, entries);
        await cancel(response.body);
      } finally {
        stopRenewing?.();
        if (this.#collapse === 'store') await this.#storeOp('lease', () => this.#store.releaseLease(name, this.#owner));
      }
    })()
      .catch((err: unknown) => this.#onError(err, 'stale-while-revalidate'))
      .finally(() => this.#background.delete(name));
    this.#background.set(name, work);
  }

  // ---- helpers -------------------------------------------------------------------------------

  #reuseInput(entry: StoredEntry, reqCC: Directives) {
    const facts = this.#facts(entry);
    return {
      mode: this.mode,
      requestDirectives: reqCC,
      responseDirectives: facts.cc,
      lifetime: facts.lifetime,
      age: this.#currentAge(entry, facts),
    };
  }

  /** A stored response's current age in seconds (RFC 9111 §4.2.3), from its initial age. */
  #currentAge(entry: StoredEntry, facts: { initialAge: number }): number {
    return facts.initialAge + Math.max(0, (this.#now() - entry.responseTime) / 1000);
  }

  /**
   * What a stored response's headers say, computed once per entry object (entries are immutable;
   * the memory store hands out the same object on every hit). current_age = initial age +
   * resident time (§4.2.3), so only the resident time is computed per request.
   */
  #facts(entry: StoredEntry): { cc: Directives; lifetime: number; initialAge: number } {
    let f = this.#factsMemo.get(entry);
    if (f === undefined) {
      const policy = this.#policy(entry.headers);
      const cc = policy.directives;
      f = { cc, lifetime: freshnessLifetime(entry, this.mode, cc, this.#heuristics, policy.targeted === undefined), initialAge: currentAge(entry, entry.responseTime) };
      this.#factsMemo.set(entry, f);
    }
    return f;
  }

  #staleIfError(entry: StoredEntry, reqCC: Directives): boolean {
    return staleIfErrorAllows(this.#reuseInput(entry, reqCC));
  }

  /** The directives that govern a response here: a targeted field's in shared mode (RFC 9213), else Cache-Control's. */
  #policy(headers: HeaderList): ResponsePolicy {
    return responsePolicy(headers, this.mode, this.#targets);
  }

  #servedStale(entry: StoredEntry, ctx: Ctx, why: 'stale-if-error' | 'disconnected'): CacheResponse {
    this.stats.stale++;
    ctx.note.detail = why;
    return this.#answer(ctx, entry, 'stale');
  }

  /**
   * The origin could not be reached or dropped the connection: serve `entry` stale when
   * stale-if-error allows it, or when this cache serves stale on disconnection (§4.2.4) and the
   * response does not forbid it.
   */
  #staleOnFailure(entry: StoredEntry, ctx: Ctx): CacheResponse | undefined {
    if (this.#staleIfError(entry, ctx.reqCC)) return this.#servedStale(entry, ctx, 'stale-if-error');
    if (this.#staleIfDisconnected && !staleForbidden(this.mode, this.#facts(entry).cc)) return this.#servedStale(entry, ctx, 'disconnected');
    return undefined;
  }

  /** The held response updated by a 304 (§4.3.4, §3.2). */
  #freshened(held: StoredEntry, notModified: HeaderList, requestTime: number, responseTime: number): StoredEntry {
    // RFC 9110 §6.6.1: a 304 without Date gets the time it was received, else the old Date would
    // make the freshly validated response look old (§4.2.3).
    let incoming = notModified;
    if (!notModified.has('date')) {
      incoming = notModified.clone();
      incoming.append('date', formatHttpDate(responseTime));
    }
    const fresh: StoredEntry = { ...held, headers: mergeNotModified(held.headers, incoming), requestTime, responseTime };
    fresh.expires = this.#expires(fresh);
    return fresh;
  }

  /**
   * Write the freshened response back by compare-and-set on its id: if another writer replaced
   * it meanwhile, theirs stays. §4.3.4: other stored responses with the same strong validator are
   * freshened too. Resolves whether the held response itself was still in the store.
   */
  async #persistFreshened(held: StoredEntry, fresh: StoredEntry, notModified: HeaderList, entries: StoredEntry[], ctx: Ctx): Promise<boolean> {
    // A failing store is counted in storeErrors, not as a displacement we cannot know about.
    const stillStored = await this.#storeOp('freshen', () => this.#store.freshen(fresh), true, ctx);
    for (const other of entries) {
      if (other.id === held.id || !sharesStrongValidator(other, notModified)) continue;
      const o = this.#freshened(other, notModified, fresh.requestTime, fresh.responseTime);
      await this.#storeOp('freshen', () => this.#store.freshen(o), false, ctx);
    }
    return stillStored;
  }

  /** When the store may drop an entry: after freshness, plus the stale windows it may still serve. */
  #expires(entry: StoredEntry): number {
    // The same facts every later reuse decision on this entry object reads (memoised once).
    const { cc, lifetime, initialAge } = this.#facts(entry);
    const windows = [deltaSeconds(cc, 'stale-while-revalidate'), deltaSeconds(cc, 'stale-if-error')].map((n) => (typeof n === 'number' ? n : 0));
    const keep = Math.max(hasValidator(entry) ? this.#staleRetention : 0, ...windows);
    return entry.responseTime + Math.max(0, lifetime - initialAge + keep) * 1000;
  }

  #answer(ctx: Ctx, entry: StoredEntry, outcome: 'hit' | 'stale' | 'revalidated' | 'miss'): CacheResponse {
    // The caller owns what it is given (the proxy appends Via, a client's caller may edit its
    // response): a stored entry is shared by every hit, so it is never handed out itself.
    const headers = entry.headers.clone();
    const facts = this.#facts(entry);
    const age = this.#currentAge(entry, facts);
    // §5.1 / §4: a response served from storage carries its current age.
    if (outcome === 'hit' || outcome === 'stale') headers.set('age', ageHeaderValue(age));
    ctx.note.ttl = remainingTtl(facts.lifetime, age);
    return { status: entry.status, statusText: entry.statusText, headers, body: ctx.head ? EMPTY : entry.body, cacheOutcome: outcome };
  }

  /** Apply the caller's own conditions, and make sure no unasked-for 304 leaves the cache. */
  async #finish(ctx: Ctx, response: CacheResponse): Promise<CacheResponse> {
    const callerConditional = hasCallerConditions(ctx.request.headers);
    if (response.status === 304) {
      if (callerConditional) return response;
      await drain(response.body);
      throw new Unexpected304Error(ctx.request.url);
    }
    if (callerConditional && conditionsSayNotModified(ctx.request.headers, response)) {
      await cancel(response.body);
      return notModifiedFor(response);
    }
    return response;
  }

  async #get(key: string, ctx: Ctx): Promise<StoredEntry[]> {
    return this.#storeOp('get', () => this.#store.get(key), [], ctx);
  }

  /** Run a store operation; a failing store degrades to "not cached", it never fails the request. */
  async #storeOp<T>(context: string, op: () => Promise<T>, fallback?: T, ctx?: Ctx, failed?: () => void): Promise<T> {
    if (ctx?.storeFailed === true) {
      failed?.();
      return fallback as T;
    }
    try {
      return await op();
    } catch (err) {
      if (ctx !== undefined) ctx.storeFailed = true;
      this.#storeError(err, context);
      failed?.();
      return fallback as T;
    }
  }

  #storeError(err: unknown, context: string): void {
    if (err instanceof StoreUnavailableError) {
      this.stats.storeSkipped++;
      return;
    }
    this.stats.storeErrors++;
    if (err instanceof StoreTimeoutError) this.stats.storeTimeouts++;
    if (this.storeGuard === null) {
      this.#onError(err, `store ${context}`);
      return;
    }
    // During an outage the breaker's state changes carry the message: one line, not one per
    // request. Before it opens (or when only some operations fail, e.g. writes to a full disk),
    // the same failure is told once per STORE_ERROR_REPEAT_MS.
    if (this.storeGuard.state !== 'closed') return;
    const what = `${context}\n${describeError(err)}`;
    const now = Date.now();
    const last = this.#toldAt.get(what);
    if (last !== undefined && now - last < STORE_ERROR_REPEAT_MS) return;
    if (this.#toldAt.size >= 64) this.#toldAt.clear();
    this.#toldAt.set(what, now);
    this.#onError(err, `store ${context}`);
  }

  /** Renew the held lease `name` while its holder works (see `keepLease`); returns the stopper. */
  #keepLease(name: string): () => void {
    return keepLease(this.#store, name, this.#owner, this.#leaseTtlMs, (err) => this.#storeError(err, 'lease'));
  }
}

/**
 * Create an RFC 9111 cache.
 *
 * ```ts
 * const cache = createCache({ store: new SqliteStore({ directory: '.cache/http' }), mode: 'private' });
 * const response = await cache.handle({ method: 'GET', url, headers: new HeaderList() }, (req) => send(req));
 * ```
 */
export function createCache(options: CacheOptions): Cache {
  return new Cache(options);
}

/** A fresh stored response as `Cache.freshHit` finds it. @internal */
export interface FreshHit {
  /** The stored response (shared: never change it). */
  readonly entry: StoredEntry;
  /** The Age field value to send (RFC 9111 §5.1). */
  readonly age: string;
  /** This cache's Cache-Status entry to append (RFC 9211), or undefined when it adds none. */
  readonly cacheStatus: string | undefined;
}

/** Request fields that take a request off `freshHit`'s path: ranges, request directives, the caller's conditions. */
const FRESH_HIT_EXCLUDES: readonly string[] = ['range', 'cache-control', 'pragma', 'if-none-match', 'if-modified-since'];
const NO_DIRECTIVES: Directives = new Map();

function hasFieldOf(headers: HeaderList, names: readonly string[]): boolean {
  for (const name of names) if (headers.has(name)) return true;
  return false;
}

/** Fields of a range request (RFC 9110 §14.2, §13.1.5); the whole response is looked up without them. */
const RANGE_REQUEST_FIELDS: ReadonlySet<string> = new Set(['range', 'if-range']);

/**
 * `headers` without `names`; shared, not copied, when there are none to remove. Upstream, the
 * caller's own validators are the cache's business (it sends those of the response it holds).
 */
function withoutFields(headers: HeaderList, names: ReadonlySet<string>): HeaderList {
  let has = false;
  for (const name of names) if (headers.has(name)) has = true;
  if (!has) return headers;
  const out = headers.clone();
  for (const name of names) out.delete(name);
  return out;
}
