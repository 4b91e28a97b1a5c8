/** RFC 9111 policy as pure functions; each test cites the rule it checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseCacheControl,
  parseRequestDirectives,
  freshnessLifetime,
  currentAge,
  whyNotStorable,
  selectVariant,
  normalizedFieldValue,
  notModifiedMatches,
  mergeNotModified,
  decideReuse,
  staleIfErrorAllows,
  invalidationKeys,
  cacheKey,
  conditionalHeaders,
} from '../../src/internals.ts';
import { HeaderList } from '../../src/cache/index.ts';
import type { CacheMode } from '../../src/cache/index.ts';
import { conditionsSayNotModified } from '../../src/cache/conditions.ts';
import { urlKeepsPath } from '../../src/wire/urlPath.ts';

const D = (ms: number) => new Date(ms).toUTCString();
const T0 = Date.parse('Sun, 06 Nov 2022 08:00:00 GMT');

function lifetime(headers: HeaderList, mode: CacheMode = 'private', status = 200): number {
  return freshnessLifetime({ status, headers }, mode);
}

test('§5.2: Cache-Control directives are case-insensitive, arguments may be quoted, lines combine', () => {
  const cc = parseCacheControl(new HeaderList([
    ['Cache-Control', 'Max-Age="60", no-cache="set-cookie, x"'],
    ['cache-control', 'public'],
  ]));
  assert.equal(cc.get('max-age'), '60');
  assert.equal(cc.get('no-cache'), 'set-cookie, x');
  assert.ok(cc.has('public'));
});

test('§5.4: Pragma: no-cache means no-cache only when the request has no Cache-Control', () => {
  assert.ok(parseRequestDirectives(new HeaderList([['pragma', 'no-cache']])).has('no-cache'));
  assert.ok(!parseRequestDirectives(new HeaderList([['pragma', 'no-cache'], ['cache-control', 'max-stale']])).has('no-cache'));
});

test('§4.2.1: s-maxage beats max-age in a shared cache only; max-age beats Expires', () => {
  const h = new HeaderList([['cache-control', 'max-age=60, s-maxage=600'], ['date', D(T0)], ['expires', D(T0 + 5_000)]]);
  assert.equal(lifetime(h, 'private'), 60);
  assert.equal(lifetime(h, 'shared'), 600);
});

test('§4.2.1: Expires − Date; §5.3: an invalid Expires means already expired', () => {
  assert.equal(lifetime(new HeaderList([['date', D(T0)], ['expires', D(T0 + 120_000)]])), 120);
  assert.equal(lifetime(new HeaderList([['date', D(T0)], ['expires', '0']])), 0);
});

test('§4.2.1: a conflicting repeated max-age is read as stale', () => {
  assert.equal(lifetime(new HeaderList([['cache-control', 'max-age=60'], ['cache-control', 'max-age=120']])), 0);
  assert.equal(lifetime(new HeaderList([['cache-control', 'max-age=abc']])), 0);
});

test('§1.2.2: delta-seconds larger than 2^31 are read as 2^31', () => {
  assert.equal(lifetime(new HeaderList([['cache-control', 'max-age=99999999999999']])), 2 ** 31);
});

test('§4.2.2: heuristic freshness from Last-Modified (10%), only without explicit expiration and for heuristically cacheable statuses', () => {
  const h = new HeaderList([['date', D(T0)], ['last-modified', D(T0 - 10_000_000)]]);
  assert.equal(lifetime(h), 1000);
  assert.equal(lifetime(h, 'private', 302), 0); // 302 is not heuristically cacheable
  assert.equal(lifetime(new HeaderList([...h, ['cache-control', 'public']]), 'private', 302), 1000);
  assert.equal(lifetime(new HeaderList([...h, ['cache-control', 'max-age=5']])), 5);
});

test('§4.2.3: current_age = max(apparent_age, Age + response_delay) + resident_time', () => {
  // Date 10 s before receipt, Age 3, request took 2 s: corrected initial age = max(10, 5) = 10.
  const e = { headers: new HeaderList([['date', D(T0 - 10_000)], ['age', '3']]), requestTime: T0 - 2_000, responseTime: T0 };
  assert.equal(currentAge(e, T0 + 30_000), 40);
  // Age dominates when larger than the apparent age.
  const f = { headers: new HeaderList([['date', D(T0)], ['age', '100']]), requestTime: T0 - 1_000, responseTime: T0 };
  assert.equal(currentAge(f, T0), 101);
});

const storable = (over: Partial<Parameters<typeof whyNotStorable>[0]>) =>
  whyNotStorable({
    mode: 'private',
    method: 'GET',
    requestHeaders: new HeaderList([]),
    requestDirectives: new Map(),
    status: 200,
    responseHeaders: new HeaderList([]),
    responseDirectives: new Map(),
    ...over,
    ...(over.responseHeaders !== undefined && over.responseDirectives === undefined ? { responseDirectives: parseCacheControl(over.responseHeaders) } : {}),
  });

test('§3: only GET, final understood statuses, with freshness information or a heuristically cacheable status', () => {
  assert.equal(storable({}), undefined);
  assert.equal(storable({ method: 'POST' }), 'method');
  // §3.3: a 206 is stored (as an incomplete response) only as one part of bytes with a known complete length.
  assert.equal(storable({ status: 206 }), 'partial');
  assert.equal(storable({ status: 206, responseHeaders: new HeaderList([['content-range', 'bytes 0-1/*']]) }), 'partial');
  assert.equal(storable({ status: 206, responseHeaders: new HeaderList([['content-type', 'multipart/byteranges; boundary=x']]) }), 'partial');
  assert.equal(storable({ status: 206, responseHeaders: new HeaderList([['content-range', 'bytes 0-1/10']]) }), undefined);
  assert.equal(storable({ status: 304 }), 'status');
  assert.equal(storable({ status: 302 }), 'no freshness information');
  assert.equal(storable({ status: 302, responseHeaders: new HeaderList([['cache-control', 'max-age=5']]) }), undefined);
});

test('§5.2.2.5 no-store; §5.2.1.5 request no-store; §5.2.2.3 must-understand', () => {
  assert.equal(storable({ responseHeaders: new HeaderList([['cache-control', 'no-store']]) }), 'no-store');
  assert.equal(storable({ requestDirectives: new Map([['no-store', '']]) }), 'request no-store');
  assert.equal(storable({ responseHeaders: new HeaderList([['cache-control', 'no-store, must-understand, max-age=5']]) }), undefined);
  assert.equal(storable({ status: 299, responseHeaders: new HeaderList([['cache-control', 'must-understand, max-age=5']]) }), 'must-understand');
});

test('§5.2.2.7: private is stored by a private cache, never by a shared one', () => {
  assert.equal(storable({ responseHeaders: new HeaderList([['cache-control', 'private, max-age=5']]) }), undefined);
  assert.equal(storable({ mode: 'shared', responseHeaders: new HeaderList([['cache-control', 'private, max-age=5']]) }), 'private');
});

test('§3.5: a shared cache stores an Authorization response only with must-revalidate, public or s-maxage', () => {
  const auth = new HeaderList([['authorization', 'Bearer x']]);
  assert.equal(storable({ mode: 'shared', requestHeaders: auth, responseHeaders: new HeaderList([['cache-control', 'max-age=5']]) }), 'authorization');
  for (const cc of ['max-age=5, public', 'max-age=5, must-revalidate', 's-maxage=5']) {
    assert.equal(storable({ mode: 'shared', requestHeaders: auth, responseHeaders: new HeaderList([['cache-control', cc]]) }), undefined, cc);
  }
  assert.equal(storable({ mode: 'private', requestHeaders: auth, responseHeaders: new HeaderList([['cache-control', 'max-age=5']]) }), undefined);
});

test('§4.1: Vary: * is not stored (it never matches)', () => {
  assert.equal(storable({ responseHeaders: new HeaderList([['vary', '*'], ['cache-control', 'max-age=5']]) }), 'vary *');
});

const entry = (vary: string[], values: Array<string | null>, date: number, responseTime = date) => ({
  vary,
  varyValues: values,
  headers: new HeaderList([['date', D(date)]]),
  responseTime,
});

test('§4.1: selection matches normalised Vary values; absent matches only absent; most recent Date wins', () => {
  const a = entry(['accept-encoding'], ['gzip, br'], T0);
  const b = entry(['accept-encoding'], [null], T0);
  const c = entry(['accept-encoding'], ['gzip, br'], T0 + 5_000);
  assert.equal(selectVariant([a, b], new HeaderList([['Accept-Encoding', ' GZIP ,br ']])), a);
  assert.equal(selectVariant([a, b], new HeaderList([])), b);
  assert.equal(selectVariant([a, b], new HeaderList([['accept-encoding', 'br']])), undefined);
  assert.equal(selectVariant([a, c, b], new HeaderList([['accept-encoding', 'gzip,br']])), c);
  assert.equal(normalizedFieldValue(new HeaderList([['accept-encoding', 'gzip'], ['Accept-Encoding', 'br']]), 'accept-encoding'), 'gzip, br');
});

test('§4.1: a stored response with Vary: * never matches', () => {
  assert.equal(selectVariant([entry(['*'], [null], T0)], new HeaderList([])), undefined);
});

test('§4.3.1: the conditional request carries the held response\'s ETag and Last-Modified', () => {
  assert.deepEqual(conditionalHeaders({ headers: new HeaderList([['ETag', '"a"'], ['Last-Modified', D(T0)]]) }).entries(), [
    ['if-none-match', '"a"'],
    ['if-modified-since', D(T0)],
  ]);
});

test('§4.3.4: a 304 is merged only into the response whose validator it names', () => {
  const held = { headers: new HeaderList([['etag', '"a"'], ['last-modified', D(T0)]]) };
  assert.ok(notModifiedMatches(held, new HeaderList([['etag', '"a"']])));
  assert.ok(!notModifiedMatches(held, new HeaderList([['etag', '"b"']])));
  assert.ok(!notModifiedMatches({ headers: new HeaderList([['etag', 'W/"a"']]) }, new HeaderList([['etag', '"a"']]))); // strong needs strong
  assert.ok(notModifiedMatches({ headers: new HeaderList([['etag', 'W/"a"']]) }, new HeaderList([['etag', 'W/"a"']]))); // weak: weak comparison
  assert.ok(notModifiedMatches({ headers: new HeaderList([['last-modified', D(T0)]]) }, new HeaderList([['last-modified', D(T0)]])));
  assert.ok(!notModifiedMatches({ headers: new HeaderList([['last-modified', D(T0)]]) }, new HeaderList([['last-modified', D(T0 + 1000)]])));
  assert.ok(!notModifiedMatches({ headers: new HeaderList([['last-modified', D(T0)]]) }, new HeaderList([['etag', '"a"']])));
});

test('§3.2: a 304 updates stored fields, except Content-Length and the body-describing fields; stale Age is dropped', () => {
  const merged = mergeNotModified(
    new HeaderList([['content-type', 'text/plain'], ['content-length', '5'], ['cache-control', 'max-age=1'], ['age', '50'], ['x-a', '1'], ['etag', '"a"']]),
    new HeaderList([['cache-control', 'max-age=99'], ['content-length', '0'], ['x-b', '2'], ['connection', 'close'], ['content-type', 'text/html']]),
  );
  const get = (n: string) => merged.getAll(n);
  assert.deepEqual(get('cache-control'), ['max-age=99']);
  assert.deepEqual(get('content-length'), ['5']);
  assert.deepEqual(get('content-type'), ['text/plain']);
  assert.deepEqual(get('x-b'), ['2']);
  assert.deepEqual(get('x-a'), ['1']);
  assert.deepEqual(get('age'), []);
  assert.deepEqual(get('connection'), []);
});

const reuse = (req: string, res: string, lifetimeS: number, age: number, mode: CacheMode = 'private') =>
  decideReuse({ mode, requestDirectives: parseCacheControl(new HeaderList([['cache-control', req]])), responseDirectives: parseCacheControl(new HeaderList([['cache-control', res]])), lifetime: lifetimeS, age });

test('§4.2: fresh while lifetime > age; stale otherwise', () => {
  assert.equal(reuse('', 'max-age=60', 60, 59), 'fresh');
  assert.equal(reuse('', 'max-age=60', 60, 60), 'validate');
});

test('§5.2.2.4 response no-cache and §5.2.1.4 request no-cache force validation', () => {
  assert.equal(reuse('', 'no-cache, max-age=60', 60, 1), 'validate');
  assert.equal(reuse('no-cache', 'max-age=60', 60, 1), 'validate');
});

test('§5.2.1.1 request max-age and §5.2.1.3 min-fresh', () => {
  assert.equal(reuse('max-age=10', 'max-age=60', 60, 11), 'validate');
  assert.equal(reuse('max-age=10', 'max-age=60', 60, 9), 'fresh');
  assert.equal(reuse('min-fresh=20', 'max-age=60', 60, 45), 'validate');
  assert.equal(reuse('min-fresh=20', 'max-age=60', 60, 30), 'fresh');
});

test('§5.2.1.2 max-stale; §5.2.2.2 must-revalidate, §5.2.2.8 proxy-revalidate and §5.2.2.10 s-maxage (shared) forbid it', () => {
  assert.equal(reuse('max-stale', 'max-age=60', 60, 1000), 'stale');
  assert.equal(reuse('max-stale=30', 'max-age=60', 60, 80), 'stale');
  assert.equal(reuse('max-stale=30', 'max-age=60', 60, 100), 'validate');
  assert.equal(reuse('max-stale', 'max-age=60, must-revalidate', 60, 100), 'validate');
  assert.equal(reuse('max-stale', 'max-age=60, proxy-revalidate', 60, 100, 'shared'), 'validate');
  assert.equal(reuse('max-stale', 'max-age=60, proxy-revalidate', 60, 100, 'private'), 'stale');
  assert.equal(reuse('max-stale', 's-maxage=60', 60, 100, 'shared'), 'validate');
});

test('RFC 5861 §3: stale-while-revalidate within its window, never with must-revalidate', () => {
  assert.equal(reuse('', 'max-age=60, stale-while-revalidate=30', 60, 80), 'stale-while-revalidate');
  assert.equal(reuse('', 'max-age=60, stale-while-revalidate=30', 60, 95), 'validate');
  assert.equal(reuse('', 'max-age=60, stale-while-revalidate=30, must-revalidate', 60, 80), 'validate');
});

test('RFC 5861 §4: stale-if-error from the response or the request, within its window; not with must-revalidate (§4.2.4)', () => {
  const x = (req: string, res: string, age: number) =>
    staleIfErrorAllows({ mode: 'private', requestDirectives: parseCacheControl(new HeaderList([['cache-control', req]])), responseDirectives: parseCacheControl(new HeaderList([['cache-control', res]])), lifetime: 60, age });
  assert.ok(x('', 'max-age=60, stale-if-error=100', 150));
  assert.ok(!x('', 'max-age=60, stale-if-error=100', 170));
  assert.ok(x('stale-if-error=200', 'max-age=60', 170));
  assert.ok(!x('', 'max-age=60', 70));
  assert.ok(!x('', 'max-age=60, stale-if-error=100, must-revalidate', 70));
});

test('§4.4: unsafe methods with non-error statuses invalidate the URI, and same-origin Location / Content-Location', () => {
  const u = 'http://a.test/x';
  assert.deepEqual(invalidationKeys('GET', u, 200, new HeaderList([])), []);
  assert.deepEqual(invalidationKeys('POST', u, 500, new HeaderList([])), []);
  assert.deepEqual(invalidationKeys('PUT', u, 204, new HeaderList([['location', '/y'], ['content-location', 'http://a.test/z#f']])).sort(), ['http://a.test/x', 'http://a.test/y', 'http://a.test/z'].sort());
  assert.deepEqual(invalidationKeys('DELETE', u, 200, new HeaderList([['location', 'http://evil.test/y']])), ['http://a.test/x']);
  assert.deepEqual(invalidationKeys('FROB', u, 302, new HeaderList([])), ['http://a.test/x']); // unknown methods count as unsafe
});

test('§2: the primary key is the normalised target URI without fragment', () => {
  assert.equal(cacheKey('HTTP://Example.COM:80/a?b#c'), 'http://example.com/a?b');
});

/** The key as the URL parser makes it, or the error it throws: what `cacheKey` must equal. */
function parsedKey(url: string): string {
  try {
    const u = new URL(url);
    u.hash = '';
    return u.href;
  } catch (err) {
    return `throws ${(err as Error).name}`;
  }
}
function keyOrThrow(url: string): string {
  try {
    return cacheKey(url);
  } catch (err) {
    return `throws ${(err as Error).name}`;
  }
}

