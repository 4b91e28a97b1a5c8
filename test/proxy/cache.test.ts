/**
 * The shared-mode cache in the middle of the proxy: request collapsing against a real backend,
 * and every RFC 9111 rule class of the cache issue that applies to a shared cache, observed end
 * to end through the proxy — each subtest cites its section. The cache's own suite exercises
 * `cache.handle` in process; this one checks that the proxy feeds it the right requests (Host,
 * target, the client's conditions and directives) and writes its answers correctly. Run over the
 * memory, SQLite and Redis stores (a private redis-server per run).
 *
 * Time is a fake clock shared by the cache and the origin's `Date`, so ages, expiry and the stale
 * windows are exact and nothing sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MemoryStore, RedisStore, SqliteStore, createCache, type CacheStore } from '../../src/cache/index.ts';
import { createProxy } from '../../src/proxy/index.ts';
import { newExchange } from '../../src/proxy/exchange.ts';
import { createServer } from '../../src/server/index.ts';
import { backendLog, directRequest, startOrigin, startPython, startProxy, tempDir } from './helpers.ts';
import { REDIS_SERVER, startRedis } from '../cache/redisServer.ts';
import type { TestContext } from 'node:test';

const BURST = 10;

test('request collapsing: a burst of identical cacheable requests reaches the backend once', async (t) => {
  const backend = await startPython(t, { threaded: true });
  const proxy = await startProxy(t, { upstreams: [backend.url], cache: new MemoryStore() });
  const rs = await Promise.all(Array.from({ length: BURST }, () => directRequest(`${proxy.url}/cacheable?ms=300&k=burst`)));
  assert.ok(rs.every((r) => r.status === 200 && r.body.toString() === 'cacheable ms=300&k=burst'));
  const log = await backendLog(backend);
  assert.equal(log.filter((e) => e.target === '/cacheable?ms=300&k=burst').length, 1, 'one request reached the backend');
  const statuses = rs.map((r) => String(r.headers['cache-status']));
  assert.equal(statuses.filter((s) => s.includes('fwd=uri-miss')).length, 1, statuses.join(' | '));

  // Control: the same burst through a proxy without a cache reaches the (threaded) backend N times.
  const plain = await startProxy(t, { upstreams: [backend.url] });
  await Promise.all(Array.from({ length: BURST }, () => directRequest(`${plain.url}/cacheable?ms=300&k=plain`)));
  const log2 = await backendLog(backend);
  assert.equal(log2.filter((e) => e.target === '/cacheable?ms=300&k=plain').length, BURST);
});

test('a cache passed to the proxy must be shared-mode', () => {
  assert.throws(() => createProxy({ upstreams: ['http://127.0.0.1:1'], cache: createCache({ store: new MemoryStore() }) }), /mode: 'shared'/);
});

test('a fresh memory-cache hit is answered at once, with the fields, Age and Cache-Status of a hit through the full path', async (t) => {
  const clock = fakeClock();
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=100', date: new Date(clock.now()).toUTCString(), etag: '"v1"', 'x-request-id': 'from-origin' });
    res.end('cached body');
  });
  const proxy = createProxy({ upstreams: [origin.url], cache: createCache({ store: new MemoryStore(), mode: 'shared', now: clock.now }) });
  t.after(() => proxy.close({ timeout: 1000 }));
  // Whether the response was complete when `handle` returned: a hit needs no promise.
  const atOnce: boolean[] = [];
  const front = createServer({
    handler: (req, res) => {
      const done = proxy.handle(req, res, newExchange(req.headers.get('x-test-id') ?? null));
      atOnce.push(res.finished);
      return done;
    },
  });
  await front.listen(0, '127.0.0.1');
  t.after(() => front.close({ timeout: 1000 }));
  const url = `${front.url}/page`;
  assert.equal((await directRequest(url)).headers['cache-status'], 'holdfast; fwd=uri-miss; fwd-status=200; ttl=100; stored');
  clock.advance(10);
  const fast = await directRequest(url);
  // Pragma (without no-cache) changes nothing in RFC 9111 terms but keeps the request off the fast path.
  const full = await directRequest(url, { headers: { pragma: 'x-nothing' } });
  const head = await directRequest(url, { method: 'HEAD' });
  const withId = await directRequest(url, { headers: { 'x-test-id': 'req-7' } });
  assert.deepEqual(atOnce, [false, true, false, true, true]);
  assert.equal(origin.seen.length, 1);
  assert.deepEqual(fast.rawHeaders, full.rawHeaders);
  assert.deepEqual(head.rawHeaders, full.rawHeaders, 'HEAD: the GET response\'s fields, Content-Length included');
  assert.equal(fast.body.toString(), 'cached body');
  assert.equal(head.body.length, 0);
  assert.equal(fast.headers.age, '10');
  assert.equal(fast.headers['cache-status'], 'holdfast; hit; ttl=90');
  assert.equal(fast.headers.via, '1.1 holdfast');
  assert.equal(fast.headers['x-request-id'], 'from-origin');
  assert.equal(withId.headers['x-request-id'], 'req-7', 'the request id replaces a stored one');
  assert.deepEqual(proxy.stats.cache, { miss: 1, hit: 4 });
  assert.equal(proxy.stats.requests, 5);
});

test('a stored response that varies on a field the proxy adds or drops is selected by the request as forwarded', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=100', vary: req.url === '/xff' ? 'X-Forwarded-For' : 'Accept-Language' });
    res.end(`for ${req.headers['x-forwarded-for'] ?? '-'} in ${req.headers['accept-language'] ?? '-'}`);
  });
  const proxy = await startProxy(t, { upstreams: [origin.url], cache: new MemoryStore() });
  const get = async (path: string, headers: Record<string, string> = {}): Promise<string> => (await directRequest(`${proxy.url}${path}`, { headers })).body.toString();
  assert.equal(await get('/xff'), 'for 127.0.0.1 in -');
  assert.equal(await get('/xff'), 'for 127.0.0.1 in -');
  // The proxy appends the client's address: the stored "127.0.0.1" variant is not this request's.
  assert.equal(await get('/xff', { 'x-forwarded-for': '127.0.0.1' }), 'for 127.0.0.1, 127.0.0.1 in -');
  assert.equal(await get('/lang'), 'for 127.0.0.1 in -');
  assert.equal(await get('/lang', { 'accept-language': 'de' }), 'for 127.0.0.1 in de');
  assert.equal(await get('/lang', { 'accept-language': 'de' }), 'for 127.0.0.1 in de');
  // Connection names Accept-Language as hop-by-hop: the forwarded request has none.
  assert.equal(await get('/lang', { 'accept-language': 'de', connection: 'close, accept-language' }), 'for 127.0.0.1 in -');
  assert.equal(origin.seen.length, 4);
  assert.equal(proxy.stats.cache.hit, 3);
});

/** A clock shared by the cache and the origin: ms since the epoch, moved by the test only. */
function fakeClock(): { now: () => number; advance(seconds: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (seconds) => void (t += seconds * 1000) };
}

