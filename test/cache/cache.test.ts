/** The cache layer end to end against loopback origins (RFC 9111 sections cited per test). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createCache, HeaderList, MemoryStore, SqliteStore, Unexpected304Error } from '../../src/cache/index.ts';
import { decodeEntry } from '../../src/internals.ts';
import type { CacheStore, CacheOptions } from '../../src/cache/index.ts';
import { fakeClock, get, header, httpNext, startOrigin, text } from './helpers.ts';
import type { Origin } from './helpers.ts';
import { sleep, until } from '../support.ts';

async function setup(handler: (req: import('node:http').IncomingMessage, res: ServerResponse, n: number) => void, options: Partial<CacheOptions> = {}) {
  const clock = fakeClock();
  const origin = await startOrigin(handler, clock.now);
  const store = new MemoryStore();
  const cache = createCache({ store, now: clock.now, ...options });
  const next = httpNext();
  const done = async () => {
    await cache.close();
    next.agent.destroy();
    await origin.close();
  };
  return { origin, clock, store, cache, next, done, url: (p: string) => origin.url + p };
}

function ok(res: ServerResponse, headers: Record<string, string>, body: string): void {
  res.writeHead(200, headers);
  res.end(body);
}

test('§4.2: a fresh stored response is served without contacting the origin; §5.1: with its current Age', async () => {
  const s = await setup((_q, r, n) => ok(r, { 'cache-control': 'max-age=100' }, `body ${n}`));
  try {
    const a = await s.cache.handle(get(s.url('/x')), s.next);
    assert.equal(a.cacheOutcome, 'miss');
    s.clock.advance(50);
    const b = await s.cache.handle(get(s.url('/x')), s.next);
    assert.equal(b.cacheOutcome, 'hit');
    assert.equal(await text(b), 'body 0');
    const age = Number(header(b, 'age'));
    assert.ok(age >= 50 && age <= 52, `age ${age}`);
    assert.equal(s.origin.requests.length, 1);
    s.clock.advance(60);
    const c = await s.cache.handle(get(s.url('/x')), s.next);
    assert.equal(c.cacheOutcome, 'miss'); // stale, no validator: refetched
    assert.equal(s.origin.requests.length, 2);
  } finally {
    await s.done();
  }
});

test('§4.3.1/§4.3.4: revalidation sends the held ETag; the 304 freshens it and the held body is served', async () => {
  const s = await setup((q, r) => {
    if (q.headers['if-none-match'] === '"v1"') {
      r.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=100', 'x-fresh': 'yes' });
      r.end();
    } else ok(r, { etag: '"v1"', 'cache-control': 'max-age=0', 'content-type': 'text/plain' }, 'one');
  });
  try {
    await s.cache.handle(get(s.url('/v')), s.next);
    const b = await s.cache.handle(get(s.url('/v')), s.next);
    assert.equal(b.status, 200);
    assert.equal(b.cacheOutcome, 'revalidated');
    assert.equal(await text(b), 'one');
    assert.equal(header(b, 'x-fresh'), 'yes');
    assert.equal(header(b, 'content-type'), 'text/plain');
    assert.equal(s.origin.requests[1]!.headers['if-none-match'], '"v1"');
    // The 304's max-age=100 now applies (§3.2 header update): a hit.
    const c = await s.cache.handle(get(s.url('/v')), s.next);
    assert.equal(c.cacheOutcome, 'hit');
    assert.equal(s.origin.requests.length, 2);
  } finally {
    await s.done();
  }
});

test('§4.3.4: a 304 that names another validator is not merged; the request is repeated unconditionally', async () => {
  let phase = 0;
  const s = await setup((q, r) => {
    if (q.headers['if-none-match'] !== undefined) {
      r.writeHead(304, { etag: '"other"' });
      r.end();
    } else ok(r, { etag: `"v${phase}"`, 'cache-control': 'max-age=0' }, `body ${phase++}`);
  });
  try {
    await s.cache.handle(get(s.url('/m')), s.next);
    const b = await s.cache.handle(get(s.url('/m')), s.next);
    assert.equal(b.status, 200);
    assert.equal(await text(b), 'body 1');
    assert.equal(s.cache.stats.repeatedUnconditionally, 1);
    assert.equal(s.origin.requests.length, 3);
    assert.equal(s.origin.requests[2]!.headers['if-none-match'], undefined);
  } finally {
    await s.done();
  }
});

for (const storeKind of ['memory', 'sqlite'] as const) {
  test(`§4.3.4 (${storeKind}): a 304 with a strong ETag freshens every stored variant sharing it, not one with another ETag`, async () => {
    // Vary: X-Lang, but the origin sends the same representation (same strong ETag) for en and
    // fr, and another one for de. All three are stored stale (max-age=0).
    const tags: Record<string, string> = { en: '"shared"', fr: '"shared"', de: '"other"' };
    const dir = mkdtempSync(join(tmpdir(), 'hf-siblings-'));
    const store: CacheStore = storeKind === 'sqlite' ? new SqliteStore({ directory: dir }) : new MemoryStore();
    const s = await setup(
      (q, r) => {
        const lang = String(q.headers['x-lang']);
        const etag = tags[lang]!;
        if (q.headers['if-none-match'] === etag) {
          r.writeHead(304, { etag, vary: 'X-Lang', 'cache-control': 'max-age=100' });
          r.end();
        } else ok(r, { etag, vary: 'X-Lang', 'cache-control': 'max-age=0' }, `body for ${lang}`);
      },
      { store },
    );
    const lang = (l: string) => get(s.url('/p'), new HeaderList([['x-lang', l]]));
    try {
      for (const l of ['en', 'fr', 'de']) assert.equal((await s.cache.handle(lang(l), s.next)).cacheOutcome, 'miss');
      s.clock.advance(5);
      const en = await s.cache.handle(lang('en'), s.next);
      assert.equal(en.cacheOutcome, 'revalidated');
      assert.equal(s.origin.requests.length, 4);
      // "All the stored responses with the same strong validator are identified for update":
      // fr was freshened by en's 304, so it is a fresh hit now, its own body, no origin contact.
      const fr = await s.cache.handle(lang('fr'), s.next);
      assert.equal(fr.cacheOutcome, 'hit');
      assert.equal(await text(fr), 'body for fr');
      assert.equal(header(fr, 'cache-control'), 'max-age=100');
      assert.equal(s.origin.requests.length, 4);
      // de has another ETag: not identified by that 304, still stale, so it is revalidated itself.
      const de = await s.cache.handle(lang('de'), s.next);
      assert.equal(de.cacheOutcome, 'revalidated');
      assert.equal(await text(de), 'body for de');
      assert.equal(s.origin.requests.length, 5);
      assert.equal(s.origin.requests[4]!.headers['if-none-match'], '"other"');
    } finally {
      await s.done();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('seed 003: a 304 to an unconditional request is an error (HF_CACHE_UNEXPECTED_304), never handed to the caller', async () => {
  const s = await setup((_q, r) => {
    r.writeHead(304, { etag: '"x"' });
    r.end();
  });
  try {
    await assert.rejects(s.cache.handle(get(s.url('/bad')), s.next), (e: unknown) => e instanceof Unexpected304Error && e.code === 'HF_CACHE_UNEXPECTED_304');
  } finally {
    await s.done();
  }
});

test('RFC 9110 §13.1.2: a caller with its own If-None-Match gets 304 when it matches, 200 when not; its conditions never reach the origin', async () => {
  const s = await setup((_q, r) => ok(r, { etag: '"e1"', 'cache-control': 'max-age=100' }, 'payload'));
  try {
    const miss = await s.cache.handle(get(s.url('/c'), new HeaderList([['if-none-match', '"e1"']])), s.next);
    assert.equal(miss.status, 304);
    assert.equal(header(miss, 'etag'), '"e1"');
    assert.equal(s.origin.requests[0]!.headers['if-none-match'], undefined); // stored whole
    const hit = await s.cache.handle(get(s.url('/c'), new HeaderList([['if-none-match', 'W/"e1"']])), s.next);
    assert.equal(hit.status, 304);
    const other = await s.cache.handle(get(s.url('/c'), new HeaderList([['if-none-match', '"zzz"']])), s.next);
    assert.equal(other.status, 200);
    assert.equal(await text(other), 'payload');
    assert.equal(s.origin.requests.length, 1);
  } finally {
    await s.done();
  }
});

test('§4.1: Vary variants are stored side by side and each is selected for its own request', async () => {
  const s = await setup((q, r) => ok(r, { vary: 'Accept-Encoding', 'cache-control': 'max-age=100' }, `for ${q.headers['accept-encoding'] ?? 'none'}`));
  try {
    for (let round = 0; round < 2; round++) {
      for (const ae of ['gzip', 'br', undefined]) {
        const res = await s.cache.handle(get(s.url('/v'), new HeaderList(ae === undefined ? [] : [['accept-encoding', ae]])), s.next);
        assert.equal(await text(res), `for ${ae ?? 'none'}`);
        assert.equal(res.cacheOutcome, round === 0 ? 'miss' : 'hit');
      }
    }
    assert.equal(s.origin.requests.length, 3);
    assert.equal(s.store.size, 3);
  } finally {
    await s.done();
  }
});

test('freshHit: a fresh stored response without a promise, with the Age and Cache-Status handle gives; anything else is left to handle', async () => {
  const s = await setup((q, r) => ok(r, { vary: 'Accept-Encoding', 'cache-control': 'max-age=100' }, `for ${q.headers['accept-encoding'] ?? 'none'}`), { mode: 'shared' });
  try {
    const always = (): boolean => true;
    const gzip = new HeaderList([['accept-encoding', 'gzip']]);
    assert.equal(s.cache.freshHit('GET', s.url('/f'), gzip, always), undefined, 'nothing stored');
    await s.cache.handle(get(s.url('/f'), gzip), s.next);
    s.clock.advance(30);
    const hitsBefore = s.cache.stats.hits;
    const hit = s.cache.freshHit('GET', s.url('/f'), gzip, always);
    assert.ok(hit !== undefined);
    assert.equal(Buffer.from(hit.entry.body).toString(), 'for gzip');
    assert.equal(s.cache.stats.hits, hitsBefore + 1);
    const full = await s.cache.handle(get(s.url('/f'), gzip), s.next);
    assert.equal(full.cacheOutcome, 'hit');
    assert.equal(hit.age, header(full, 'age'));
    assert.equal(hit.cacheStatus, header(full, 'cache-status'));
    assert.equal(hit.cacheStatus, 'holdfast; hit; ttl=70');
    assert.ok(s.cache.freshHit('HEAD', s.url('/f'), gzip, always) !== undefined, 'HEAD is answered from a stored GET');
    // Another variant (§4.1), a Vary field the caller cannot vouch for, the request's own
    // directives, ranges and conditions: handle's business.
    assert.equal(s.cache.freshHit('GET', s.url('/f'), new HeaderList([['accept-encoding', 'br']]), always), undefined);
    assert.equal(s.cache.freshHit('GET', s.url('/f'), gzip, (field) => field !== 'accept-encoding'), undefined);
    for (const [name, value] of [['cache-control', 'max-age=10'], ['pragma', 'no-cache'], ['range', 'bytes=0-1'], ['if-none-match', '*'], ['if-modified-since', new Date().toUTCString()]] as const) {
      assert.equal(s.cache.freshHit('GET', s.url('/f'), new HeaderList([['accept-encoding', 'gzip'], [name, value]]), always), undefined, name);
    }
    assert.equal(s.cache.freshHit('POST', s.url('/f'), gzip, always), undefined);
    s.clock.advance(71);
    assert.equal(s.cache.freshHit('GET', s.url('/f'), gzip, always), undefined, 'stale');
    assert.equal(s.cache.stats.hits, hitsBefore + 3);
  } finally {
    await s.done();
  }
});

test('freshHit: only a store that answers synchronously; a failing or skipped store is left to handle', async () => {
  const clock = fakeClock();
  const inner = new MemoryStore();
  const entries = inner.getSync.bind(inner);
  let failing = false;
  const store: CacheStore = {
    get: (k) => (failing ? Promise.reject(new Error('down')) : inner.get(k)),
    getSync: (k) => {
      if (failing) throw new Error('down');
      return entries(k);
    },
    put: (e) => inner.put(e),
    freshen: (e) => inner.freshen(e),
    delete: (k) => inner.delete(k),
    acquireLease: (n, o, t) => inner.acquireLease(n, o, t),
    releaseLease: (n, o) => inner.releaseLease(n, o),
    close: () => inner.close(),
  };
  const origin = await startOrigin((_q, r) => ok(r, { 'cache-control': 'max-age=100' }, 'x'), clock.now);
  const cache = createCache({ store, now: clock.now, storeGuard: { failureThreshold: 1, coolDownMs: 60_000 } });
  const next = httpNext();
  try {
    const url = `${origin.url}/s`;
    await cache.handle(get(url), next);
    assert.ok(cache.freshHit('GET', url, new HeaderList(), () => true) !== undefined);
    failing = true;
    assert.equal(cache.freshHit('GET', url, new HeaderList(), () => true), undefined, 'the store threw');
    assert.equal(cache.storeGuard!.state, 'closed', 'a synchronous failure is counted once, by the get that follows');
    assert.equal((await cache.handle(get(url), next)).cacheOutcome, 'miss');
    assert.equal(cache.storeGuard!.state, 'open');
    failing = false;
    assert.equal(cache.freshHit('GET', url, new HeaderList(), () => true), undefined, 'breaker open: handle probes');
    const directory = mkdtempSync(join(tmpdir(), 'hf-freshhit-'));
    const sqlite = createCache({ store: new SqliteStore({ directory }), now: clock.now });
    await sqlite.handle(get(url), next);
    assert.equal((await sqlite.handle(get(url), next)).cacheOutcome, 'hit');
    assert.equal(sqlite.freshHit('GET', url, new HeaderList(), () => true), undefined, 'no getSync');
    await sqlite.store.close();
    rmSync(directory, { recursive: true, force: true });
  } finally {
    await cache.close();
    next.agent.destroy();
    await origin.close();
  }
});

test('§5.2.1.7: only-if-cached answers 504 when nothing usable is stored, and the stored response when it is', async () => {
  const s = await setup((_q, r) => ok(r, { 'cache-control': 'max-age=100' }, 'x'));
  try {
    const a = await s.cache.handle(get(s.url('/o'), new HeaderList([['cache-control', 'only-if-cached']])), s.next);
    assert.equal(a.status, 504);
    assert.equal(s.origin.requests.length, 0);
    await s.cache.handle(get(s.url('/o')), s.next);
    const b = await s.cache.handle(get(s.url('/o'), new HeaderList([['cache-control', 'only-if-cached']])), s.next);
    assert.equal(b.status, 200);
  } finally {
    await s.done();
  }
});

test('§5.2.2.5 response no-store is not stored; §5.2.1.5 request no-store is not stored but may be served from storage', async () => {
  const s = await setup((q, r) => ok(r, { 'cache-control': q.url === '/ns' ? 'no-store' : 'max-age=100' }, 'x'));
  try {
    await s.cache.handle(get(s.url('/ns')), s.next);
    await s.cache.handle(get(s.url('/ns')), s.next);
    assert.equal(s.origin.requests.length, 2);
    await s.cache.handle(get(s.url('/rq'), new HeaderList([['cache-control', 'no-store']])), s.next);
    assert.equal(s.store.size, 0);
    await s.cache.handle(get(s.url('/rq')), s.next);
    const c = await s.cache.handle(get(s.url('/rq'), new HeaderList([['cache-control', 'no-store']])), s.next);
    assert.equal(c.cacheOutcome, 'hit');
  } finally {
    await s.done();
  }
});

test('§5.2.1.4: request no-cache (and §5.4 Pragma: no-cache) validates a fresh response with the origin', async () => {
  const s = await setup((q, r) => {
    if (q.headers['if-none-match'] === '"a"') {
      r.writeHead(304, { etag: '"a"' });
      r.end();
    } else ok(r, { etag: '"a"', 'cache-control': 'max-age=100' }, 'x');
  });
  try {
    await s.cache.handle(get(s.url('/n')), s.next);
    const b = await s.cache.handle(get(s.url('/n'), new HeaderList([['cache-control', 'no-cache']])), s.next);
    assert.equal(b.cacheOutcome, 'revalidated');
    const c = await s.cache.handle(get(s.url('/n'), new HeaderList([['pragma', 'no-cache']])), s.next);
    assert.equal(c.cacheOutcome, 'revalidated');
    assert.equal(s.origin.requests.length, 3);
  } finally {
    await s.done();
  }
});

test('RFC 5861 §3: stale-while-revalidate serves stale at once and revalidates in the background once', async () => {
  let version = 0;
  const s = await setup((_q, r) => ok(r, { 'cache-control': 'max-age=10, stale-while-revalidate=100' }, `v${version++}`));
  try {
    await s.cache.handle(get(s.url('/s')), s.next);
    s.clock.advance(20);
    const answers = await Promise.all([1, 2, 3].map(() => s.cache.handle(get(s.url('/s')), s.next)));
    for (const a of answers) {
      assert.equal(a.cacheOutcome, 'stale');
      assert.equal(await text(a), 'v0');
    }
    await s.cache.idle();
    assert.equal(s.origin.requests.length, 2);
    const fresh = await s.cache.handle(get(s.url('/s')), s.next);
    assert.equal(fresh.cacheOutcome, 'hit');
    assert.equal(await text(fresh), 'v1');
  } finally {
    await s.done();
  }
});

test('RFC 5861 §4: stale-if-error serves stale on a 5xx and on a network error; §5.2.2.2 must-revalidate does not', async () => {
  let fail = false;
  let closeAll: (() => void) | undefined;
  const s = await setup((q, r) => {
    if (fail) {
      r.writeHead(503);
      r.end('down');
      return;
    }
    const cc = q.url === '/mr' ? 'max-age=10, stale-if-error=100, must-revalidate' : 'max-age=10, stale-if-error=100';
    ok(r, { 'cache-control': cc }, 'good');
  });
  try {
    await s.cache.handle(get(s.url('/sie')), s.next);
    await s.cache.handle(get(s.url('/mr')), s.next);
    s.clock.advance(30);
    fail = true;
    const a = await s.cache.handle(get(s.url('/sie')), s.next);
    assert.equal(a.cacheOutcome, 'stale');
    assert.equal(await text(a), 'good');
    const b = await s.cache.handle(get(s.url('/mr')), s.next);
    assert.equal(b.status, 503);
    // Network error: a next hop that throws.
    const c = await s.cache.handle(get(s.url('/sie')), async () => {
      throw new Error('ECONNREFUSED');
    });
    assert.equal(c.cacheOutcome, 'stale');
    await assert.rejects(
      s.cache.handle(get(s.url('/mr')), async () => {
        throw new Error('ECONNREFUSED');
      }),
      /ECONNREFUSED/,
    );
    s.clock.advance(200); // past the stale-if-error window
    const d = await s.cache.handle(get(s.url('/sie')), s.next);
    assert.equal(d.status, 503);
    void closeAll;
  } finally {
    await s.done();
  }
});

test('§4.4: a successful unsafe request invalidates the URI and same-origin Location; an error or another origin does not', async () => {
  let other: Origin | undefined;
  const s = await setup((q, r) => {
    if (q.method === 'POST') {
      const fails = q.url === '/fail';
      r.writeHead(fails ? 500 : 201, { location: q.url === '/x' ? '/y' : `${other!.url}/z` });
      r.end();
      return;
    }
    ok(r, { 'cache-control': 'max-age=100' }, 'x');
  });
  other = await startOrigin((_q, r) => ok(r, { 'cache-control': 'max-age=100' }, 'z'));
  try {
    for (const p of ['/x', '/y', '/w', '/fail']) await s.cache.handle(get(s.url(p)), s.next);
    await s.cache.handle(get(`${other.url}/z`), s.next);
    const post = await s.cache.handle({ method: 'POST', url: s.url('/x'), headers: new HeaderList([]) }, s.next);
    assert.equal(post.status, 201);
    assert.equal((await s.cache.handle(get(s.url('/x')), s.next)).cacheOutcome, 'miss');
    assert.equal((await s.cache.handle(get(s.url('/y')), s.next)).cacheOutcome, 'miss');
    assert.equal((await s.cache.handle(get(s.url('/w')), s.next)).cacheOutcome, 'hit');
    await s.cache.handle({ method: 'POST', url: s.url('/fail'), headers: new HeaderList([]) }, s.next);
    assert.equal((await s.cache.handle(get(s.url('/fail')), s.next)).cacheOutcome, 'hit');
    await s.cache.handle({ method: 'POST', url: s.url('/w'), headers: new HeaderList([]) }, s.next); // Location: other origin
    assert.equal((await s.cache.handle(get(`${other.url}/z`), s.next)).cacheOutcome, 'hit');
  } finally {
    await other.close();
    await s.done();
  }
});

test('§5.2.2.7/§5.2.2.10/§3.5: shared mode — private is not stored, s-maxage applies, Authorization needs permission', async () => {
  const s = await setup(
    (q, r) => {
      const cc = q.url === '/priv' ? 'private, max-age=100' : q.url === '/s' ? 'max-age=0, s-maxage=100' : 'max-age=100';
      ok(r, { 'cache-control': cc }, 'x');
    },
    { mode: 'shared' },
  );
  try {
    for (let i = 0; i < 2; i++) await s.cache.handle(get(s.url('/priv')), s.next);
    assert.equal(s.origin.requests.length, 2);
    await s.cache.handle(get(s.url('/s')), s.next);
    assert.equal((await s.cache.handle(get(s.url('/s')), s.next)).cacheOutcome, 'hit');
    for (let i = 0; i < 2; i++) await s.cache.handle(get(s.url('/auth'), new HeaderList([['authorization', 'Basic eA==']])), s.next);
    assert.equal(s.origin.requests.length, 5);
  } finally {
    await s.done();
  }
});

test('§4 (HEAD): a HEAD is answered from a stored GET response, without a body', async () => {
  const s = await setup((_q, r) => ok(r, { 'cache-control': 'max-age=100' }, 'hello'));
  try {
    await s.cache.handle(get(s.url('/h')), s.next);
    const h = await s.cache.handle({ method: 'HEAD', url: s.url('/h'), headers: new HeaderList([]) }, s.next);
    assert.equal(h.cacheOutcome, 'hit');
    assert.equal((h.body as Uint8Array).byteLength, 0);
    assert.equal(header(h, 'content-length'), '5');
    assert.equal(s.origin.requests.length, 1);
  } finally {
    await s.done();
  }
});

test('a Range request with nothing stored goes to the origin as sent; a 200 answer (the origin ignored the range) is stored as the complete response it is (RFC 9111 §3, §3.4)', async () => {
  const s = await setup((_q, r) => ok(r, { 'cache-control': 'max-age=100' }, 'hello'));
  try {
    const a = await s.cache.handle(get(s.url('/r'), new HeaderList([['range', 'bytes=0-1']])), s.next);
    assert.equal(a.cacheOutcome, 'miss');
    assert.equal(a.status, 200);
    assert.equal(s.store.size, 1);
    const b = await s.cache.handle(get(s.url('/r'), new HeaderList([['range', 'bytes=0-1']])), s.next);
    assert.equal(b.cacheOutcome, 'hit');
    assert.equal(b.status, 206);
    assert.equal(Buffer.from(b.body as Uint8Array).toString(), 'he');
  } finally {
    await s.done();
  }
});

test('a failing store degrades to pass-through, never fails the request', async () => {
  const broken: CacheStore = {
    get: async () => {
      throw new Error('disk on fire');
    },
    put: async () => {
      throw new Error('disk on fire');
    },
    freshen: async () => false,
    delete: async () => {},
    acquireLease: async () => {
      throw new Error('disk on fire');
    },
    releaseLease: async () => {},
    close: async () => {},
  };
  const errors: string[] = [];
  const s = await setup((_q, r) => ok(r, { 'cache-control': 'max-age=100' }, 'fine'), { store: broken, onError: (_e, ctx) => errors.push(ctx) });
  try {
    const a = await s.cache.handle(get(s.url('/b')), s.next);
    assert.equal(await text(a), 'fine');
    // The request's first store failure is told; the rest of the request goes without the store
    // (a store that stops answering costs a request one store timeout, not one per call).
    assert.deepEqual(errors, ['store get']);
    assert.equal(s.cache.stats.storeErrors, 1);
  } finally {
    await s.done();
  }
});

for (const damage of ['a flipped body byte', 'a torn (truncated) blob'] as const) {
  test(`a corrupt SQLite entry (${damage}) is a miss through Cache.handle: the origin is asked, the good answer served and stored in its place`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hf-corrupt-'));
    const corrupt: string[] = [];
    const store = new SqliteStore({ directory: dir, onCorrupt: (k) => corrupt.push(k) });
    const s = await setup((_q, r, n) => ok(r, { etag: `"v${n}"`, 'cache-control': 'max-age=100' }, `body ${n}`), { store });
    const db = new DatabaseSync(store.path);
    const row = () => {
      const r = db.prepare('SELECT h.head, b.tail FROM hf_heads h JOIN hf_bodies b ON b.n = h.n').get() as { head: Uint8Array; tail: Uint8Array } | undefined;
      return r && { data: Buffer.concat([r.head, r.tail]) };
    };
    const setTail = (tail: Uint8Array) => db.prepare('UPDATE hf_bodies SET tail = ?').run(tail);
    const tail = () => Buffer.from((db.prepare('SELECT tail FROM hf_bodies').get() as { tail: Uint8Array }).tail);
    try {
      assert.equal((await s.cache.handle(get(s.url('/c')), s.next)).cacheOutcome, 'miss');
      const data = tail();
      if (damage === 'a flipped body byte') {
        // The body sits just before the 32-byte digest: flip a byte of "body 0" itself.
        data[data.length - 32 - 2]! ^= 0x01;
        setTail(data);
      } else {
        // A few bytes short: the header still fits, so only the checksum can tell.
        setTail(data.subarray(0, data.length - 4));
      }
      // Fresh for 100 s, so only the damage can send this request to the origin.
      const again = await s.cache.handle(get(s.url('/c')), s.next);
      assert.equal(again.status, 200);
      assert.equal(again.cacheOutcome, 'miss');
      assert.equal(await text(again), 'body 1');
      assert.equal(header(again, 'etag'), '"v1"');
      assert.equal(s.origin.requests.length, 2);
      assert.deepEqual(corrupt, [s.url('/c')]);
      assert.equal(s.cache.stats.storeErrors, 0); // a miss, not a store failure
      // The damaged row was replaced by the good answer, which now reads back whole...
      assert.equal(Buffer.from(decodeEntry(row()!.data).body).toString(), 'body 1');
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM hf_heads').get() as { n: number }).n, 1);
      // ...and is served from then on.
      const hit = await s.cache.handle(get(s.url('/c')), s.next);
      assert.equal(hit.cacheOutcome, 'hit');
      assert.equal(await text(hit), 'body 1');
      assert.equal(s.origin.requests.length, 2);
    } finally {
      db.close();
      await s.done();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('bodies larger than maxEntryBytes are streamed through whole and not stored', async () => {
  const big = 'y'.repeat(50_000);
  const s = await setup((_q, r) => ok(r, { 'cache-control': 'max-age=100' }, big), { maxEntryBytes: 10_000 });
  try {
    const a = await s.cache.handle(get(s.url('/big')), s.next);
    assert.equal(await text(a), big);
    assert.equal(s.store.size, 0);
  } finally {
    await s.done();
  }
});

// ---- request collapsing ---------------------------------------------------------------------

/** An origin that holds every response until released. */
async function gatedOrigin() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const origin = await startOrigin((_q, r, n) => {
    void gate.then(() => ok(r, { 'cache-control': 'max-age=100', etag: `"${n}"` }, `body ${n}`));
  });
  return { origin, release };
}

