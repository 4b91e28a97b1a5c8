/**
 * The standards around RFC 9111, through `holdfast/cache` in process: Age and dates (RFC 9111
 * §5.1, §5.3, §4.2; RFC 9110 §5.6.7), 1xx, RFC 9213 targeted cache control, RFC 9211
 * Cache-Status, ranges from the cache (RFC 9110 §14), stale on disconnect (RFC 9111 §4.2.4).
 * The origin is a scripted `next` and time a fake clock, so every age and ttl is exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, HeaderList, MemoryStore } from '../../src/cache/index.ts';
import type { CacheOptions, CacheRequest, CacheResponse } from '../../src/cache/index.ts';
import { whyNotStorable } from '../../src/cache/storability.ts';
import { ageFieldValue } from '../../src/cache/freshness.ts';
import { parseDictionary } from '../../src/wire/structuredFields.ts';
import { resolveByteRanges } from '../../src/wire/byteRanges.ts';
import { fakeClock, get, text } from './helpers.ts';

type Reply = { status?: number; headers?: Record<string, string>; body?: string } | 'disconnect';

/** A cache in front of a scripted origin: `reply(request, n)` answers the n-th request (0-based). */
function setup(reply: (req: CacheRequest, n: number) => Reply, options: Partial<CacheOptions> = {}) {
  const clock = fakeClock();
  const seen: CacheRequest[] = [];
  const cache = createCache({ store: new MemoryStore(), now: clock.now, ...options });
  const next = async (req: CacheRequest): Promise<CacheResponse> => {
    const r = reply(req, seen.length);
    seen.push(req);
    if (r === 'disconnect') throw new Error('connect ECONNREFUSED');
    const headers = new HeaderList([['date', new Date(clock.now()).toUTCString()]]);
    for (const [k, v] of Object.entries(r.headers ?? {})) headers.set(k, v);
    const body = new Uint8Array(Buffer.from(r.body ?? ''));
    headers.set('content-length', String(body.byteLength));
    return { status: r.status ?? 200, statusText: '', headers, body };
  };
  const ask = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const res = await cache.handle({ ...get(`http://o.test${path}`, new HeaderList(Object.entries(headers))), method }, next);
    return { res, status: res.status, body: await text(res), cs: res.headers.getAll('cache-status').join(', '), h: (n: string) => res.headers.get(n) };
  };
  return { clock, seen, cache, ask };
}

// ---- Age and dates -----------------------------------------------------------------------------

test('RFC 9111 §5.1: a list-valued Age uses its first member; an invalid Age is ignored', async () => {
  assert.equal(ageFieldValue(new HeaderList([['age', '10, 200']])), 10);
  assert.equal(ageFieldValue(new HeaderList([['age', '10'], ['age', '200']])), 10);
  assert.equal(ageFieldValue(new HeaderList([['age', '-5']])), 0);
  assert.equal(ageFieldValue(new HeaderList([['age', '1.5']])), 0);
  // 10 s old on arrival with max-age=15: six seconds later it is stale, not fresh.
  const s = setup((_q, n) => ({ headers: { 'cache-control': 'max-age=15', age: '10, 200' }, body: `a${n}` }));
  await s.ask('/age');
  s.clock.advance(6);
  assert.equal((await s.ask('/age')).body, 'a1');
});

test('RFC 9110 §6.6.1 / RFC 9111 §4.2.3: an invalid Date is replaced by the time of receipt, so Expires still counts', async () => {
  const s = setup((_q, n) => ({ headers: { date: 'yesterday', expires: new Date(s.clock.now() + 60_000).toUTCString() }, body: `d${n}` }));
  await s.ask('/bad-date');
  s.clock.advance(30);
  const r = await s.ask('/bad-date');
  assert.equal(r.body, 'd0');
  assert.equal(r.res.cacheOutcome, 'hit');
});

test('RFC 9111 §5.3: an invalid Expires means already expired', async () => {
  const s = setup((_q, n) => ({ headers: { expires: '0' }, body: `e${n}` }));
  await s.ask('/bad-expires');
  assert.equal((await s.ask('/bad-expires')).body, 'e1');
});

