/**
 * Degrade, never stall: the proxy's shared cache in Redis, with holdfast's FaultProxy between the
 * cache and a real redis-server. Whatever Redis does (answers late, swallows everything, resets
 * connections, dies and comes back), every request through the proxy is answered; a request pays
 * at most one store timeout, none while the circuit breaker is open, and cache hits resume once
 * Redis does.
 *
 * "At most one store timeout per request, then none" is checked by counting, not by the clock:
 * the cache counts operations that timed out, the breaker counts its probes.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, RedisStore, createCache, type BreakerStateChange, type Cache } from '../../src/cache/index.ts';
import { FaultProxy } from '../../src/lab/fault-proxy.ts';
import { blackHole, directRequest, startOrigin, startProxy } from './helpers.ts';
import { until } from '../support.ts';
import { REDIS_SERVER, startRedis, type RedisServer } from '../cache/redisServer.ts';

const STORE_TIMEOUT_MS = 200;
const THRESHOLD = 3;
const COOL_DOWN_MS = 250;
/** What a client in the issue gave up after: a request that takes longer is a stalled front door. */
const CLIENT_TIMEOUT_MS = 5000;
/** Requests in flight at once during a fault. */
const PARALLEL = 5;

interface Rig {
  redis: RedisServer;
  fault: FaultProxy;
  cache: Cache;
  proxyUrl: string;
  changes: BreakerStateChange[];
  errors: string[];
  originHits(): number;
}

async function rig(t: TestContext): Promise<Rig> {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const fault = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: redis.port } });
  t.after(() => fault.close());
  const store = await RedisStore.connect({ url: `redis://127.0.0.1:${fault.port}`, prefix: RedisStore.uniquePrefix(), commandTimeoutMs: STORE_TIMEOUT_MS, connectTimeoutMs: 500 });
  t.after(() => store.close());
  const changes: BreakerStateChange[] = [];
  const errors: string[] = [];
  const cache = createCache({
    store,
    mode: 'shared',
    storeGuard: { timeoutMs: STORE_TIMEOUT_MS, failureThreshold: THRESHOLD, coolDownMs: COOL_DOWN_MS, onStateChange: (c) => changes.push(c) },
    onError: (err) => errors.push(String((err as Error).message)),
  });
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600' });
    res.end(`body of ${req.url}`);
  });
  const proxy = await startProxy(t, { upstreams: [origin.url], cache });
  return { redis, fault, cache, proxyUrl: proxy.url, changes, errors, originHits: () => origin.seen.length };
}

/** `count` requests (in bursts of `parallel`) to distinct and repeated paths; every one must be answered right. */
async function load(r: Rig, label: string, count: number, parallel: number): Promise<void> {
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, (_, j) => `/${label}/${(i + j) % 7}`);
    const answers = await Promise.all(batch.map((path) => directRequest(`${r.proxyUrl}${path}`, { timeoutMs: CLIENT_TIMEOUT_MS }).then((res) => ({ path, res }))));
    for (const { path, res } of answers) {
      assert.equal(res.status, 200, `${path}: ${res.status}`);
      assert.equal(res.body.toString(), `body of ${path}`);
    }
  }
}

async function hitAgain(r: Rig, path: string): Promise<boolean> {
  return until(
    async () => {
      const res = await directRequest(`${r.proxyUrl}${path}`, { timeoutMs: CLIENT_TIMEOUT_MS });
      return String(res.headers['cache-status']).includes('hit');
    },
    { timeoutMs: 10_000, what: `a cache hit for ${path}` },
  ).then(
    () => true,
    () => false,
  );
}