type Route = (req: IncomingMessage, send: (status: number, headers: Record<string, string>, body?: string) => void, n: number, res: ServerResponse) => void;

const DAY = 86_400_000;

/**
 * The origin: one route per path, each the behaviour one rule needs. `n` counts earlier requests
 * to the same path. Every response carries `Date` from the fake clock.
 */
function routes(now: () => number): Record<string, Route> {
  const validator = (etag: string, cc: string, body: string, extra: Record<string, string> = {}): Route => (req, send, n) => {
    if (req.headers['if-none-match'] === etag) return send(304, { etag, 'cache-control': cc, 'x-validated': String(n), ...extra });
    send(200, { etag, 'cache-control': cc, 'x-validated': String(n), 'content-type': 'text/plain', ...extra }, body);
  };
  return {
    '/fresh': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `fresh ${n}`),
    '/age': (_q, send, n) => send(200, { 'cache-control': 'max-age=60', age: '30' }, `aged ${n}`),
    '/expires': (_q, send, n) => send(200, { expires: new Date(now() + 60_000).toUTCString() }, `expires ${n}`),
    '/heuristic': (_q, send, n) => send(200, { 'last-modified': new Date(now() - 10 * DAY).toUTCString() }, `heuristic ${n}`),
    '/no-freshness': (_q, send, n) => send(200, {}, `plain ${n}`),
    '/s-maxage': (_q, send, n) => send(200, { 'cache-control': 'max-age=0, s-maxage=60' }, `shared ${n}`),
    '/private': (q, send) => send(200, { 'cache-control': 'private, max-age=60' }, `private for ${q.headers.cookie ?? 'nobody'}`),
    '/auth': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `secret ${n}`),
    '/auth-public': (_q, send, n) => send(200, { 'cache-control': 'public, max-age=60' }, `public secret ${n}`),
    '/auth-smaxage': (_q, send, n) => send(200, { 'cache-control': 's-maxage=60' }, `shared secret ${n}`),
    '/no-store': (_q, send, n) => send(200, { 'cache-control': 'no-store' }, `no-store ${n}`),
    '/req-no-store': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `req-no-store ${n}`),
    '/no-cache': validator('"nc"', 'no-cache, max-age=60', 'no-cache body'),
    '/req-no-cache': validator('"rnc"', 'max-age=60', 'req-no-cache body'),
    '/only-if-cached': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `oic ${n}`),
    '/max-stale': (_q, send, n) => send(200, { 'cache-control': 'max-age=10' }, `max-stale ${n}`),
    '/min-fresh': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `min-fresh ${n}`),
    '/vary': (q, send) => send(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, `lang=${q.headers['accept-language'] ?? '-'}`),
    '/vary-star': (_q, send, n) => send(200, { 'cache-control': 'max-age=60', vary: '*' }, `star ${n}`),
    '/revalidate': validator('"v1"', 'max-age=0', 'validated body'),
    '/mismatch': (q, send, n) => {
      // Every conditional request is answered 304 for a validator nobody holds.
      if (q.headers['if-none-match'] !== undefined) return send(304, { etag: '"other"', 'cache-control': 'max-age=60' });
      send(200, { etag: `"m${n}"`, 'cache-control': 'max-age=0' }, `mismatch ${n}`);
    },
    '/bad-304': (_q, send) => send(304, { etag: '"x"' }),
    '/own-conditional': (_q, send, n) => send(200, { etag: '"own"', 'cache-control': 'max-age=60' }, `own ${n}`),
    '/must-revalidate': (q, send, n) => (q.headers['x-fail'] === '1' ? send(503, {}, 'down') : send(200, { 'cache-control': 'max-age=10, stale-if-error=600, must-revalidate' }, `mr ${n}`)),
    '/proxy-revalidate': (q, send, n) => (q.headers['x-fail'] === '1' ? send(503, {}, 'down') : send(200, { 'cache-control': 'max-age=10, stale-if-error=600, proxy-revalidate' }, `pr ${n}`)),
    '/swr': (_q, send, n) => send(200, { 'cache-control': 'max-age=10, stale-while-revalidate=100' }, `swr ${n}`),
    '/sie': (q, send, n, res) => {
      if (q.headers['x-fail'] === '1') return send(503, {}, 'down');
      if (q.headers['x-fail'] === 'reset') return void res.socket?.destroy();
      send(200, { 'cache-control': 'max-age=10, stale-if-error=100' }, `sie ${n}`);
    },
    '/item': (q, send, n) => (q.method === 'GET' ? send(200, { 'cache-control': 'max-age=60' }, `item ${n}`) : send(q.headers['x-fail'] === '1' ? 500 : 200, {}, 'updated')),
    '/moved': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `moved ${n}`),
    '/described': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `described ${n}`),
    '/elsewhere': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `elsewhere ${n}`),
    '/writer': (q, send) => {
      // Unsafe requests here name other resources in Location / Content-Location.
      const headers: Record<string, string> = {};
      if (q.headers['x-location'] !== undefined) headers.location = String(q.headers['x-location']);
      if (q.headers['x-content-location'] !== undefined) headers['content-location'] = String(q.headers['x-content-location']);
      send(201, headers, 'written');
    },
    '/head': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `head ${n}`),
    '/shared-fleet': (_q, send, n) => send(200, { 'cache-control': 'max-age=60' }, `fleet ${n}`),
    // The standards around RFC 9111 (RFC 9111 §5.1, §5.3, §4.2.4; RFC 9213; RFC 9211; RFC 9110 §14).
    '/age-list': (_q, send, n) => send(200, { 'cache-control': 'max-age=15', age: '10, 200' }, `age-list ${n}`),
    '/bad-date': (_q, send, n) => send(200, { date: 'yesterday', expires: new Date(now() + 60_000).toUTCString() }, `bad-date ${n}`),
    '/date-case': (_q, send, n) => send(200, { expires: new Date(now() + 60_000).toUTCString().toUpperCase() }, `date-case ${n}`),
    '/cdn': (_q, send, n) => send(200, { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }, `cdn ${n}`),
    '/cdn-private': (_q, send, n) => send(200, { 'cache-control': 'public, max-age=60', 'cdn-cache-control': 'private' }, `cdn-private ${n}`),
    '/chain': (_q, send, n) => send(200, { 'cache-control': 'max-age=60', 'cache-status': 'origin-cache; fwd=uri-miss' }, `chain ${n}`),
    '/range': (_q, send) => send(200, { 'cache-control': 'max-age=60', etag: '"r1"', 'content-type': 'text/plain' }, '0123456789abcdefghij'),
    '/range-stale': (q, send) => (q.headers['if-none-match'] === '"rs"' ? send(304, { etag: '"rs"', 'cache-control': 'max-age=0' }) : send(200, { etag: '"rs"', 'cache-control': 'max-age=0' }, 'abcdefghij')),
    '/parts': (q, send) => {
      // One part per Range request (RFC 9110 §14.2), a strong validator; the whole otherwise.
      const body = '0123456789abcdefghij';
      const m = /^bytes=(\d+)-(\d*)$/.exec(String(q.headers.range ?? ''));
      const headers = { etag: '"parts"', 'cache-control': 'max-age=60', 'content-type': 'text/plain' };
      if (m === null) return send(200, headers, body);
      const first = Number(m[1]);
      const last = m[2] === '' ? body.length - 1 : Math.min(Number(m[2]), body.length - 1);
      send(206, { ...headers, 'content-range': `bytes ${first}-${last}/${body.length}` }, body.slice(first, last + 1));
    },
    '/early-hints': (_q, send, n, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      send(200, { 'cache-control': 'max-age=60' }, `early-hints ${n}`);
    },
    '/flaky': (q, send, n, res) => {
      if (q.headers['x-fail'] === 'reset') return void res.socket?.destroy();
      send(200, { 'cache-control': q.headers['x-must'] === '1' ? 'max-age=10, must-revalidate' : 'max-age=10' }, `flaky ${n}`);
    },
  };
}