test('§2: the key of a URL the parser would leave alone is built without parsing it, and equals the parsed one', () => {
  const urls = [
    'http://example.com/a', 'http://Example.COM:80/a?b', 'https://h:443/', 'http://h:8080/p?q=1&r=/./', 'http://127.0.0.1:8000/x?y=z',
    'http://[::1]:80/x', 'http://[0:0::1]/x', 'http://0x7f.1/x', 'http://h:/x', 'http://h.:81/x', 'http://a%41b/x', 'http://xn--nxasmq6b/x',
    'http://h/a/./b', 'http://h/a/../b', 'http://h/a/%2e%2E/b', 'http://h/.well-known/x', 'http://h/a/..', 'http://h/%2e', 'http://h//x',
    'http://h/a\\b', "http://h/a?x='y", "http://h/a'b", 'http://h/é', 'http://u@h/x', 'http://u:p@h/x', 'http://h/a b', 'http://h/a#frag',
    'http://h/%zz', 'http://h/a^b', 'http://h/{x}', 'http://h/a|b', 'http://h/a`b', 'http://h/a"b', 'http://h?x', 'http://h', 'http:///x',
    'http://h:99999/x', 'http://h:8a/x', 'http://[::1/x', 'http://h/a?b#c?d', 'http://h/a?b/../c', 'http://h/a?%2e', 'ftp://h/x', 'HTTPS://H/x',
    'http://h/a;b=c,d*e(f)!$&+@:~_-', 'http://h\\x/y', 'http://h%2F/x', 'http://h%00/x',
  ];
  for (const url of urls) assert.equal(keyOrThrow(url), parsedKey(url), url);
  // And a few thousand generated from the characters that matter to the parser.
  const alphabet = ['a', 'B', '0', '/', '.', '..', '%2e', '%2E', '%41', '%', '?', '#', "'", '\\', '@', ':', ' ', 'é', '~', '//', '\t', '|', '^', '[', ']'];
  let seed = 7;
  const pick = (): string => alphabet[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % alphabet.length]!;
  for (let i = 0; i < 5000; i++) {
    let path = '';
    for (let n = (seed % 9) + 1; n > 0; n--) path += pick();
    const url = `${i % 2 === 0 ? 'http' : 'https'}://Host.test${i % 3 === 0 ? ':80' : ''}/${path}`;
    assert.equal(keyOrThrow(url), parsedKey(url), url);
    const target = `/${path}`;
    if (urlKeepsPath(target)) {
      const u = new URL(target, 'http://x');
      assert.equal(`${u.pathname}${u.search}`, target, `urlKeepsPath(${JSON.stringify(target)}) but the parser changes it`);
    }
  }
});

test('RFC 9110 §13.1.2/§13.1.3: a caller\'s own If-None-Match (weak comparison) and If-Modified-Since', () => {
  const res = { status: 200, headers: new HeaderList([['etag', '"a"'], ['last-modified', D(T0)]]) };
  assert.ok(conditionsSayNotModified(new HeaderList([['if-none-match', 'W/"a", "b"']]), res));
  assert.ok(!conditionsSayNotModified(new HeaderList([['if-none-match', '"b"']]), res));
  assert.ok(conditionsSayNotModified(new HeaderList([['if-modified-since', D(T0)]]), res));
  assert.ok(!conditionsSayNotModified(new HeaderList([['if-modified-since', D(T0 - 1000)]]), res));
  // If-None-Match present: If-Modified-Since is ignored (RFC 9110 §13.2.2).
  assert.ok(!conditionsSayNotModified(new HeaderList([['if-none-match', '"b"'], ['if-modified-since', D(T0)]]), res));
});