/** The breaker opened during the fault and closed after it, and the penalty was bounded. */
function assertDegradedAndRecovered(r: Rig, label: string, requests: number): void {
  const opened = r.changes.filter((c) => c.to === 'open').length;
  assert.ok(r.changes.some((c) => c.from === 'closed' && c.to === 'open'), `${label}: the breaker opened: ${JSON.stringify(r.changes.map((c) => c.to))}`);
  assert.equal(r.changes.at(-1)?.to, 'closed', `${label}: the breaker closed again`);
  assert.equal(r.cache.stats.storeState, 'closed');
  // Each request pays at most one timed-out store call: the requests in flight when the store
  // stopped answering (at most PARALLEL) each pay one, and the breaker opens; once open, only
  // the probes (one per re-opening) may time out. Without the per-request bound or the breaker,
  // every request of the load would pay several.
  assert.ok(r.cache.stats.storeTimeouts <= Math.max(THRESHOLD, PARALLEL) + opened, `${label}: ${r.cache.stats.storeTimeouts} timeouts, ${opened} openings`);
  assert.ok(r.cache.stats.storeSkipped > 0, `${label}: requests went on without the store while it was open`);
  assert.ok(r.cache.stats.storeErrors < requests, `${label}: ${r.cache.stats.storeErrors} store errors for ${requests} requests`);
}

const skip = REDIS_SERVER === undefined ? 'redis-server not installed' : false;

/**
 * One store fault under load: warm entries, the toxic while 30 requests go through, then the
 * toxic removed and a warm entry hit again; the breaker must have opened and closed around it.
 */
async function storeFault(t: TestContext, toxic: Parameters<FaultProxy['addToxic']>[0], phase: string, warmPath: string, label: string): Promise<Rig> {
  const r = await rig(t);
  await load(r, 'warm', 7, 7);
  assert.ok(await hitAgain(r, '/warm/0'));
  const added = r.fault.addToxic(toxic);
  await load(r, phase, 30, PARALLEL);
  r.fault.removeToxic(added.name);
  assert.ok(await hitAgain(r, warmPath), `${label}: hits again after the fault ends ${JSON.stringify(r.cache.stats)} ${JSON.stringify(r.changes.map((c) => [c.to, String(c.error)]))}`);
  assertDegradedAndRecovered(r, label, 30);
  return r;
}

test('redis answering later than the store timeout (latency toxic): answered, breaker opens, then hits again', { skip }, async (t) => {
  await storeFault(t, { type: 'latency', stream: 'downstream', attributes: { latency: STORE_TIMEOUT_MS * 4 } }, 'slow', '/warm/1', 'latency');
});

// The commands swallowed never get replies: only a new connection can be trusted again.
test('redis black-holed (timeout toxic swallows every byte): answered, then hits again on a fresh connection', { skip }, async (t) => {
  await storeFault(t, { type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } }, 'hole', '/warm/2', 'black hole');
});

test('redis connections reset (reset_peer): answered, then hits again', { skip }, async (t) => {
  const r = await storeFault(t, { type: 'reset_peer', stream: 'upstream', attributes: { timeout: 0 } }, 'reset', '/warm/3', 'reset_peer');
  assert.ok(r.errors.length <= THRESHOLD + 5, `store errors are told while the breaker is closed only: ${r.errors.length}`);
  assert.ok(r.errors.every((m) => m !== ''), 'every error told has a message');
});

test('redis killed and restarted under load: every request answered, hits again', { skip }, async (t) => {
  const r = await rig(t);
  await load(r, 'warm', 7, 7);
  const running = load(r, 'kill', 60, PARALLEL);
  await r.redis.stop();
  // Requests go on (the load above may be done by now): the breaker opens on their failures.
  let n = 0;
  await until(
    async () => {
      const res = await directRequest(`${r.proxyUrl}/meanwhile/${n++}`, { timeoutMs: CLIENT_TIMEOUT_MS });
      assert.equal(res.status, 200);
      return r.cache.stats.storeState === 'open';
    },
    { timeoutMs: 10_000, what: 'the breaker to open' },
  );
  // A new redis-server on the same port (the FaultProxy still points there); its cache is empty.
  const again = await startRedisOn(r.redis.port);
  t.after(() => again.stop());
  await running;
  await load(r, 'after', 7, 7);
  assert.ok(await hitAgain(r, '/after/0'), 'hits again once Redis is back');
  assertDegradedAndRecovered(r, 'kill/restart', 74);
  const opening = r.changes.find((c) => c.to === 'open');
  assert.notEqual(String((opening?.error as Error | undefined)?.message ?? ''), '', 'the opening carries the store error');
});

