/**
 * Turning a `ProxyPlan` into running parts: cache stores, one `ReverseProxy` per route, the TLS
 * settings, the `ProxyFront`, and the admin endpoints. Shared by the single-process proxy and by
 * each worker process.
 */
import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { createProxy, type ReverseProxy } from '../proxy/index.ts';
import { RouteTable, type ProxyRoute } from '../proxy/routes.ts';
import { ProxyFront } from '../proxy/front.ts';
import { AccessLog } from '../proxy/accessLog.ts';
import { MemoryStore, SqliteStore, RedisStore, breakerLog, createCache, type CacheStore } from '../cache/index.ts';
import { ConfigError, parseSize, type ProxyPlan, type RoutePlan } from './proxyConfig.ts';

/** Longest wait for one cache store operation when a route sets none (ms). */
const DEFAULT_CACHE_TIMEOUT = 500;

/** Routes built from a plan, with the stores they own. */
export interface BuiltRoutes {
  table: RouteTable;
  stores: CacheStore[];
}

/**
 * Opens the store named by a cache spec: `memory[:SIZE]`, a Redis URL or a SQLite directory. A
 * store's own waits (Redis's reply timeout, SQLite's busy timeout) are the cache timeout, so the
 * cache's guard is never the only bound. Redis credentials may come from the URL or from
 * `HOLDFAST_REDIS_USERNAME` / `HOLDFAST_REDIS_PASSWORD`.
 */
export async function openStore(spec: string, timeoutMs = DEFAULT_CACHE_TIMEOUT): Promise<CacheStore> {
  if (spec === 'memory') return new MemoryStore();
  if (spec.startsWith('memory:')) {
    const maxBytes = parseSize(spec.slice('memory:'.length));
    if (maxBytes === null) throw new ConfigError(`invalid memory cache size in ${JSON.stringify(spec)}`);
    return new MemoryStore({ maxBytes });
  }
  if (/^rediss?:\/\//i.test(spec)) {
    const env = process.env;
    return RedisStore.connect({
      url: spec,
      commandTimeoutMs: timeoutMs,
      ...(env['HOLDFAST_REDIS_USERNAME'] ? { username: env['HOLDFAST_REDIS_USERNAME'] } : {}),
      ...(env['HOLDFAST_REDIS_PASSWORD'] ? { password: env['HOLDFAST_REDIS_PASSWORD'] } : {}),
    });
  }
  return new SqliteStore({ directory: spec, busyTimeoutMs: timeoutMs });
}