test('collapsing within a process: concurrent misses for one key make one origin request', async () => {
  const { origin, release } = await gatedOrigin();
  const cache = createCache({ store: new MemoryStore(), collapse: 'process' });
  const next = httpNext();
  try {
    const all = Promise.all(Array.from({ length: 10 }, () => cache.handle(get(`${origin.url}/k`), next)));
    await until(() => origin.requests.length === 1);
    await until(() => cache.stats.collapsed === 9);
    release();
    const res = await all;
    for (const r of res) assert.equal(await text(r), 'body 0');
    assert.equal(origin.requests.length, 1);
  } finally {
    next.agent.destroy();
    await origin.close();
  }
});

test('collapsing: when the leader stores nothing (uncacheable), waiters go upstream at once rather than queue', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const origin = await startOrigin((_q, r, n) => void gate.then(() => ok(r, { 'cache-control': 'no-store' }, `body ${n}`)));
  const cache = createCache({ store: new MemoryStore(), collapse: 'process' });
  const next = httpNext();
  try {
    const all = Promise.all(Array.from({ length: 5 }, () => cache.handle(get(`${origin.url}/u`), next)));
    await until(() => cache.stats.collapsed === 4);
    release();
    await until(() => origin.requests.length === 5);
    const res = await all;
    assert.equal(res.length, 5);
    // Every waiter waited once only: the leader's flight, then straight upstream.
    assert.equal(cache.stats.collapsed, 4);
  } finally {
    next.agent.destroy();
    await origin.close();
  }
});