/** A redis-server on a given port (the one the FaultProxy forwards to), retried while the port frees. */
async function startRedisOn(port: number): Promise<RedisServer> {
  for (let i = 0; i < 50; i++) {
    try {
      return await startRedis({ port });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`could not restart redis-server on port ${port}`);
}

// ---- upstream faults, with and without the cache and collapsing ---------------------------------

const UPSTREAM_TIMEOUT_MS = 300;
const BODY = 'b'.repeat(64 * 1024);
type CacheMode = 'none' | 'cache' | 'cache+collapse';
type UpstreamFault = 'black-holed connect' | 'trickled head' | 'cut mid-body';

/** A burst of requests for one URL through a proxy whose upstream misbehaves in one phase. */
async function upstreamFault(t: TestContext, fault: UpstreamFault, mode: CacheMode): Promise<void> {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', 'content-length': String(BODY.length) });
    res.end(BODY);
  });
  let upstream: string;
  let faults: FaultProxy | null = null;
  if (fault === 'black-holed connect') upstream = `http://127.0.0.1:${await blackHole(t)}`;
  else {
    faults = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: origin.port } });
    t.after(() => faults!.close());
    upstream = faults.url;
    if (fault === 'trickled head') faults.addToxic({ type: 'slicer', stream: 'downstream', attributes: { average_size: 1, size_variation: 0, delay: 100_000 } });
    else faults.addToxic({ type: 'limit_data', stream: 'downstream', attributes: { bytes: 8 * 1024 } });
  }
  const cache = mode === 'none' ? null : createCache({ store: new MemoryStore(), mode: 'shared', collapse: mode === 'cache+collapse' ? 'store' : false });
  const proxy = await startProxy(t, {
    upstreams: [upstream],
    cache,
    timeouts: { connect: UPSTREAM_TIMEOUT_MS, headers: UPSTREAM_TIMEOUT_MS, body: UPSTREAM_TIMEOUT_MS, queue: UPSTREAM_TIMEOUT_MS },
    health: { maxFails: 1000 },
  });
  const label = `${fault}, ${mode}`;
  const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => directRequest(`${proxy.url}/page`, { timeoutMs: CLIENT_TIMEOUT_MS })));
  if (fault !== 'cut mid-body') {
    // Nothing ever arrives from this upstream, so every answer is the proxy's own 504, given when
    // an upstream timeout fired: the outcome is bound to those timeouts, not to the client's.
    for (const o of outcomes) assert.equal(o.status === 'fulfilled' ? o.value.status : String(o.reason), 504, label);
  }
  for (const o of outcomes) {
    if (o.status === 'rejected') {
      // Cut: the connection ended early. Never the client's own timeout (a stall).
      assert.doesNotMatch(String((o.reason as Error).message), /no answer from/, `${label}: a request stalled`);
      continue;
    }
    // Answered: an error status, or a response whose body is visibly short.
    const ok = o.value.status === 200 && o.value.body.length === BODY.length;
    assert.ok(!ok, `${label}: a whole response through a broken upstream?`);
    assert.ok(o.value.status === 502 || o.value.status === 504 || o.value.body.length < BODY.length, `${label}: ${o.value.status}`);
  }
  if (faults !== null) {
    // Nothing broken was stored: once the upstream is well, the whole body comes back.
    faults.reset();
    const after = await directRequest(`${proxy.url}/page`, { timeoutMs: CLIENT_TIMEOUT_MS });
    assert.equal(after.status, 200, label);
    assert.equal(after.body.length, BODY.length, label);
  }
}

for (const fault of ['black-holed connect', 'trickled head', 'cut mid-body'] as const) {
  test(`upstream ${fault}: every request of a burst answered or cut within the upstream timeouts, with no cache, a cache, and a collapsing cache`, async (t) => {
    for (const mode of ['none', 'cache', 'cache+collapse'] as const) await t.test(mode, (tt) => upstreamFault(tt, fault, mode));
  });
}