async function rfcOrigin(t: TestContext, now: () => number) {
  const table = routes(now);
  const counts = new Map<string, number>();
  const origin = await startOrigin(t, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const n = counts.get(path) ?? 0;
    counts.set(path, n + 1);
    const send = (status: number, headers: Record<string, string>, body?: string): void => {
      res.writeHead(status, { date: new Date(now()).toUTCString(), ...headers });
      res.end(body);
    };
    const route = table[path];
    if (route === undefined) return send(404, {}, 'not found');
    route(req, send, n, res);
  });
  const seen = (path: string, method = 'GET') => origin.seen.filter((s) => s.url === path && s.method === method);
  const count = (path: string, method = 'GET'): number => seen(path, method).length;
  const hasHeader = (raw: string[], name: string): boolean => raw.some((h, i) => i % 2 === 0 && h.toLowerCase() === name);
  return { origin, seen, count, hasHeader };
}

interface StoreRun {
  name: string;
  /** Skip reason when the store cannot run here. */
  skip?: string;
  /** A store, and a second handle on the same data for another proxy (null: not shareable). */
  open(t: TestContext): Promise<{ store: CacheStore; second: (() => Promise<CacheStore>) | null }>;
}

const stores: StoreRun[] = [
  { name: 'memory', open: async () => ({ store: new MemoryStore(), second: null }) },
  {
    name: 'sqlite',
    open: async (t) => {
      const directory = tempDir(t, 'hf-proxy-cache-');
      const open = async (): Promise<CacheStore> => {
        const store = new SqliteStore({ directory });
        t.after(() => store.close());
        return store;
      };
      return { store: await open(), second: open };
    },
  },
  {
    name: 'redis',
    skip: REDIS_SERVER === undefined ? 'redis-server not installed' : undefined,
    open: async (t) => {
      const redis = await startRedis();
      t.after(() => redis.stop());
      const prefix = RedisStore.uniquePrefix();
      const open = async (): Promise<CacheStore> => {
        const store = await RedisStore.connect({ url: redis.url, prefix });
        // Registered after redis.stop, so run before it (after-hooks run in reverse order).
        t.after(() => store.close());
        return store;
      };
      return { store: await open(), second: open };
    },
  },
];

