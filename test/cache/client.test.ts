/**
 * The cache through the holdfast client: `new Agent({ cache })` for `request()` and `fetch()`,
 * against loopback origins that count what reaches them (RFC 9111 sections cited per test).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, ClientResponse, getDefaultAgent, request as moduleRequest, fetch as moduleFetch, setDefaultAgent } from '../../src/client/index.ts';
import type { Interceptor } from '../../src/client/index.ts';
import { cacheInterceptor, createCache, MemoryStore, SqliteStore } from '../../src/cache/index.ts';
import type { Cache, CacheOptions, CacheStore } from '../../src/cache/index.ts';

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Origin {
  url: string;
  seen: Seen[];
  /** Requests for one path (the origin count the tests assert on). */
  count(path: string): number;
}

/** A node:http origin on 127.0.0.1:0 that records every request, body included. */
async function startOrigin(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void): Promise<Origin> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(s);
      handler(req, res, s);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    count: (path) => seen.filter((s) => s.path === path).length,
  };
}

/** An agent with a cache; everything is closed after the test (cache first: it may still use the agent). */
function cachedAgent(t: TestContext, options: Partial<CacheOptions> = {}, store: CacheStore = new MemoryStore()): { agent: Agent; cache: Cache } {
  const cache = createCache({ store, mode: 'private', ...options });
  const agent = new Agent({ cache });
  t.after(async () => {
    await cache.close();
    await agent.close();
    await store.close();
  });
  return { agent, cache };
}

test('§4.2: agent.request answers a second GET from the cache: the origin sees one request', async (t) => {
  const o = await startOrigin(t, (_q, res) => res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).end('stored body'));
  const { agent, cache } = cachedAgent(t);
  const first = await agent.request(`${o.url}/r`);
  assert.ok(first instanceof ClientResponse);
  assert.equal(first.cacheOutcome, 'miss');
  assert.equal(await first.body.text(), 'stored body');
  const second = await agent.request(`${o.url}/r`);
  assert.equal(second.status, 200);
  assert.equal(second.cacheOutcome, 'hit');
  assert.equal(second.attempts, 0, 'a hit makes no network attempt');
  assert.equal(second.url, `${o.url}/r`);
  assert.equal(second.headers.get('content-type'), 'text/plain');
  assert.match(second.headers.get('age') ?? '', /^\d+$/, '§5.1: served with its current Age');
  assert.equal(await second.body.text(), 'stored body');
  assert.equal(o.count('/r'), 1);
  assert.equal(cache.stats.hits, 1);
});

test('§4.2: agent.fetch goes through the same cache and returns a global Response with the stored body', async (t) => {
  const o = await startOrigin(t, (_q, res) => res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'application/json' }).end('{"n":1}'));
  const { agent } = cachedAgent(t);
  const first = await agent.fetch(`${o.url}/f`);
  assert.deepEqual(await first.json(), { n: 1 });
  // A request() miss is a fetch() hit: one cache behind both.
  const viaRequest = await agent.request(`${o.url}/f`);
  assert.equal(viaRequest.cacheOutcome, 'hit');
  await viaRequest.body.dump();
  const second = await agent.fetch(`${o.url}/f`);
  assert.ok(second instanceof Response);
  assert.equal(second.status, 200);
  assert.equal(second.headers.get('content-type'), 'application/json');
  assert.ok(second.headers.has('age'));
  assert.deepEqual(await second.json(), { n: 1 });
  assert.equal(o.count('/f'), 1);
});

test('§4.3: revalidation with ETag through the agent answers 200 with the body to callers that sent no conditions, never 304', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'no-cache' }).end();
      return;
    }
    res.writeHead(200, { etag: '"v1"', 'cache-control': 'no-cache', 'content-type': 'text/plain' }).end('validated body');
  });
  const { agent } = cachedAgent(t);
  const first = await agent.request(`${o.url}/v`);
  assert.equal(first.cacheOutcome, 'miss');
  assert.equal(await first.body.text(), 'validated body');

  const second = await agent.request(`${o.url}/v`);
  assert.equal(second.status, 200);
  assert.equal(second.cacheOutcome, 'revalidated');
  assert.equal(second.attempts, 1);
  assert.equal(await second.body.text(), 'validated body');

  const third = await agent.fetch(`${o.url}/v`);
  assert.equal(third.status, 200);
  assert.equal(await third.text(), 'validated body');

  // The origin answered 304 twice; the conditional requests carried the stored validator.
  assert.equal(o.count('/v'), 3);
  assert.equal(o.seen[0]!.headers['if-none-match'], undefined);
  assert.equal(o.seen[1]!.headers['if-none-match'], '"v1"');
  assert.equal(o.seen[2]!.headers['if-none-match'], '"v1"');

  // §4.3.2: a caller that sends its own matching conditions gets its 304 (from the cache).
  const own = await agent.request(`${o.url}/v`, { headers: { 'if-none-match': '"v1"' } });
  assert.equal(own.status, 304);
  await own.body.dump();
});