/** Writes an error line to stderr, with the request id when there is one. */
export function logError(err: unknown, context: string, requestId?: string): void {
  const e = err as { code?: unknown; message?: unknown } | null;
  const id = requestId === undefined ? '' : ` [${requestId}]`;
  process.stderr.write(`holdfast proxy${id}: ${context}: ${typeof e?.code === 'string' ? `${e.code} ` : ''}${String(e?.message ?? err)}\n`);
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** The server's TLS settings: the PEM files, HTTP/1.1 by ALPN, TLS 1.2 or later. */
export function tlsSettings(plan: ProxyPlan): SecureContextOptions & { ALPNProtocols: string[] } | null {
  if (plan.tls === null) return null;
  return {
    cert: readFile(plan.tls.cert, 'TLS certificate'),
    key: readFile(plan.tls.key, 'TLS key'),
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
  };
}

function buildProxy(r: RoutePlan, store: CacheStore | null, onStoreError: () => void): ReverseProxy {
  const ca = r.upstreamCa === null ? undefined : readFile(r.upstreamCa, 'upstream CA file');
  // The cache is built here (not by the proxy from the store) for its guard: store calls bounded
  // by the route's cache timeout, and one log line per breaker change with the store's error.
  const cache = store === null ? null : createCache({
    store,
    mode: 'shared',
    cacheStatus: { name: 'holdfast' },
    storeGuard: { timeoutMs: r.cacheTimeout ?? DEFAULT_CACHE_TIMEOUT, coolDownMs: r.cacheCoolDown ?? 2_000, onStateChange: breakerLog((line) => process.stderr.write(`holdfast proxy: route ${r.name}: ${line}\n`)) },
    onError: (err, context) => {
      onStoreError();
      logError(err, `route ${r.name}: cache ${context}`);
    },
  });
  return createProxy({
    upstreams: r.upstreams,
    cache,
    upstreamConcurrency: r.concurrency,
    upstreamKeepAlive: r.keepAlive,
    bufferRequests: r.bufferRequests,
    bufferResponses: r.bufferResponses,
    timeouts: { connect: r.connect, headers: r.headers, body: r.body, queue: r.queue, tunnelIdle: r.tunnelIdle },
    upgradeProtocols: r.upgradeProtocols,
    health: { maxFails: r.maxFails, failTimeout: r.failTimeout },
    healthCheck: r.healthCheck,
    forwarded: r.forwarded,
    preserveHost: r.preserveHost,
    ...(ca === undefined ? {} : { agent: { tls: { ca } } }),
    onError: (err, context, requestId) => {
      if (context.startsWith('cache')) onStoreError();
      logError(err, `route ${r.name}: ${context}`, requestId);
    },
  });
}

/**
 * Opens the plan's stores and builds its routes; on failure closes whatever it had opened and
 * throws (a reload then keeps the routes in use).
 */
export async function buildRoutes(plan: ProxyPlan, front: () => ProxyFront | null): Promise<BuiltRoutes> {
  const stores: CacheStore[] = [];
  const routes: ProxyRoute[] = [];
  try {
    for (const r of plan.routes) {
      let store: CacheStore | null = null;
      if (r.cache !== null) {
        try {
          store = await openStore(r.cache, r.cacheTimeout);
        } catch (err) {
          throw new ConfigError(`route ${r.name}: cannot open cache ${r.cache}: ${(err as Error).message}`);
        }
        stores.push(store);
      }
      const proxy = buildProxy(r, store, () => front()?.metrics.storeError(r.name));
      routes.push({ name: r.name, host: r.host, pathPrefix: r.pathPrefix, proxy });
    }
    return { table: new RouteTable(routes), stores };
  } catch (err) {
    await Promise.all(routes.map((r) => r.proxy.close({ timeout: 0 })));
    await Promise.all(stores.map((s) => s.close()));
    throw err;
  }
}

/** A running front door and what it owns. */
export interface Serving {
  front: ProxyFront;
  accessLog: AccessLog | null;
  stores: CacheStore[];
  plan: ProxyPlan;
}

/** Builds and starts the front door of a plan (listening on its address). */
export async function startServing(plan: ProxyPlan): Promise<Serving> {
  let front: ProxyFront | null = null;
  const built = await buildRoutes(plan, () => front);
  const tls = tlsSettings(plan);
  const accessLog = plan.accessLog === null ? null : new AccessLog(plan.accessLog, plan.logFormat);
  front = new ProxyFront({ routes: built.table, accessLog, server: tls === null ? {} : { tls } });
  try {
    await front.server.listen(plan.port, plan.host);
  } catch (err) {
    await front.close({ timeout: 0 });
    await Promise.all(built.stores.map((s) => s.close()));
    await accessLog?.close();
    throw err;
  }
  return { front, accessLog, stores: built.stores, plan };
}

/**
 * Applies a new plan to a running front door: new routes (old ones drain, then their stores
 * close), new certificates, a reopened access log. The listener and its address stay; a plan
 * that cannot be built leaves everything as it was and throws.
 */
export async function reloadServing(s: Serving, plan: ProxyPlan): Promise<void> {
  const tls = plan.tls === null ? null : tlsSettings(plan);
  if ((tls === null) !== (s.plan.tls === null)) throw new ConfigError('TLS cannot be switched on or off by a reload; restart the proxy');
  const built = await buildRoutes(plan, () => s.front);
  if (tls !== null) s.front.setSecureContext(tls);
  s.accessLog?.reopen();
  const oldStores = s.stores;
  s.stores = built.stores;
  s.plan = plan;
  await s.front.replaceRoutes(built.table);
  await Promise.all(oldStores.map((st) => st.close()));
}

/** Graceful stop: drain (force-closing after `timeout`), then close stores and the log. */
export async function stopServing(s: Serving, timeout: number): Promise<void> {
  await s.front.close({ timeout });
  await Promise.all(s.stores.map((st) => st.close()));
  await s.accessLog?.close();
}

/** Describes where a plan sends traffic, for the start-up line. */
export function describeRoutes(plan: ProxyPlan): string {
  return plan.routes.map((r) => `${plan.routes.length > 1 ? `${r.host ?? '*'}${r.pathPrefix} ` : ''}-> ${r.upstreams.join(', ')} (${r.cache === null ? 'no cache' : `cache ${r.cache}`})`).join('; ');
}


/**
 * Serves until SIGINT or SIGTERM: each SIGHUP runs `reload` after the previous one has finished
 * (two quick SIGHUPs must not build two route tables at once); a stop signal runs `shutdown`.
 * Resolves with the exit code 0 once shut down.
 */
export async function runUntilStopped(reload: () => Promise<void>, shutdown: () => Promise<unknown>): Promise<number> {
  let reloading: Promise<void> = Promise.resolve();
  const onHangUp = (): void => {
    reloading = reloading.then(reload).catch((err: unknown) => logError(err, 'reload'));
  };
  process.on('SIGHUP', onHangUp);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.write('holdfast proxy: shutting down\n');
      void shutdown().then(() => resolve(), () => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.off('SIGHUP', onHangUp);
  return 0;
}
