/**
 * The shared-mode cache in the middle of the proxy: request collapsing against a real backend,
 * and a representative set of RFC 9111 behaviours observed end to end through the proxy (the
 * cache's own suite exercises `cache.handle` in process; this one checks that the proxy feeds
 * it the right requests and writes its answers correctly), over the memory and SQLite stores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, SqliteStore, createCache, type CacheStore } from '../../src/cache/index.ts';
import { createProxy } from '../../src/proxy/index.ts';
import { backendLog, directRequest, startOrigin, startPython, startProxy, tempDir } from './helpers.ts';
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
  assert.equal(statuses.filter((s) => s.includes('fwd=miss')).length, 1, statuses.join(' | '));

  // Control: the same burst through a proxy without a cache reaches the (threaded) backend N times.
  const plain = await startProxy(t, { upstreams: [backend.url] });
  await Promise.all(Array.from({ length: BURST }, () => directRequest(`${plain.url}/cacheable?ms=300&k=plain`)));
  const log2 = await backendLog(backend);
  assert.equal(log2.filter((e) => e.target === '/cacheable?ms=300&k=plain').length, BURST);
});

test('a cache passed to the proxy must be shared-mode', () => {
  assert.throws(() => createProxy({ upstreams: ['http://127.0.0.1:1'], cache: createCache({ store: new MemoryStore() }) }), /mode: 'shared'/);
});

/** The origin: behaviour chosen by path; counts per path. */
async function rfcOrigin(t: TestContext) {
  let version = 1;
  const origin = await startOrigin(t, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const send = (headers: Record<string, string>, body: string, status = 200): void => {
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(body);
    };
    switch (path) {
      case '/fresh':
        return send({ 'cache-control': 'max-age=60' }, 'fresh body');
      case '/s-maxage':
        return send({ 'cache-control': 'max-age=0, s-maxage=60' }, 'shared body');
      case '/private':
        return send({ 'cache-control': 'private, max-age=60' }, `private for ${req.headers.cookie ?? 'nobody'}`);
      case '/no-store':
        return send({ 'cache-control': 'no-store' }, 'no-store body');
      case '/vary':
        return send({ 'cache-control': 'max-age=60', vary: 'Accept-Language' }, `lang=${req.headers['accept-language'] ?? '-'}`);
      case '/auth':
        return send({ 'cache-control': 'max-age=60' }, 'secret');
      case '/revalidate': {
        const etag = '"v1"';
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { etag, 'cache-control': 'max-age=0', 'x-validated': String(++version) });
          res.end();
          return;
        }
        return send({ etag, 'cache-control': 'max-age=0', 'x-validated': '1' }, 'validated body');
      }
      case '/item':
        if (req.method === 'POST') return send({}, 'updated');
        return send({ 'cache-control': 'max-age=60' }, `item seen ${origin.seen.filter((s) => s.url === '/item' && s.method === 'GET').length}`);
      default:
        return send({}, 'not found', 404);
    }
  });
  const count = (path: string, method = 'GET'): number => origin.seen.filter((s) => s.url === path && s.method === method).length;
  return { origin, count };
}

const stores: Array<[string, (t: TestContext) => CacheStore]> = [
  ['memory', () => new MemoryStore()],
  [
    'sqlite',
    (t) => {
      const store = new SqliteStore({ directory: tempDir(t, 'hf-proxy-cache-') });
      t.after(() => store.close());
      return store;
    },
  ],
];