for (const run of stores) {
  test(`RFC 9111 through the proxy (shared mode, ${run.name} store)`, { skip: run.skip ?? false }, async (t) => {
    const clock = fakeClock();
    const { store, second } = await run.open(t);
    const errors: Array<[unknown, string]> = [];
    const cache = createCache({ store, mode: 'shared', now: clock.now, staleIfDisconnected: true, onError: (err, context) => errors.push([err, context]) });
    const { origin, seen, count, hasHeader } = await rfcOrigin(t, clock.now);
    const proxy = await startProxy(t, { upstreams: [origin.url], cache });
    const get = (path: string, headers: Record<string, string> = {}) => directRequest(`${proxy.url}${path}`, { headers });
    const send = (method: string, path: string, headers: Record<string, string> = {}) => directRequest(`${proxy.url}${path}`, { method, headers, body: method === 'DELETE' ? undefined : 'x' });
    const status = (r: { headers: Record<string, unknown> }): string => String(r.headers['cache-status']);

    await t.test('§4.2 a fresh response is served from storage; §5.1 with Age; RFC 9211 Cache-Status says so', async () => {
      const a = await get('/fresh');
      clock.advance(5);
      const b = await get('/fresh');
      assert.equal(b.body.toString(), 'fresh 0');
      assert.equal(count('/fresh'), 1);
      assert.match(status(a), /^holdfast; fwd=uri-miss; fwd-status=200; ttl=60; stored$/);
      assert.match(status(b), /^holdfast; hit; ttl=55$/);
      assert.equal(b.headers.age, '5');
      assert.equal(b.headers['content-length'], String('fresh 0'.length));
      clock.advance(60);
      assert.equal((await get('/fresh')).body.toString(), 'fresh 1', 'stale without a validator: fetched again');
    });

    await t.test('§4.2.3 the Age the origin sent counts: served with it plus the time stored, and stale sooner', async () => {
      await get('/age');
      clock.advance(10);
      const b = await get('/age');
      assert.equal(b.body.toString(), 'aged 0');
      assert.equal(b.headers.age, '40');
      clock.advance(25); // 65 s old: past max-age=60 although stored only 35 s
      assert.equal((await get('/age')).body.toString(), 'aged 1');
    });

    await t.test('§5.3 Expires gives freshness without max-age', async () => {
      await get('/expires');
      clock.advance(50);
      assert.equal((await get('/expires')).body.toString(), 'expires 0');
      clock.advance(20);
      assert.equal((await get('/expires')).body.toString(), 'expires 1');
    });

    await t.test('§4.2.2 heuristic freshness from Last-Modified (10% of its age); none without it', async () => {
      await get('/heuristic');
      clock.advance(3600); // within a day (10% of ten days)
      assert.equal((await get('/heuristic')).body.toString(), 'heuristic 0');
      await get('/no-freshness');
      assert.equal((await get('/no-freshness')).body.toString(), 'plain 1');
    });

    await t.test('§5.2.2.10 s-maxage makes a max-age=0 response fresh for a shared cache', async () => {
      await get('/s-maxage');
      const b = await get('/s-maxage');
      assert.equal(b.body.toString(), 'shared 0');
      assert.equal(count('/s-maxage'), 1);
    });

    await t.test('§5.2.2.7 private responses are not stored by a shared cache', async () => {
      assert.equal((await get('/private', { cookie: 'alice' })).body.toString(), 'private for alice');
      assert.equal((await get('/private', { cookie: 'bob' })).body.toString(), 'private for bob');
      assert.equal(count('/private'), 2);
    });

    await t.test('§3.5 a response to a request with Authorization is not stored, unless public (§5.2.2.9) or s-maxage allows it', async () => {
      await get('/auth', { authorization: 'Bearer a' });
      assert.equal((await get('/auth', { authorization: 'Bearer a' })).body.toString(), 'secret 1');
      await get('/auth-public', { authorization: 'Bearer a' });
      assert.equal((await get('/auth-public', { authorization: 'Bearer a' })).body.toString(), 'public secret 0');
      await get('/auth-smaxage', { authorization: 'Bearer a' });
      assert.equal((await get('/auth-smaxage', { authorization: 'Bearer a' })).body.toString(), 'shared secret 0');
    });

    await t.test('§5.2.2.5 a no-store response is not stored; §5.2.1.5 nor is one to a no-store request', async () => {
      await get('/no-store');
      assert.equal((await get('/no-store')).body.toString(), 'no-store 1');
      await get('/req-no-store', { 'cache-control': 'no-store' });
      assert.equal((await get('/req-no-store')).body.toString(), 'req-no-store 1', 'the no-store request left nothing stored');
    });

    await t.test('§5.2.2.4 a no-cache response is stored but validated with the origin on every use', async () => {
      await get('/no-cache');
      for (let i = 0; i < 2; i++) {
        const r = await get('/no-cache');
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'no-cache body');
        assert.match(status(r), /fwd=stale; fwd-status=304/);
      }
      const conditional = seen('/no-cache').slice(1);
      assert.equal(conditional.length, 2);
      assert.ok(conditional.every((s) => hasHeader(s.rawHeaders, 'if-none-match')));
    });

    await t.test('§5.2.1.4 request no-cache and §5.4 Pragma: no-cache validate a fresh stored response', async () => {
      await get('/req-no-cache');
      assert.equal((await get('/req-no-cache')).body.toString(), 'req-no-cache body');
      assert.equal(count('/req-no-cache'), 1, 'fresh: not validated');
      const a = await get('/req-no-cache', { 'cache-control': 'no-cache' });
      const b = await get('/req-no-cache', { pragma: 'no-cache' });
      for (const r of [a, b]) {
        assert.equal(r.body.toString(), 'req-no-cache body');
        assert.match(status(r), /fwd-status=304/);
      }
      assert.equal(count('/req-no-cache'), 3);
    });

    await t.test('§5.2.1.7 only-if-cached: 504 without contacting the origin when nothing is stored; the stored response when it is', async () => {
      const a = await get('/only-if-cached', { 'cache-control': 'only-if-cached' });
      assert.equal(a.status, 504);
      assert.equal(count('/only-if-cached'), 0);
      await get('/only-if-cached');
      const b = await get('/only-if-cached', { 'cache-control': 'only-if-cached' });
      assert.equal(b.status, 200);
      assert.equal(b.body.toString(), 'oic 0');
    });

    await t.test('§5.2.1.2 max-stale accepts a stale response; §5.2.1.3 min-fresh refuses one about to go stale', async () => {
      await get('/max-stale');
      clock.advance(20); // 10 s stale
      assert.equal((await get('/max-stale', { 'cache-control': 'max-stale=60' })).body.toString(), 'max-stale 0');
      assert.equal((await get('/max-stale')).body.toString(), 'max-stale 1', 'without max-stale: fetched again');
      await get('/min-fresh');
      clock.advance(30); // 30 s of freshness left
      assert.equal((await get('/min-fresh', { 'cache-control': 'min-fresh=10' })).body.toString(), 'min-fresh 0');
      assert.equal((await get('/min-fresh', { 'cache-control': 'min-fresh=40' })).body.toString(), 'min-fresh 1');
    });

    await t.test('§4.1 Vary: variants stored side by side, each request gets its own; Vary: * never matches', async () => {
      for (let round = 0; round < 2; round++) {
        for (const lang of ['en', 'fr', 'de']) assert.equal((await get('/vary', { 'accept-language': lang })).body.toString(), `lang=${lang}`);
      }
      assert.equal(count('/vary'), 3, 'one origin request per variant');
      await get('/vary-star');
      assert.equal((await get('/vary-star')).body.toString(), 'star 1');
    });

    await t.test('§4.3.1/§4.3.4 revalidation: the 304 is merged into the response it validated and that body is served', async () => {
      const first = await get('/revalidate');
      assert.equal(first.status, 200);
      assert.equal(first.headers['x-validated'], '0');
      const second = await get('/revalidate');
      assert.equal(second.status, 200);
      assert.equal(second.body.toString(), 'validated body');
      assert.equal(second.headers['x-validated'], '1', 'headers updated from the 304 (§3.2)');
      assert.equal(second.headers['content-type'], 'text/plain', 'stored headers the 304 did not carry are kept');
      assert.match(status(second), /fwd=stale; fwd-status=304/);
      const conditional = seen('/revalidate')[1]!;
      assert.ok(conditional.rawHeaders.some((h, i) => i % 2 === 1 && h === '"v1"') && hasHeader(conditional.rawHeaders, 'if-none-match'), 'revalidated with If-None-Match: "v1"');
    });

    await t.test('§4.3.4 a 304 for a validator that matches nothing held is not merged: the request is repeated unconditionally', async () => {
      const repeated = cache.stats.repeatedUnconditionally;
      assert.equal((await get('/mismatch')).body.toString(), 'mismatch 0');
      const b = await get('/mismatch');
      assert.equal(b.status, 200);
      assert.equal(b.body.toString(), 'mismatch 2', 'the fresh answer to the repeated request, not the held body');
      assert.equal(cache.stats.repeatedUnconditionally, repeated + 1);
      const requests = seen('/mismatch');
      assert.equal(requests.length, 3);
      assert.ok(hasHeader(requests[1]!.rawHeaders, 'if-none-match'));
      assert.ok(!hasHeader(requests[2]!.rawHeaders, 'if-none-match'), 'the repeat is unconditional');
    });

    await t.test('seed 003: a caller that sent no conditional request never sees a 304 (an origin answering 304 to it is a 502)', async () => {
      const r = await get('/bad-304');
      assert.notEqual(r.status, 304);
      assert.equal(r.status, 502);
      assert.match(r.body.toString(), /HF_CACHE_UNEXPECTED_304/);
    });

    await t.test('RFC 9110 §13.1.2 / §4.3.2: a caller with its own If-None-Match gets 304 when it matches, 200 when not; its conditions are not forwarded', async () => {
      const miss = await get('/own-conditional', { 'if-none-match': '"own"' });
      assert.equal(miss.status, 304);
      assert.equal(miss.body.length, 0);
      assert.equal(miss.headers.etag, '"own"');
      assert.ok(!hasHeader(seen('/own-conditional')[0]!.rawHeaders, 'if-none-match'), 'fetched whole, to be stored');
      assert.equal((await get('/own-conditional', { 'if-none-match': 'W/"own"' })).status, 304, 'weak comparison');
      const other = await get('/own-conditional', { 'if-none-match': '"zzz"' });
      assert.equal(other.status, 200);
      assert.equal(other.body.toString(), 'own 0');
      assert.equal(count('/own-conditional'), 1);
    });

    await t.test('§5.2.2.2 must-revalidate and §5.2.2.8 proxy-revalidate: a stale response is not served when the origin fails, despite stale-if-error', async () => {
      for (const path of ['/must-revalidate', '/proxy-revalidate']) {
        await get(path);
        clock.advance(20);
        const r = await get(path, { 'x-fail': '1' });
        assert.equal(r.status, 503, path);
        assert.equal(r.body.toString(), 'down', path);
      }
    });

    await t.test('RFC 5861 §3 stale-while-revalidate: stale served at once, revalidated in the background once', async () => {
      await get('/swr');
      clock.advance(20);
      const answers = await Promise.all([1, 2, 3].map(() => get('/swr')));
      for (const a of answers) {
        assert.equal(a.body.toString(), 'swr 0');
        assert.match(status(a), /^holdfast; hit; ttl=-\d+$/, 'RFC 9211 §2.4: a negative ttl says stale');
        assert.equal(a.headers.age, '20');
      }
      await proxy.cache!.idle();
      assert.equal(count('/swr'), 2, 'one background request');
      const fresh = await get('/swr');
      assert.equal(fresh.body.toString(), 'swr 1');
      assert.match(status(fresh), /^holdfast; hit; ttl=\d+$/);
    });

    await t.test('RFC 5861 §4 stale-if-error: stale served on a 5xx and on a connection failure, until the window ends', async () => {
      await get('/sie');
      clock.advance(30);
      const a = await get('/sie', { 'x-fail': '1' });
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), 'sie 0');
      assert.match(status(a), /^holdfast; fwd=stale; fwd-status=503; ttl=-20; detail=stale-if-error$/);
      const b = await get('/sie', { 'x-fail': 'reset' });
      assert.equal(b.status, 200);
      assert.equal(b.body.toString(), 'sie 0');
      clock.advance(200); // past stale-if-error=100
      const c = await get('/sie', { 'x-fail': '1' });
      assert.equal(c.status, 503);
    });

    await t.test('§4.4 a successful unsafe request invalidates its URI (POST, PUT, DELETE); a failed one does not', async () => {
      // The origin numbers its answers by the requests to /item it has seen, writes included.
      const next = (): string => `item ${origin.seen.filter((s) => s.url === '/item').length}`;
      let stored = next();
      assert.equal((await get('/item')).body.toString(), stored);
      for (const method of ['POST', 'PUT', 'DELETE']) {
        assert.equal((await get('/item')).body.toString(), stored, 'stored');
        const w = await send(method, '/item');
        assert.equal(w.body.toString(), 'updated');
        assert.match(status(w), /^holdfast; fwd=method; fwd-status=2\d\d$/);
        stored = next();
        assert.equal((await get('/item')).body.toString(), stored, `invalidated by ${method}`);
      }
      await send('POST', '/item', { 'x-fail': '1' });
      assert.equal((await get('/item')).body.toString(), stored, 'a 500 invalidates nothing');
    });

    await t.test('§4.4 Location and Content-Location of the same origin are invalidated; another origin\'s are not', async () => {
      const host = new URL(proxy.url).host;
      for (const p of ['/moved', '/described']) await get(p);
      await get('/elsewhere', { host: 'other.example' });
      await send('POST', '/writer', { 'x-location': '/moved', 'x-content-location': `http://${host}/described` });
      assert.equal((await get('/moved')).body.toString(), 'moved 1', 'relative Location invalidated');
      assert.equal((await get('/described')).body.toString(), 'described 1', 'absolute same-origin Content-Location invalidated');
      // A response naming another host must not evict that host's entries (§4.4: "MUST NOT").
      await send('POST', '/writer', { 'x-location': 'http://other.example/elsewhere' });
      const other = await get('/elsewhere', { host: 'other.example' });
      assert.equal(other.body.toString(), 'elsewhere 0');
      assert.match(status(other), /^holdfast; hit; ttl=\d+$/);
    });

    await t.test('§4 (HEAD) answered from a stored GET, with its Content-Length and no body', async () => {
      await get('/head');
      const head = await directRequest(`${proxy.url}/head`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String('head 0'.length));
      assert.equal(head.body.length, 0);
      assert.equal(count('/head', 'HEAD'), 0);
    });

    await t.test('§5.1 a list-valued Age counts by its first member; RFC 9110 §6.6.1 an invalid Date is the time of receipt; §4.2 dates in any case', async () => {
      await get('/age-list');
      clock.advance(6); // 10 + 6 > 15
      assert.equal((await get('/age-list')).body.toString(), 'age-list 1');
      await get('/bad-date');
      await get('/date-case');
      clock.advance(30);
      assert.equal((await get('/bad-date')).body.toString(), 'bad-date 0');
      assert.equal((await get('/date-case')).body.toString(), 'date-case 0');
    });

    await t.test('RFC 9213 CDN-Cache-Control takes precedence over Cache-Control in the proxy\'s shared cache', async () => {
      await get('/cdn');
      assert.match(status(await get('/cdn')), /^holdfast; hit; ttl=60$/);
      await get('/cdn-private');
      assert.equal((await get('/cdn-private')).body.toString(), 'cdn-private 1');
    });

    await t.test('RFC 9211 the cache\'s entry follows the upstream\'s in Cache-Status', async () => {
      assert.equal(status(await get('/chain')), 'origin-cache; fwd=uri-miss, holdfast; fwd=uri-miss; fwd-status=200; ttl=60; stored');
      assert.equal(status(await get('/chain')), 'origin-cache; fwd=uri-miss, holdfast; hit; ttl=60');
    });

    await t.test('RFC 9110 §14 ranges of a stored response are answered from the cache: 206, multipart, If-Range, 416', async () => {
      await get('/range');
      const one = await get('/range', { range: 'bytes=2-4' });
      assert.equal(one.status, 206);
      assert.equal(one.body.toString(), '234');
      assert.equal(one.headers['content-range'], 'bytes 2-4/20');
      const many = await get('/range', { range: 'bytes=0-0,-1' });
      assert.equal(many.status, 206);
      assert.match(String(many.headers['content-type']), /^multipart\/byteranges; boundary=/);
      assert.match(many.body.toString(), /Content-Range: bytes 0-0\/20\r\n\r\n0\r\n[\s\S]*Content-Range: bytes 19-19\/20\r\n\r\nj\r\n/);
      assert.equal((await get('/range', { range: 'bytes=0-0', 'if-range': '"r2"' })).status, 200);
      assert.equal((await get('/range', { range: 'bytes=30-' })).status, 416);
      assert.equal(count('/range'), 1);
      // Stale: validated as a whole (304), then cut.
      await get('/range-stale');
      const cut = await get('/range-stale', { range: 'bytes=-3' });
      assert.equal(cut.status, 206);
      assert.equal(cut.body.toString(), 'hij');
      assert.match(status(cut), /fwd=stale; fwd-status=304/);
      assert.equal(seen('/range-stale').filter((r) => hasHeader(r.rawHeaders, 'range')).length, 0);
    });

    await t.test('RFC 9111 §3.3-3.4 partial content: a 206 is stored, answers ranges within it, is combined with the next part and completed into a 200; never answers the whole before that', async () => {
      const a = await get('/parts', { range: 'bytes=0-9' });
      assert.equal(a.status, 206);
      assert.equal(a.body.toString(), '0123456789');
      assert.match(status(a), /^holdfast; fwd=uri-miss; fwd-status=206; ttl=60; stored$/);
      const within = await get('/parts', { range: 'bytes=2-4' });
      assert.equal(within.status, 206);
      assert.equal(within.body.toString(), '234');
      assert.equal(within.headers['content-range'], 'bytes 2-4/20');
      assert.match(status(within), /^holdfast; hit; ttl=\d+$/);
      assert.equal(count('/parts'), 1);
      // The rest of the representation, forwarded as asked and combined (same strong validator).
      const rest = await get('/parts', { range: 'bytes=10-' });
      assert.equal(rest.body.toString(), 'abcdefghij');
      assert.match(status(rest), /^holdfast; fwd=partial; fwd-status=206/);
      const whole = await get('/parts');
      assert.equal(whole.status, 200);
      assert.equal(whole.body.toString(), '0123456789abcdefghij');
      assert.equal(whole.headers['content-length'], '20');
      assert.equal(whole.headers['content-range'], undefined);
      assert.match(status(whole), /^holdfast; hit/);
      assert.equal(count('/parts'), 2);
      assert.equal(seen('/parts').filter((r) => !hasHeader(r.rawHeaders, 'range')).length, 0, 'the whole was never fetched');
    });

    await t.test('RFC 9111 §3 a 1xx (103 Early Hints) is not stored and does not keep the final response from being stored', async () => {
      await get('/early-hints');
      const b = await get('/early-hints');
      assert.equal(b.body.toString(), 'early-hints 0');
      assert.equal(count('/early-hints'), 1);
    });

    await t.test('RFC 9111 §4.2.4 stale on disconnect: the origin drops the connection, the stored response is served stale; not with must-revalidate', async () => {
      await get('/flaky');
      clock.advance(30);
      const stale = await get('/flaky', { 'x-fail': 'reset' });
      assert.equal(stale.status, 200);
      assert.equal(stale.body.toString(), 'flaky 0');
      assert.equal(status(stale), 'holdfast; fwd=stale; ttl=-20; detail=disconnected');
      await get('/flaky', { 'cache-control': 'no-cache', 'x-must': '1' }); // stored again, now must-revalidate
      clock.advance(30);
      const refused = await get('/flaky', { 'x-fail': 'reset' });
      assert.equal(refused.status, 502);
    });

    if (second !== null) {
      await t.test('one store, two proxies: a response stored through one is a hit through the other', async () => {
        const other = await startProxy(t, { upstreams: [origin.url], cache: createCache({ store: await second(), mode: 'shared', now: clock.now }) });
        // Same Host for both, so both file it under the same key.
        const host = new URL(proxy.url).host;
        await get('/shared-fleet');
        const r = await directRequest(`${other.url}/shared-fleet`, { headers: { host } });
        assert.equal(r.body.toString(), 'fleet 0');
        assert.match(status(r), /^holdfast; hit; ttl=\d+$/);
        assert.equal(count('/shared-fleet'), 1);
      });
    }

    assert.deepEqual(errors.filter(([, context]) => !context.startsWith('stale-while')), [], 'the cache absorbed no store errors');
  });
}