test('RFC 9111 §4.2: dates used for freshness match case-insensitively (RFC 9110 §5.6.7 keeps the rest case-sensitive)', async () => {
  const expires = new Date(Date.now() + 3_600_000).toUTCString().toUpperCase(); // "SUN, 06 NOV ... GMT"
  const s = setup((_q, n) => ({ headers: { expires, date: new Date(s.clock.now()).toUTCString().toLowerCase() }, body: `c${n}` }));
  await s.ask('/case');
  s.clock.advance(60);
  assert.equal((await s.ask('/case')).res.cacheOutcome, 'hit');
});

test('RFC 9111 §3: a 1xx is never stored; the final response after one is judged on its own', () => {
  const base = { mode: 'shared' as const, method: 'GET', requestHeaders: new HeaderList(), requestDirectives: new Map(), responseDirectives: new Map([['max-age', '60']]) };
  for (const status of [100, 102, 103]) assert.equal(whyNotStorable({ ...base, status, responseHeaders: new HeaderList([['cache-control', 'max-age=60']]) }), 'status');
  assert.equal(whyNotStorable({ ...base, status: 200, responseHeaders: new HeaderList([['cache-control', 'max-age=60']]) }), undefined);
});

// ---- RFC 9213 targeted cache control --------------------------------------------------------------

test('RFC 8941 §4.2.2: the Dictionary parser takes what CDN-Cache-Control uses and refuses what is not a Dictionary', () => {
  const d = parseDictionary('max-age=60, private, no-cache="set-cookie", stale-if-error=?0');
  assert.deepEqual([...d!.entries()].map(([k, v]) => [k, 'value' in v ? v.value : v.type]), [
    ['max-age', 60],
    ['private', true],
    ['no-cache', 'set-cookie'],
    ['stale-if-error', false],
  ]);
  for (const bad of ['max-age=60,', 'Max-Age=60', 'max-age=6 0', 'max-age=1234567890123456', 'a="\u00e9"', '=1']) assert.equal(parseDictionary(bad), undefined, bad);
});

