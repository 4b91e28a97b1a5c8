/**
 * Partial content in the cache (RFC 9111 §3.3-3.4, RFC 9110 §14, §15.3.7.3), through
 * `holdfast/cache` in process, on the memory, SQLite and Redis stores (a private redis-server):
 * a 206 is stored as an incomplete response, answers ranges wholly within it and nothing else,
 * is combined with a stored part of the same strong validator, becomes a complete 200 when the
 * parts cover the representation, and is replaced by a part with another or a weak validator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createCache, HeaderList, MemoryStore, RedisStore, SqliteStore } from '../../src/cache/index.ts';
import type { CacheRequest, CacheResponse, CacheStore } from '../../src/cache/index.ts';
import { resolveByteRanges, parseContentRange } from '../../src/wire/byteRanges.ts';
import { combineParts, partSatisfies } from '../../src/cache/ranges.ts';
import { REDIS_SERVER, startRedis } from './redisServer.ts';
import { fakeClock, get, text } from './helpers.ts';

const BODY = '0123456789abcdefghij'; // 20 bytes

interface Representation {
  body: string;
  etag: string;
  cc: string;
}

/**
 * A scripted origin for one path: `rep()` is the representation now. Range requests get one part
 * (206), If-None-Match that matches gets 304 (evaluated before Range, RFC 9110 §13.2.2).
 */
function origin(rep: () => Representation, clock: { now: () => number }) {
  const seen: CacheRequest[] = [];
  const next = async (req: CacheRequest): Promise<CacheResponse> => {
    seen.push(req);
    const r = rep();
    const headers = new HeaderList([['date', new Date(clock.now()).toUTCString()], ['etag', r.etag], ['cache-control', r.cc], ['content-type', 'text/plain']]);
    if (req.headers.get('if-none-match') === r.etag) return { status: 304, statusText: 'Not Modified', headers, body: new Uint8Array(0) };
    const range = req.headers.get('range');
    const ranges = range === undefined ? null : resolveByteRanges(range, r.body.length);
    let body = Buffer.from(r.body);
    let status = 200;
    if (ranges !== null && ranges.length === 1) {
      const { first, last } = ranges[0]!;
      body = body.subarray(first, last + 1);
      headers.set('content-range', `bytes ${first}-${last}/${r.body.length}`);
      status = 206;
    }
    headers.set('content-length', String(body.length));
    return { status, statusText: '', headers, body: new Uint8Array(body) };
  };
  return { seen, next };
}