/**
 * Two Cache instances on one store (two lease owners, as two processes sharing it would be) miss
 * the same key at once; the origin answers `holdMs` after b has started waiting. b must wait for
 * a's answer and be served from the store: one origin request in all.
 */
async function collapseAcrossInstances(options: Partial<CacheOptions>, holdMs: number): Promise<void> {
  const { origin, release } = await gatedOrigin();
  const store = new MemoryStore();
  const a = createCache({ store, ...options });
  const b = createCache({ store, ...options });
  const next = httpNext();
  try {
    const first = a.handle(get(`${origin.url}/k`), next);
    await until(() => origin.requests.length === 1);
    const second = b.handle(get(`${origin.url}/k`), next);
    await until(() => b.stats.collapsed === 1);
    // Holding the lease for a while is the subject: the waiter must not take it over meanwhile.
    if (holdMs > 0) await sleep(holdMs);
    assert.equal(origin.requests.length, 1, 'the waiter did not take over a lease whose holder is alive');
    release();
    assert.equal(await text(await first), 'body 0');
    const r2 = await second;
    assert.equal(await text(r2), 'body 0');
    assert.equal(r2.cacheOutcome, 'hit');
    assert.equal(origin.requests.length, 1);
  } finally {
    next.agent.destroy();
    await origin.close();
  }
}