test('RFC 9213 §2.2: in shared mode CDN-Cache-Control replaces Cache-Control and Expires', async () => {
  const s = setup((q, n): Reply => {
    const p = new URL(q.url).pathname;
    if (p === '/cdn-longer') return { headers: { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }, body: `l${n}` };
    if (p === '/cdn-no-store') return { headers: { 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-store' }, body: `s${n}` };
    if (p === '/cdn-private') return { headers: { 'cache-control': 'public, max-age=60', 'cdn-cache-control': 'private' }, body: `p${n}` };
    if (p === '/cdn-no-cache') return { headers: { 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-cache, max-age=60', etag: '"v"' }, status: q.headers.has('if-none-match') ? 304 : 200, body: q.headers.has('if-none-match') ? '' : `n${n}` };
    if (p === '/cdn-expires') return { headers: { expires: new Date(s.clock.now() + 60_000).toUTCString(), 'cdn-cache-control': 'must-revalidate' }, body: `x${n}` };
    if (p === '/cdn-invalid') return { headers: { 'cache-control': 'max-age=60', 'cdn-cache-control': 'max-age=0,' }, body: `i${n}` };
    if (p === '/cdn-smaxage') return { headers: { 'cache-control': 'max-age=600', 'cdn-cache-control': 's-maxage=5' }, body: `m${n}` };
    return { status: 404 };
  }, { mode: 'shared' });
  const twice = async (path: string) => {
    await s.ask(path);
    s.clock.advance(10);
    return s.ask(path);
  };
  assert.equal((await twice('/cdn-longer')).res.cacheOutcome, 'hit', 'max-age in the targeted field, no-store in Cache-Control');
  assert.equal((await twice('/cdn-no-store')).res.cacheOutcome, 'miss', 'no-store in the targeted field');
  assert.equal((await twice('/cdn-private')).res.cacheOutcome, 'miss', 'private in the targeted field');
  assert.equal((await twice('/cdn-no-cache')).res.cacheOutcome, 'revalidated', 'no-cache in the targeted field');
  assert.equal((await twice('/cdn-expires')).res.cacheOutcome, 'miss', 'Expires ignored when a targeted field applies');
  assert.equal((await twice('/cdn-invalid')).res.cacheOutcome, 'hit', 'an invalid targeted field is ignored: Cache-Control applies');
  assert.equal((await twice('/cdn-smaxage')).res.cacheOutcome, 'miss', 's-maxage=5 in the targeted field, not max-age=600');
});

test('RFC 9213 §2.1: a private cache is not targeted; a configured list is searched in order', async () => {
  const reply = (_q: CacheRequest, n: number): Reply => ({ headers: { 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-store', 'acme-cache-control': 'max-age=60' }, body: `t${n}` });
  const priv = setup(reply, { mode: 'private' });
  await priv.ask('/t');
  assert.equal((await priv.ask('/t')).res.cacheOutcome, 'hit');
  const cdn = setup(reply, { mode: 'shared' });
  await cdn.ask('/t');
  assert.equal((await cdn.ask('/t')).res.cacheOutcome, 'miss');
  const acme = setup(reply, { mode: 'shared', targetedFields: ['Acme-Cache-Control', 'cdn-cache-control'] });
  await acme.ask('/t');
  assert.equal((await acme.ask('/t')).res.cacheOutcome, 'hit');
  assert.throws(() => createCache({ store: new MemoryStore(), targetedFields: ['bad name'] }), /targetedFields/);
});

// ---- RFC 9211 Cache-Status ---------------------------------------------------------------------

test('RFC 9211 §2: every answer carries this cache\'s entry: hit, fwd (uri-miss, vary-miss, stale, request, method), fwd-status, ttl, stored', async () => {
  const s = setup((q, n): Reply => {
    const p = new URL(q.url).pathname;
    if (q.method === 'POST') return { status: 201, body: 'made' };
    if (p === '/vary') return { headers: { 'cache-control': 'max-age=60', vary: 'accept-language' }, body: `v${n}` };
    if (p === '/etag') {
      if (q.headers.has('if-none-match')) return { status: 304, headers: { etag: '"e"', 'cache-control': 'max-age=30' } };
      return { headers: { etag: '"e"', 'cache-control': 'max-age=30' }, body: `e${n}` };
    }
    if (p === '/nostore') return { headers: { 'cache-control': 'no-store' }, body: 'n' };
    return { headers: { 'cache-control': 'max-age=60', 'cache-status': 'origin-cache; hit' }, body: `f${n}` };
  });
  assert.equal((await s.ask('/f')).cs, 'origin-cache; hit, holdfast; fwd=uri-miss; fwd-status=200; ttl=60; stored');
  s.clock.advance(5);
  assert.equal((await s.ask('/f')).cs, 'origin-cache; hit, holdfast; hit; ttl=55');
  assert.equal((await s.ask('/f', { 'cache-control': 'no-cache' })).cs, 'origin-cache; hit, holdfast; fwd=request; fwd-status=200; ttl=60; stored');
  await s.ask('/vary', { 'accept-language': 'en' });
  assert.equal((await s.ask('/vary', { 'accept-language': 'fr' })).cs, 'holdfast; fwd=vary-miss; fwd-status=200; ttl=60; stored');
  await s.ask('/etag');
  s.clock.advance(40);
  assert.equal((await s.ask('/etag')).cs, 'holdfast; fwd=stale; fwd-status=304; ttl=30');
  assert.equal((await s.ask('/nostore')).cs, 'holdfast; fwd=uri-miss; fwd-status=200');
  assert.equal((await s.ask('/f', {}, 'POST')).cs, 'holdfast; fwd=method; fwd-status=201');
  const oic = await s.ask('/none', { 'cache-control': 'only-if-cached' });
  assert.equal(oic.status, 504);
  assert.equal(oic.cs, 'holdfast; detail=only-if-cached');
});

test('RFC 9211 §2.7: the key when asked; the name is configurable; false adds no entry', async () => {
  const reply = (): Reply => ({ headers: { 'cache-control': 'max-age=60' }, body: 'k' });
  const keyed = setup(reply, { cacheStatus: { name: 'edge 1', key: true } });
  assert.equal((await keyed.ask('/k?q=1')).cs, '"edge 1"; fwd=uri-miss; fwd-status=200; ttl=60; stored; key="http://o.test/k?q=1"');
  const quiet = setup(reply, { cacheStatus: false });
  const r = await quiet.ask('/k');
  assert.equal(r.cs, '');
  assert.equal(r.res.cacheOutcome, 'miss');
  assert.throws(() => createCache({ store: new MemoryStore(), cacheStatus: { name: 'caf\u00e9' } }), /cacheStatus/);
});

test('RFC 9211 §2.6: a request that waited for another\'s forward says collapsed', async () => {
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const clock = fakeClock();
  const cache = createCache({ store: new MemoryStore(), now: clock.now });
  let calls = 0;
  const next = async (): Promise<CacheResponse> => {
    calls++;
    await gate;
    return { status: 200, statusText: 'OK', headers: new HeaderList([['cache-control', 'max-age=60'], ['date', new Date(clock.now()).toUTCString()]]), body: new Uint8Array(2) };
  };
  const first = cache.handle(get('http://o.test/c'), next);
  const second = cache.handle(get('http://o.test/c'), next);
  release();
  const [a, b] = await Promise.all([first, second]);
  assert.equal(calls, 1);
  assert.match(a.headers.get('cache-status')!, /fwd=uri-miss.*stored/);
  assert.equal(b.headers.get('cache-status'), 'holdfast; hit; ttl=60; collapsed');
});

// ---- ranges from the cache ---------------------------------------------------------------------

test('RFC 9110 §14.1.2: byte ranges resolve against the length; an invalid field is ignored, an unsatisfiable one is empty', () => {
  assert.deepEqual(resolveByteRanges('bytes=0-4', 10), [{ first: 0, last: 4 }]);
  assert.deepEqual(resolveByteRanges('bytes=5-', 10), [{ first: 5, last: 9 }]);
  assert.deepEqual(resolveByteRanges('bytes=-3', 10), [{ first: 7, last: 9 }]);
  assert.deepEqual(resolveByteRanges('bytes=8-20, 0-0', 10), [{ first: 8, last: 9 }, { first: 0, last: 0 }]);
  assert.deepEqual(resolveByteRanges('bytes=10-', 10), []);
  assert.equal(resolveByteRanges('bytes=4-2', 10), null);
  assert.equal(resolveByteRanges('items=0-1', 10), null);
  assert.equal(resolveByteRanges(`bytes=${Array.from({ length: 40 }, (_, i) => `${i}-${i}`).join(',')}`, 100), null);
});

test('RFC 9110 §14 / RFC 9111 §3.4: a range of a stored response is answered 206 from the cache, without an origin request', async () => {
  const body = '0123456789abcdefghij';
  const lastModified = new Date(Date.now() - 3_600_000).toUTCString();
  const s = setup((q): Reply => {
    if (q.headers.has('range')) return { status: 206, headers: { 'content-range': 'bytes 0-1/20' }, body: '01' };
    return { headers: { 'cache-control': 'max-age=60', etag: '"strong"', 'content-type': 'text/plain', 'last-modified': lastModified }, body };
  });
  // Nothing stored: the range request goes to the origin as sent (its 206, without freshness or a
  // validator, is of no later use; partial.test.ts covers parts that are).
  assert.equal((await s.ask('/r', { range: 'bytes=0-1', 'cache-control': 'only-if-cached' })).status, 504, 'RFC 9111 §5.2.1.7');
  assert.equal(s.seen.length, 0);
  const passed = await s.ask('/r', { range: 'bytes=0-1' });
  assert.equal(passed.status, 206);
  assert.equal(s.seen[0]!.headers.get('range'), 'bytes=0-1');
  assert.match(passed.cs, /fwd=uri-miss; fwd-status=206/);
  await s.ask('/r');
  const origin = s.seen.length;

  const one = await s.ask('/r', { range: 'bytes=5-9' });
  assert.equal(one.status, 206);
  assert.equal(one.body, '56789');
  assert.equal(one.h('content-range'), 'bytes 5-9/20');
  assert.equal(one.h('content-length'), '5');
  assert.match(one.cs, /^holdfast; hit; ttl=\d+$/);

  const many = await s.ask('/r', { range: 'bytes=0-1, -2' });
  assert.equal(many.status, 206);
  const boundary = /^multipart\/byteranges; boundary=(\S+)$/.exec(many.h('content-type')!)![1]!;
  assert.equal(many.body, `\r\n--${boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/20\r\n\r\n01\r\n--${boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 18-19/20\r\n\r\nij\r\n--${boundary}--\r\n`);
  assert.equal(many.h('content-length'), String(Buffer.byteLength(many.body)));

  const unsatisfiable = await s.ask('/r', { range: 'bytes=20-' });
  assert.equal(unsatisfiable.status, 416);
  assert.equal(unsatisfiable.h('content-range'), 'bytes */20');

  // §13.1.5 If-Range: a strong match applies the range; anything else answers the whole response.
  assert.equal((await s.ask('/r', { range: 'bytes=0-0', 'if-range': '"strong"' })).status, 206);
  assert.equal((await s.ask('/r', { range: 'bytes=0-0', 'if-range': 'W/"strong"' })).status, 200);
  const whole = await s.ask('/r', { range: 'bytes=0-0', 'if-range': '"other"' });
  assert.equal(whole.status, 200);
  assert.equal(whole.body, body);
  assert.equal((await s.ask('/r', { range: 'bytes=0-0', 'if-range': lastModified })).status, 206, 'a strong Last-Modified date');
  assert.equal((await s.ask('/r', { range: 'bytes=0-0', 'if-range': new Date(Date.parse(lastModified) + 1000).toUTCString() })).status, 200, 'another date');
  assert.equal(s.seen.length, origin, 'no origin request for any of them');
});

test('RFC 9111 §4.3 / RFC 9110 §14: a range of a stored response that needs validation is cut from it after a 304', async () => {
  const s = setup((q): Reply => {
    if (q.headers.has('if-none-match')) return { status: 304, headers: { etag: '"v"', 'cache-control': 'max-age=0' } };
    return { headers: { etag: '"v"', 'cache-control': 'max-age=0' }, body: 'abcdefghij' };
  });
  await s.ask('/v');
  const r = await s.ask('/v', { range: 'bytes=2-3' });
  assert.equal(r.status, 206);
  assert.equal(r.body, 'cd');
  assert.equal(r.res.cacheOutcome, 'revalidated');
  assert.match(r.cs, /^holdfast; fwd=stale; fwd-status=304; ttl=0$/);
  assert.equal(s.seen[1]!.headers.get('if-none-match'), '"v"');
  assert.equal(s.seen[1]!.headers.has('range'), false, 'the whole response is validated, not the range');
});

// ---- stale on disconnect -----------------------------------------------------------------------

test('RFC 9111 §4.2.4: with staleIfDisconnected, a stale response is served when the origin cannot be reached, unless it forbids that', async () => {
  let down = false;
  const reply = (q: CacheRequest, n: number): Reply => {
    if (down) return 'disconnect';
    const p = new URL(q.url).pathname;
    const cc = p === '/must' ? 'max-age=10, must-revalidate' : p === '/smax' ? 's-maxage=10' : p === '/proxy-rev' ? 'max-age=10, proxy-revalidate' : 'max-age=10';
    return { headers: { 'cache-control': cc }, body: `${p} ${n}` };
  };
  const on = setup(reply, { mode: 'shared', staleIfDisconnected: true });
  const off = setup(reply, { mode: 'shared' });
  for (const s of [on, off]) for (const p of ['/plain', '/must', '/smax', '/proxy-rev']) await s.ask(p);
  on.clock.advance(30);
  off.clock.advance(30);
  down = true;
  const served = await on.ask('/plain');
  assert.equal(served.status, 200);
  assert.equal(served.body, '/plain 0');
  assert.equal(served.res.cacheOutcome, 'stale');
  assert.equal(served.cs, 'holdfast; fwd=stale; ttl=-20; detail=disconnected');
  assert.equal(served.h('age'), '30');
  for (const p of ['/must', '/smax', '/proxy-rev']) await assert.rejects(on.ask(p), /ECONNREFUSED/, `${p} forbids stale reuse`);
  await assert.rejects(off.ask('/plain'), /ECONNREFUSED/, 'off by default');
});