for (const [name, makeStore] of stores) {
  test(`RFC 9111 through the proxy (shared mode, ${name} store)`, async (t) => {
    const { origin, count } = await rfcOrigin(t);
    const proxy = await startProxy(t, { upstreams: [origin.url], cache: makeStore(t) });
    const get = (path: string, headers: Record<string, string> = {}) => directRequest(`${proxy.url}${path}`, { headers });

    await t.test('fresh response served from the cache, with Age and Cache-Status', async () => {
      const a = await get('/fresh');
      const b = await get('/fresh');
      assert.equal(b.body.toString(), 'fresh body');
      assert.equal(count('/fresh'), 1);
      assert.match(String(a.headers['cache-status']), /fwd=miss/);
      assert.match(String(b.headers['cache-status']), /holdfast; hit/);
      assert.ok(b.headers.age !== undefined, 'Age on a stored response');
      assert.equal(b.headers['content-length'], String('fresh body'.length));
    });

    await t.test('s-maxage makes a max-age=0 response fresh for a shared cache', async () => {
      await get('/s-maxage');
      const b = await get('/s-maxage');
      assert.equal(b.body.toString(), 'shared body');
      assert.equal(count('/s-maxage'), 1);
    });

    await t.test('private responses are not stored by a shared cache', async () => {
      const alice = await get('/private', { cookie: 'alice' });
      const bob = await get('/private', { cookie: 'bob' });
      assert.equal(alice.body.toString(), 'private for alice');
      assert.equal(bob.body.toString(), 'private for bob');
      assert.equal(count('/private'), 2);
    });

    await t.test('no-store is not stored', async () => {
      await get('/no-store');
      await get('/no-store');
      assert.equal(count('/no-store'), 2);
    });

    await t.test('Vary: variants stored side by side, each request gets its own', async () => {
      assert.equal((await get('/vary', { 'accept-language': 'en' })).body.toString(), 'lang=en');
      assert.equal((await get('/vary', { 'accept-language': 'fr' })).body.toString(), 'lang=fr');
      assert.equal((await get('/vary', { 'accept-language': 'en' })).body.toString(), 'lang=en');
      assert.equal((await get('/vary', { 'accept-language': 'fr' })).body.toString(), 'lang=fr');
      assert.equal(count('/vary'), 2);
    });

    await t.test('Authorization: not stored without explicit permission', async () => {
      await get('/auth', { authorization: 'Bearer a' });
      await get('/auth', { authorization: 'Bearer a' });
      assert.equal(count('/auth'), 2);
    });

    await t.test('304 merged into the stored response; the client never sees a 304 it did not ask for', async () => {
      const first = await get('/revalidate');
      assert.equal(first.status, 200);
      const second = await get('/revalidate');
      assert.equal(second.status, 200);
      assert.equal(second.body.toString(), 'validated body');
      assert.equal(second.headers['x-validated'], '2', 'headers updated from the 304');
      assert.match(String(second.headers['cache-status']), /fwd=stale; fwd-status=304/);
      const conditional = origin.seen.filter((s) => s.url === '/revalidate')[1]!;
      assert.ok(conditional.rawHeaders.some((h) => h.toLowerCase() === 'if-none-match'), 'revalidated with If-None-Match');
      // A client's own conditional request does get a 304.
      const own = await get('/revalidate', { 'if-none-match': '"v1"' });
      assert.equal(own.status, 304);
      assert.equal(own.body.length, 0);
    });

    await t.test('a POST invalidates the stored response for its URI', async () => {
      assert.equal((await get('/item')).body.toString(), 'item seen 1');
      assert.equal((await get('/item')).body.toString(), 'item seen 1');
      const post = await directRequest(`${proxy.url}/item`, { method: 'POST', body: 'x' });
      assert.equal(post.body.toString(), 'updated');
      assert.match(String(post.headers['cache-status']), /fwd=bypass/);
      assert.equal((await get('/item')).body.toString(), 'item seen 2');
      assert.equal(count('/item'), 2);
      assert.equal(count('/item', 'POST'), 1);
    });

    await t.test('HEAD answered from a stored GET, with its Content-Length and no body', async () => {
      const head = await directRequest(`${proxy.url}/fresh`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String('fresh body'.length));
      assert.equal(head.body.length, 0);
      assert.equal(count('/fresh', 'HEAD'), 0);
    });
  });
}