test('collapsing across processes: a lease in the shared store makes another cache instance wait', () => collapseAcrossInstances({}, 0));

// A lease of 150 ms, an origin that takes 4 lease lifetimes, and a waiter willing to wait far
// longer: without renewal the lease lapses mid-flight and b sends a second request.
test('collapsing across processes: a live holder keeps renewing its lease while the origin is slower than the lease TTL', () =>
  collapseAcrossInstances({ leaseTtlMs: 150, leaseWaitMs: 10_000 }, 600));

test('collapsing: a lease left by a crashed holder expires, and the waiter then fetches itself', async () => {
  const origin = await startOrigin((_q, r) => ok(r, { 'cache-control': 'max-age=100' }, 'x'));
  const store = new MemoryStore();
  const key = `${origin.url}/k`;
  // A "crashed process" took the lease and will never release it.
  assert.ok(await store.acquireLease(`fetch ${key}`, 'dead-process', 200));
  const cache = createCache({ store, leaseTtlMs: 200 });
  const next = httpNext();
  try {
    const r = await cache.handle(get(key), next);
    assert.equal(r.status, 200);
    assert.equal(cache.stats.collapsed, 1);
    assert.equal(origin.requests.length, 1);
  } finally {
    next.agent.destroy();
    await origin.close();
  }
});