test('§4.1: Vary variants through the agent are stored side by side and each is selected by its request', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    const lang = req.headers['accept-language'] ?? 'none';
    res.writeHead(200, { vary: 'Accept-Language', 'cache-control': 'max-age=60' }).end(`hello in ${lang}`);
  });
  const { agent } = cachedAgent(t);
  const ask = async (lang: string) => {
    const res = await agent.request(`${o.url}/vary`, { headers: { 'accept-language': lang } });
    return { outcome: res.cacheOutcome, body: await res.body.text() };
  };
  assert.deepEqual(await ask('en'), { outcome: 'miss', body: 'hello in en' });
  assert.deepEqual(await ask('fr'), { outcome: 'miss', body: 'hello in fr' });
  assert.deepEqual(await ask('en'), { outcome: 'hit', body: 'hello in en' });
  assert.deepEqual(await ask('fr'), { outcome: 'hit', body: 'hello in fr' });
  const viaFetch = await agent.fetch(`${o.url}/vary`, { headers: { 'accept-language': 'fr' } });
  assert.equal(await viaFetch.text(), 'hello in fr');
  assert.equal(o.count('/vary'), 2);
});

test('§4.4: an unsafe POST through the agent reaches the origin with its body and invalidates the stored GET', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    if (req.method === 'POST') {
      res.writeHead(201, { 'content-type': 'text/plain' }).end('created');
      return;
    }
    res.writeHead(200, { 'cache-control': 'max-age=60' }).end(`list ${o.count('/items')}`);
  });
  const { agent } = cachedAgent(t);
  assert.equal(await (await agent.request(`${o.url}/items`)).body.text(), 'list 1');
  const hit = await agent.request(`${o.url}/items`);
  assert.equal(hit.cacheOutcome, 'hit');
  assert.equal(await hit.body.text(), 'list 1');

  const post = await agent.request(`${o.url}/items`, { method: 'POST', body: 'new item' });
  assert.equal(post.status, 201);
  assert.equal(post.cacheOutcome, 'bypass');
  assert.equal(await post.body.text(), 'created');
  assert.equal(o.seen.at(-1)!.body, 'new item');

  const after = await agent.request(`${o.url}/items`);
  assert.equal(after.cacheOutcome, 'miss');
  assert.equal(await after.body.text(), 'list 3');
  assert.equal(o.count('/items'), 3); // GET, POST, GET: the hit never reached it
  assert.equal(o.seen.filter((s) => s.method === 'GET').length, 2);
});

test('a response the cache does not store is the client\'s own: head first, body streaming from the socket', async (t) => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => { release = resolve; });
  const o = await startOrigin(t, (_q, res) => {
    res.writeHead(200, { 'cache-control': 'no-store' });
    res.write('first ');
    // The rest only once the client has the head: a buffering adapter would wait forever here.
    void released.then(() => res.end('rest'));
  });
  const { agent } = cachedAgent(t);
  const res = await agent.request(`${o.url}/s`);
  assert.equal(res.cacheOutcome, 'miss');
  assert.equal(res.body.complete, false);
  release();
  assert.equal(await res.body.text(), 'first rest');
  const again = await agent.request(`${o.url}/s`);
  assert.equal(again.cacheOutcome, 'miss');
  assert.equal(again.reusedConnection, true, 'the pass-through response carries the connection facts');
  release();
  await again.body.dump();
  assert.equal(o.count('/s'), 2);
});

test('interceptors run outside the cache: they see hits, and headers they add are what Vary selects on', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    res.writeHead(200, { vary: 'X-Tenant', 'cache-control': 'max-age=60' }).end(`tenant ${String(req.headers['x-tenant'])}`);
  });
  let tenant = 'a';
  const outcomes: Array<string | undefined> = [];
  const addTenant: Interceptor = (next) => async (req) => {
    const headers = req.headers.clone().set('x-tenant', tenant);
    const res = await next({ ...req, headers });
    outcomes.push(res.cacheOutcome);
    return res;
  };
  const store = new MemoryStore();
  const cache = createCache({ store });
  const agent = new Agent({ cache, interceptors: [addTenant] });
  t.after(async () => {
    await cache.close();
    await agent.close();
    await store.close();
  });
  const body = async () => (await agent.request(`${o.url}/t`)).body.text();
  assert.equal(await body(), 'tenant a');
  tenant = 'b';
  assert.equal(await body(), 'tenant b');
  tenant = 'a';
  assert.equal(await body(), 'tenant a');
  assert.deepEqual(outcomes, ['miss', 'miss', 'hit']);
  assert.equal(o.count('/t'), 2);
});