type Opened = { store: CacheStore; close(): Promise<void> };
const stores: Array<{ name: string; skip: string | false; open(t: TestContext): Promise<Opened> }> = [
  { name: 'memory', skip: false, open: async () => ({ store: new MemoryStore(), close: async () => {} }) },
  {
    name: 'SQLite',
    skip: false,
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hf-partial-'));
      const store = new SqliteStore({ directory: dir });
      return { store, close: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
  {
    name: 'Redis',
    skip: REDIS_SERVER === undefined ? 'redis-server is not installed' : false,
    open: async () => {
      const redis = await startRedis();
      const store = await RedisStore.connect({ url: redis.url, prefix: RedisStore.uniquePrefix() });
      return { store, close: async () => (await store.close(), await redis.stop()) };
    },
  },
];

test('RFC 9110 §14.4: Content-Range of one satisfied byte range, strictly', () => {
  assert.deepEqual(parseContentRange('bytes 0-4/20'), { first: 0, last: 4, complete: 20 });
  assert.equal(parseContentRange('bytes 0-4/*'), undefined, 'an unknown complete length: not stored');
  assert.equal(parseContentRange('bytes */20'), undefined);
  assert.equal(parseContentRange('bytes 5-4/20'), undefined, 'last < first is invalid');
  assert.equal(parseContentRange('bytes 0-20/20'), undefined, 'last >= complete is invalid');
  assert.equal(parseContentRange('items 0-4/20'), undefined);
});

test('RFC 9111 §3.3 / §3.4, RFC 9110 §15.3.7.3: parts are combined only under one strong validator, where they meet', () => {
  const part = (range: string, body: string, etag = '"s"') => ({ status: 206, statusText: 'Partial Content', headers: new HeaderList([['etag', etag], ['content-range', range]]), body: new Uint8Array(Buffer.from(body)) });
  const joined = combineParts(part('bytes 0-4/20', '01234'), part('bytes 3-8/20', '345678'))!;
  assert.equal(joined.status, 206);
  assert.equal(joined.headers.get('content-range'), 'bytes 0-8/20');
  assert.equal(Buffer.from(joined.body).toString(), '012345678');
  assert.equal(combineParts(part('bytes 0-4/20', '01234'), part('bytes 5-9/20', '56789'))!.headers.get('content-range'), 'bytes 0-9/20', 'touching parts join');
  assert.equal(combineParts(part('bytes 0-4/20', '01234'), part('bytes 6-9/20', '6789')), undefined, 'a gap: not combined');
  assert.equal(combineParts(part('bytes 0-4/20', '01234'), part('bytes 3-8/20', '345678', '"t"')), undefined, 'another validator');
  assert.equal(combineParts(part('bytes 0-4/20', '01234', 'W/"s"'), part('bytes 3-8/20', '345678', 'W/"s"')), undefined, 'a weak validator');
  assert.equal(combineParts(part('bytes 0-4/20', '01234'), part('bytes 3-8/21', '345678')), undefined, 'another complete length');
  const whole = combineParts(part('bytes 0-9/20', '0123456789'), part('bytes 10-19/20', 'abcdefghij'))!;
  assert.equal(whole.status, 200, 'the whole representation is a complete 200');
  assert.equal(whole.headers.has('content-range'), false);
  assert.equal(whole.headers.get('content-length'), '20');
  // §3.3: a part answers only ranges wholly within it.
  const stored = part('bytes 5-9/20', '56789').headers;
  const asks = (range: string, ifRange?: string) => partSatisfies(stored, 5, new HeaderList(ifRange === undefined ? [['range', range]] : [['range', range], ['if-range', ifRange]]));
  assert.equal(asks('bytes=5-9'), true);
  assert.equal(asks('bytes=6-7, 9-9'), true);
  assert.equal(asks('bytes=4-6'), false);
  assert.equal(asks('bytes=-3'), false);
  assert.equal(asks('bytes=30-'), true, 'unsatisfiable against the complete length it states: 416');
  assert.equal(asks('bytes=x'), false, 'an ignored Range asks for the whole');
  assert.equal(asks('bytes=5-6', '"other"'), false, 'If-Range that does not hold asks for the whole');
});

for (const s of stores) {
  test(`RFC 9111 §3.3-3.4 partial content through holdfast/cache (${s.name} store): stored, answered within, combined, completed, replaced`, { skip: s.skip }, async (t) => {
    const { store, close } = await s.open(t);
    t.after(close);
    const clock = fakeClock();
    let rep: Representation = { body: BODY, etag: '"p1"', cc: 'max-age=60' };
    const o = origin(() => rep, clock);
    const cache = createCache({ store, now: clock.now });
    const ask = async (path: string, headers: Array<[string, string]> = []) => {
      const res = await cache.handle(get(`http://o.test${path}`, new HeaderList(headers)), o.next);
      return { res, status: res.status, body: await text(res), cs: res.headers.getAll('cache-status').join(', '), h: (n: string) => res.headers.get(n) };
    };

    // §3.3: a 206 is stored as an incomplete response.
    const first = await ask('/p', [['range', 'bytes=0-4']]);
    assert.equal(first.status, 206);
    assert.equal(first.body, '01234');
    assert.equal(first.cs, 'holdfast; fwd=uri-miss; fwd-status=206; ttl=60; stored');
    // A range wholly within the stored part: 206 from the cache, one part or several.
    const within = await ask('/p', [['range', 'bytes=1-3']]);
    assert.equal(within.status, 206);
    assert.equal(within.body, '123');
    assert.equal(within.h('content-range'), 'bytes 1-3/20');
    assert.equal(within.h('content-length'), '3');
    assert.match(within.cs, /^holdfast; hit; ttl=\d+$/);
    const many = await ask('/p', [['range', 'bytes=0-0, 4-4']]);
    assert.equal(many.status, 206);
    assert.match(many.body, /Content-Range: bytes 0-0\/20\r\n\r\n0\r\n[\s\S]*Content-Range: bytes 4-4\/20\r\n\r\n4\r\n/);
    assert.equal((await ask('/p', [['range', 'bytes=25-']])).status, 416, 'RFC 9110 §15.5.17 against the complete length');
    assert.equal(o.seen.length, 1, 'none of them went to the origin');
    // §13.1.5: If-Range that does not name the part is not answered from it.
    assert.equal((await ask('/p', [['range', 'bytes=1-2'], ['if-range', '"other"']])).status, 206);
    assert.equal(o.seen.length, 2);

    // A range reaching past the part is forwarded as asked; the answer is combined with the part (§3.4).
    const beyond = await ask('/p', [['range', 'bytes=3-8']]);
    assert.equal(beyond.body, '345678');
    assert.match(beyond.cs, /^holdfast; fwd=partial; fwd-status=206; ttl=60; stored$/);
    assert.equal(o.seen.at(-1)!.headers.get('range'), 'bytes=3-8');
    const joined = await ask('/p', [['range', 'bytes=0-8']]);
    assert.equal(joined.body, '012345678');
    assert.match(joined.cs, /^holdfast; hit/);
    const count = o.seen.length;

    // §3.3: a part never answers a request for the whole response.
    const whole = await ask('/p');
    assert.equal(whole.status, 200);
    assert.equal(whole.body, BODY);
    assert.match(whole.cs, /^holdfast; fwd=partial; fwd-status=200/);
    assert.equal(o.seen.length - 1, count);
    assert.equal(o.seen.at(-1)!.headers.has('range'), false);

    // RFC 9110 §15.3.7.3: parts that cover the representation become a complete 200.
    await ask('/c', [['range', 'bytes=0-9']]);
    await ask('/c', [['range', 'bytes=10-']]);
    const before = o.seen.length;
    const completed = await ask('/c');
    assert.equal(completed.status, 200);
    assert.equal(completed.body, BODY);
    assert.equal(completed.h('content-length'), '20');
    assert.equal(completed.h('content-range'), undefined);
    assert.match(completed.cs, /^holdfast; hit/);
    assert.equal(o.seen.length, before);

    // §3.4: a part with another validator replaces the stored part rather than combining with it.
    await ask('/w', [['range', 'bytes=0-4']]);
    rep = { ...rep, etag: '"p2"' };
    await ask('/w', [['range', 'bytes=3-8']]);
    let n = o.seen.length;
    assert.equal((await ask('/w', [['range', 'bytes=4-8']])).body, '45678');
    assert.equal(o.seen.length, n, 'the new part is stored');
    assert.equal((await ask('/w', [['range', 'bytes=0-2']])).body, '012');
    assert.equal(o.seen.length - 1, n, 'the old part is gone');
    // A weak validator: parts never combine (RFC 9110 §15.3.7.3 needs a strong one).
    rep = { ...rep, etag: 'W/"weak"' };
    await ask('/weak', [['range', 'bytes=0-4']]);
    await ask('/weak', [['range', 'bytes=3-8']]);
    n = o.seen.length;
    await ask('/weak', [['range', 'bytes=0-1']]);
    assert.equal(o.seen.length - 1, n, 'the first part was replaced, not combined');

    // §4.3.1: a stale part is validated by a conditional range request; a 304 freshens it.
    rep = { body: BODY, etag: '"v"', cc: 'max-age=10' };
    await ask('/v', [['range', 'bytes=5-9']]);
    clock.advance(20);
    const validated = await ask('/v', [['range', 'bytes=6-7']]);
    assert.equal(validated.status, 206);
    assert.equal(validated.body, '67');
    assert.equal(validated.res.cacheOutcome, 'revalidated');
    assert.match(validated.cs, /^holdfast; fwd=stale; fwd-status=304/);
    assert.equal(o.seen.at(-1)!.headers.get('if-none-match'), '"v"');
    assert.equal(o.seen.at(-1)!.headers.get('range'), 'bytes=6-7');
    n = o.seen.length;
    assert.match((await ask('/v', [['range', 'bytes=5-5']])).cs, /^holdfast; hit/, 'freshened by the 304');
    assert.equal(o.seen.length, n);
  });
}