test('the module-level request() and fetch() use a cache through the default agent', async (t) => {
  const o = await startOrigin(t, (_q, res) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('via default agent'));
  const previous = getDefaultAgent();
  const { agent } = cachedAgent(t);
  setDefaultAgent(agent);
  t.after(() => setDefaultAgent(previous));
  assert.equal(await (await moduleRequest(`${o.url}/d`)).body.text(), 'via default agent');
  const hit = await moduleRequest(`${o.url}/d`);
  assert.equal(hit.cacheOutcome, 'hit');
  await hit.body.dump();
  // The WHATWG `cache` request mode is a string of fetch's own and no concern of this option.
  const res = await moduleFetch(`${o.url}/d`, { cache: 'default' });
  assert.equal(await res.text(), 'via default agent');
  assert.equal(o.count('/d'), 1);
});

test('a SQLite store shared by two agents: the second agent\'s first request is a hit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-client-cache-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const o = await startOrigin(t, (_q, res) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('on disk'));
  const a = cachedAgent(t, {}, new SqliteStore({ directory: dir }));
  assert.equal(await (await a.agent.request(`${o.url}/q`)).body.text(), 'on disk');
  const b = cachedAgent(t, {}, new SqliteStore({ directory: dir }));
  const res = await b.agent.request(`${o.url}/q`);
  assert.equal(res.cacheOutcome, 'hit');
  assert.equal(await res.body.text(), 'on disk');
  assert.equal(o.count('/q'), 1);
});

test('an aborted signal fails a request even when the cache could answer it', async (t) => {
  const o = await startOrigin(t, (_q, res) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('x'));
  const { agent } = cachedAgent(t);
  const stored = await agent.request(`${o.url}/a`);
  assert.equal(stored.cacheOutcome, 'miss');
  await stored.body.dump();
  assert.equal((await agent.request(`${o.url}/a`)).cacheOutcome, 'hit');
  const ac = new AbortController();
  ac.abort(new Error('caller gave up'));
  await assert.rejects(agent.request(`${o.url}/a`, { signal: ac.signal }), { code: 'HF_ABORTED' });
  await assert.rejects(agent.fetch(`${o.url}/a`, { signal: ac.signal }), /caller gave up/);
  assert.equal(o.count('/a'), 1);
});

test('the cache option refuses what is not a cache; cacheInterceptor places the cache anywhere in the chain', async (t) => {
  const store = new MemoryStore();
  t.after(() => store.close());
  assert.throws(() => new Agent({ cache: store as never }), { code: 'HF_INVALID_OPTION', option: 'cache' });
  const o = await startOrigin(t, (_q, res) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('explicit'));
  const cache = createCache({ store });
  const agent = new Agent({ interceptors: [cacheInterceptor(cache)] });
  t.after(async () => {
    await cache.close();
    await agent.close();
  });
  assert.equal(cache.interceptor, cache.interceptor, 'one interceptor per cache');
  await (await agent.request(`${o.url}/e`)).body.dump();
  const hit = await agent.request(`${o.url}/e`);
  assert.equal(hit.cacheOutcome, 'hit');
  assert.equal(await hit.body.text(), 'explicit');
  assert.equal(o.count('/e'), 1);
});

test('an explicit request-target is the cache key: /a/../b is never answered with the stored /b', async (t) => {
  const origin = await startOrigin(t, (_req, res, s) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end(`body of ${s.path}`);
  });
  const { agent } = cachedAgent(t);
  // Store /b.
  assert.equal(await (await agent.request(`${origin.url}/b`)).body.text(), 'body of /b');
  // The same URL with a raw target that the URL parser would normalise to /b goes to the origin.
  const raw = await agent.request(`${origin.url}/b`, { target: '/a/../b' });
  assert.equal(await raw.body.text(), 'body of /a/../b');
  assert.equal(origin.count('/a/../b'), 1);
  // A faithful target is cached under its own resource, not under the URL's path.
  const first = await agent.request(`${origin.url}/b`, { target: '/c?x=1' });
  assert.equal(await first.body.text(), 'body of /c?x=1');
  const second = await agent.request(`${origin.url}/b`, { target: '/c?x=1' });
  assert.equal(second.cacheOutcome, 'hit');
  assert.equal(await second.body.text(), 'body of /c?x=1');
  assert.equal(origin.count('/c?x=1'), 1);
  assert.equal(origin.count('/b'), 1);
});
