/** The store contract (store.ts), run against every built-in store; then each store's own limits. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { HeaderList, MemoryStore, SqliteStore, RedisStore } from '../../src/cache/index.ts';
import type { CacheStore, StoredEntry } from '../../src/cache/index.ts';
import { REDIS_SERVER, startRedis } from './redisServer.ts';
import type { RedisServer } from './redisServer.ts';
import { until } from '../support.ts';

function entry(key: string, variant: string, body: string, over: Partial<StoredEntry> = {}): StoredEntry {
  const now = Date.now();
  return {
    id: randomUUID(),
    key,
    variant,
    vary: ['accept-encoding'],
    varyValues: [variant],
    status: 200,
    statusText: 'OK',
    headers: new HeaderList([['etag', `"${body}"`]]),
    body: new Uint8Array(Buffer.from(body)),
    requestTime: now,
    responseTime: now,
    expires: now + 60_000,
    ...over,
  };
}

const bodies = (es: StoredEntry[]) => es.map((e) => Buffer.from(e.body).toString()).sort();

function contract(name: string, make: () => Promise<CacheStore>, skip: string | false = false): void {
  describe(`${name} store contract`, { skip }, () => {
    let store: CacheStore;
    before(async () => {
      store = await make();
    });
    after(async () => {
      await store?.close();
    });

    test('variants of one key live side by side (RFC 9111 §4.1); put replaces only the same variant', async () => {
      const k = `http://t/${randomUUID()}`;
      await store.put(entry(k, 'gzip', 'a'));
      await store.put(entry(k, 'br', 'b'));
      assert.deepEqual(bodies(await store.get(k)), ['a', 'b']);
      await store.put(entry(k, 'gzip', 'c'));
      assert.deepEqual(bodies(await store.get(k)), ['b', 'c']);
      assert.deepEqual(await store.get(`${k}/other`), []);
    });

    test('entries round-trip whole', async () => {
      const k = `http://t/${randomUUID()}`;
      const e = entry(k, 'x', 'payload', { headers: new HeaderList([['a', '1'], ['A', '2']]), status: 404, statusText: 'Not Found' });
      await store.put(e);
      const [got] = await store.get(k);
      assert.deepEqual({ ...got!, body: Buffer.from(got!.body).toString() }, { ...e, body: 'payload' });
    });

    test('freshen is compare-and-set on the entry id (§4.3.4 vs. a concurrent replacement)', async () => {
      const k = `http://t/${randomUUID()}`;
      const old = entry(k, 'gzip', 'old');
      await store.put(old);
      assert.equal(await store.freshen({ ...old, headers: new HeaderList([['x-fresh', '1']]) }), true);
      assert.deepEqual((await store.get(k))[0]!.headers.entries(), [['x-fresh', '1']]);
      await store.put(entry(k, 'gzip', 'new'));
      assert.equal(await store.freshen({ ...old, headers: new HeaderList([['x-fresh', '2']]) }), false);
      assert.deepEqual(bodies(await store.get(k)), ['new']);
    });

    if (name !== 'memory') {
      test('freshen replaces the head in place: the stored body is neither read back nor written again (§4.3.4)', async () => {
        const k = `http://t/${randomUUID()}`;
        const e = entry(k, 'gzip', 'the stored body');
        await store.put(e);
        // A freshen that carried a different body: only its head may reach the store.
        assert.equal(await store.freshen({ ...e, headers: new HeaderList([['x-fresh', '1'], ['etag', '"the stored body"']]), body: new Uint8Array(Buffer.from('not this one')) }), true);
        const [got] = await store.get(k);
        assert.deepEqual(got!.headers.entries(), [['x-fresh', '1'], ['etag', '"the stored body"']]);
        assert.equal(Buffer.from(got!.body).toString(), 'the stored body');
        // A longer head, then a shorter one: the tail is found after whichever head is stored.
        const long = new HeaderList([['x-fresh', 'y'.repeat(500)]]);
        assert.equal(await store.freshen({ ...e, headers: long }), true);
        assert.equal(await store.freshen({ ...e, headers: new HeaderList([['x-fresh', '3']]) }), true);
        const [again] = await store.get(k);
        assert.deepEqual(again!.headers.entries(), [['x-fresh', '3']]);
        assert.equal(Buffer.from(again!.body).toString(), 'the stored body');
      });
    }

    test('delete removes every variant (§4.4); expired entries are not returned', async () => {
      const k = `http://t/${randomUUID()}`;
      await store.put(entry(k, 'a', 'a'));
      await store.put(entry(k, 'b', 'b'));
      await store.delete(k);
      assert.deepEqual(await store.get(k), []);
      await store.put(entry(k, 'c', 'c', { expires: Date.now() - 1 }));
      assert.deepEqual(await store.get(k), []);
    });

    test('leases are exclusive, renewable by their owner, released only by their owner, and expire', async () => {
      const n = `lease-${randomUUID()}`;
      assert.equal(await store.acquireLease(n, 'p1', 60_000), true);
      assert.equal(await store.acquireLease(n, 'p2', 60_000), false);
      assert.equal(await store.acquireLease(n, 'p1', 60_000), true);
      await store.releaseLease(n, 'p2');
      assert.equal(await store.acquireLease(n, 'p2', 60_000), false);
      await store.releaseLease(n, 'p1');
      assert.equal(await store.acquireLease(n, 'p2', 60_000), true);
      const m = `lease-${randomUUID()}`;
      assert.equal(await store.acquireLease(m, 'p1', 30), true);
      // No timing assertion: only that it eventually expires.
      await until(() => store.acquireLease(m, 'p2', 60_000), { what: 'the lease to expire' });
    });

    test('entries above maxEntryBytes are not stored, and the outdated copy of that variant goes too', async () => {
      const k = `http://t/${randomUUID()}`;
      await store.put(entry(k, 'a', 'small'));
      await store.put(entry(k, 'b', 'other'));
      await store.put(entry(k, 'a', 'z'.repeat(300_000)));
      assert.deepEqual(bodies(await store.get(k)), ['other']);
    });
  });
}

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hf-store-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let redis: RedisServer | undefined;
const redisSkip = REDIS_SERVER === undefined ? 'redis-server is not installed (apt-get install redis-server)' : false;
after(async () => {
  await redis?.stop();
});

contract('memory', async () => new MemoryStore({ maxEntryBytes: 100_000 }));
contract('sqlite', async () => new SqliteStore({ directory: tmp(), maxEntryBytes: 100_000 }));
contract(
  'redis',
  async () => {
    redis ??= await startRedis();
    return RedisStore.connect({ url: redis.url, prefix: RedisStore.uniquePrefix(), maxEntryBytes: 100_000 });
  },
  redisSkip,
);

test('memory: least recently used entries are evicted by bytes', async () => {
  const store = new MemoryStore({ maxBytes: 3_500, maxEntryBytes: 3_500 });
  for (const k of ['a', 'b', 'c']) await store.put(entry(k, '', 'x'.repeat(1000), { headers: new HeaderList([]) }));
  await store.get('a'); // a becomes most recent; b is now the oldest
  await store.put(entry('d', '', 'x'.repeat(1000), { headers: new HeaderList([]) }));
  assert.equal((await store.get('b')).length, 0);
  for (const k of ['a', 'c', 'd']) assert.equal((await store.get(k)).length, 1, k);
  assert.ok(store.bytes <= 3_500);
});

test('memory: recency is exact when one key is read over and over (getSync as get), and after removals', async () => {
  const store = new MemoryStore({ maxBytes: 3_500, maxEntryBytes: 3_500 });
  const put = (k: string) => store.put(entry(k, '', 'x'.repeat(1000), { headers: new HeaderList([]) }));
  for (const k of ['a', 'b', 'c']) await put(k);
  // Read c (already the newest) many times, then a, then c again: b is the least recently used.
  for (let i = 0; i < 3; i++) assert.equal(store.getSync('c').length, 1);
  store.getSync('a');
  store.getSync('c');
  await put('d'); // evicts b
  await put('e'); // evicts a (read before c)
  assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((k) => store.getSync(k).length), [0, 0, 1, 1, 1]);
  await put('d');
  // The newest removed, then the old newest read again: it must move behind the others.
  await store.delete('d'); // order now c, e (d was the newest)
  store.getSync('c'); // c becomes the newest: e is the oldest
  await put('f');
  await put('g');
  assert.deepEqual(['c', 'e', 'f', 'g'].map((k) => store.getSync(k).length), [1, 0, 1, 1]);
});

test('sqlite: total bytes stay under maxBytes; the oldest entries go first', async () => {
  const dir = tmp();
  const store = new SqliteStore({ directory: dir, maxBytes: 20_000, maxEntryBytes: 20_000, touchIntervalMs: 0 });
  for (let i = 0; i < 20; i++) await store.put(entry(`k${i}`, '', 'x'.repeat(2_000), { headers: new HeaderList([]) }));
  assert.ok(store.bytes <= 20_000, String(store.bytes));
  assert.equal((await store.get('k0')).length, 0);
  assert.equal((await store.get('k19')).length, 1);
  await store.close();
});

test('sqlite: a freshen rewrites the head row only, keeps the byte total exact, and leaves the body row as it was', async () => {
  const directory = tmp();
  const store = new SqliteStore({ directory });
  const db = new DatabaseSync(join(directory, 'cache.sqlite'));
  try {
    const k = `http://t/${randomUUID()}`;
    const e = entry(k, 'v', 'x'.repeat(64 * 1024));
    await store.put(e);
    const bodyRow = () => db.prepare('SELECT b.n, b.tail FROM hf_bodies b JOIN hf_heads h ON h.n = b.n WHERE h.key = ?').get(k) as { n: number; tail: Uint8Array };
    const before = bodyRow();
    // The body's 16 or more pages are what a 304 must not rewrite: the WAL receives the pages of
    // the head row, its indexes and the byte total only.
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    assert.equal(await store.freshen({ ...e, headers: new HeaderList([['x-fresh', 'z'.repeat(300)]]) }), true);
    await store.flush(); // written behind by default: write it now to count its pages
    const { log: pages } = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number };
    assert.ok(pages <= 6, `a freshen wrote ${pages} pages`);
    assert.deepEqual(bodyRow(), before);
    const sum = db.prepare('SELECT sum(length(h.head) + length(b.tail)) AS n, sum(h.size) AS s FROM hf_heads h JOIN hf_bodies b ON b.n = h.n').get() as { n: number; s: number };
    assert.equal(sum.s, sum.n);
    assert.equal(store.bytes, sum.n);
    const [got] = await store.get(k);
    assert.deepEqual(got!.headers.entries(), [['x-fresh', 'z'.repeat(300)]]);
    assert.equal(Buffer.from(got!.body).toString(), 'x'.repeat(64 * 1024));
    // Replaced or removed, an entry takes its body row with it.
    await store.put({ ...e, id: randomUUID(), body: Buffer.from('short') });
    await store.delete(`http://t/${randomUUID()}`);
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM hf_bodies').get() as { n: number }).n, 1);
    await store.delete(k);
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM hf_bodies').get() as { n: number }).n, 0);
    assert.equal(store.bytes, 0);
  } finally {
    db.close();
    await store.close();
  }
});

test('sqlite: a freshen is written behind (RFC 9111 §4.3.4): this store reads it at once, other connections once the batch is written; lost, it leaves the older head whole', async () => {
  const directory = tmp();
  const store = new SqliteStore({ directory, freshenDelayMs: 60_000 });
  const other = new SqliteStore({ directory });
  try {
    const k = `http://t/${randomUUID()}`;
    const e = entry(k, 'v', 'body');
    await store.put(e);
    assert.equal((await store.get(k)).length, 1);
    const fresh = { ...e, headers: new HeaderList([['etag', '"body"'], ['x-fresh', '1']]), expires: e.expires + 1000 };
    assert.equal(await store.freshen(fresh), true);
    assert.deepEqual((await store.get(k))[0]!.headers.entries(), fresh.headers.entries(), 'this store reads its own freshen');
    // Not yet written: another process reads the older head, whole, and would revalidate it once more.
    const before = (await other.get(k))[0]!;
    assert.deepEqual(before.headers.entries(), e.headers.entries());
    assert.equal(Buffer.from(before.body).toString(), 'body');
    // A lease release writes the batch in its transaction: a process that waited on the lease reads the freshened entry.
    assert.equal(await store.acquireLease('fetch k', 'me', 10_000), true);
    await store.releaseLease('fetch k', 'me');
    assert.deepEqual((await other.get(k))[0]!.headers.entries(), fresh.headers.entries());
    // So does close().
    const again = { ...fresh, headers: new HeaderList([['etag', '"body"'], ['x-fresh', '2']]) };
    assert.equal(await store.freshen(again), true);
    await store.close();
    assert.deepEqual((await other.get(k))[0]!.headers.entries(), again.headers.entries());
  } finally {
    await store.close();
    await other.close();
  }
});

test('sqlite: a freshen is written within freshenDelayMs, and at once with freshenDelayMs: 0', async () => {
  const directory = tmp();
  const soon = new SqliteStore({ directory, freshenDelayMs: 5 });
  const now = new SqliteStore({ directory, freshenDelayMs: 0 });
  const other = new SqliteStore({ directory });
  try {
    for (const [store, wait] of [[soon, true], [now, false]] as const) {
      const k = `http://t/${randomUUID()}`;
      const e = entry(k, 'v', 'body');
      await store.put(e);
      await store.get(k);
      const fresh = { ...e, headers: new HeaderList([['x-fresh', String(wait)]]) };
      assert.equal(await store.freshen(fresh), true);
      const seen = async () => (await other.get(k))[0]!.headers.first('x-fresh');
      if (wait) await until(async () => (await seen()) === 'true');
      else assert.equal(await seen(), 'false');
    }
  } finally {
    for (const s of [soon, now, other]) await s.close();
  }
});

test('sqlite: an entry remembered decoded is reused only while its row holds the same bytes: another connection\'s freshen or replacement is read at once', async () => {
  const directory = tmp();
  const store = new SqliteStore({ directory });
  const other = new SqliteStore({ directory, freshenDelayMs: 0 });
  try {
    const k = `http://t/${randomUUID()}`;
    const e = entry(k, 'v', 'body');
    await store.put(e);
    assert.equal((await store.get(k))[0], (await store.get(k))[0], 'the same decoded entry while nothing changed');
    await other.get(k);
    assert.equal(await other.freshen({ ...e, headers: new HeaderList([['x-fresh', 'elsewhere']]) }), true);
    assert.deepEqual((await store.get(k))[0]!.headers.entries(), [['x-fresh', 'elsewhere']]);
    await other.put(entry(k, 'v', 'replaced'));
    assert.deepEqual(bodies(await store.get(k)), ['replaced']);
    // A freshen of the replaced entry changes nothing, and says so.
    assert.equal(await store.freshen({ ...e, headers: new HeaderList([['x-fresh', 'late']]) }), false);
    assert.deepEqual(bodies(await other.get(k)), ['replaced']);
  } finally {
    await store.close();
    await other.close();
  }
});

test('sqlite: a database of the older one-blob layout is emptied and migrated on open (it is a cache)', async () => {
  const directory = tmp();
  mkdirSync(directory, { recursive: true });
  const db = new DatabaseSync(join(directory, 'cache.sqlite'));
  db.exec(`CREATE TABLE hf_entries (key TEXT NOT NULL, variant TEXT NOT NULL, id TEXT NOT NULL, data BLOB NOT NULL, size INTEGER NOT NULL, expires INTEGER NOT NULL, atime INTEGER NOT NULL, PRIMARY KEY (key, variant));
    CREATE TABLE hf_stats (one INTEGER PRIMARY KEY CHECK (one = 1), bytes INTEGER NOT NULL); INSERT INTO hf_stats VALUES (1, 0);
    CREATE TRIGGER hf_entries_ins AFTER INSERT ON hf_entries BEGIN UPDATE hf_stats SET bytes = bytes + NEW.size; END;`);
  const old = entry(`http://t/${randomUUID()}`, 'v', 'old layout');
  const blob = oldLayout(old);
  db.prepare('INSERT INTO hf_entries (key, variant, id, data, size, expires, atime) VALUES (?, ?, ?, ?, ?, ?, ?)').run(old.key, 'v', old.id, blob, blob.length, old.expires, Date.now());
  db.close();
  const store = new SqliteStore({ directory });
  try {
    assert.equal(store.bytes, 0);
    assert.deepEqual(await store.get(old.key), []);
    await store.put(old);
    assert.equal(Buffer.from((await store.get(old.key))[0]!.body).toString(), 'old layout');
    // A second process opening the migrated database keeps what is there.
    const other = new SqliteStore({ directory });
    assert.equal((await other.get(old.key)).length, 1);
    await other.close();
  } finally {
    await store.close();
  }
});

test('sqlite: a corrupt entry is a miss and is removed, never served', async () => {
  const dir = tmp();
  const corrupt: string[] = [];
  const store = new SqliteStore({ directory: dir, onCorrupt: (k) => corrupt.push(k) });
  await store.put(entry('k', 'a', 'good'));
  await store.put(entry('k', 'b', 'will rot'));
  const db = new DatabaseSync(store.path);
  // Flip one byte in the body of variant b.
  const bodyOf = "SELECT n FROM hf_heads WHERE variant = 'b'";
  const row = db.prepare(`SELECT tail FROM hf_bodies WHERE n = (${bodyOf})`).get() as { tail: Uint8Array };
  const data = Buffer.from(row.tail);
  data[data.length - 34] = data[data.length - 34]! ^ 0xff;
  db.prepare(`UPDATE hf_bodies SET tail = ? WHERE n = (${bodyOf})`).run(data);
  assert.deepEqual(bodies(await store.get('k')), ['good']);
  assert.deepEqual(corrupt, ['k']);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM hf_heads').get() as { n: number }).n, 1);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM hf_bodies').get() as { n: number }).n, 1);
  // A head whose body row is missing is damaged too.
  db.prepare("DELETE FROM hf_bodies WHERE n = (SELECT n FROM hf_heads WHERE variant = 'a')").run();
  assert.deepEqual(bodies(await store.get('k')), []);
  assert.deepEqual(corrupt, ['k', 'k']);
  assert.equal(store.bytes, 0);
  db.close();
  await store.close();
});

test('sqlite: many connections on one directory see each other\'s writes (what many processes do)', async () => {
  const dir = tmp();
  const stores = Array.from({ length: 4 }, () => new SqliteStore({ directory: dir }));
  await Promise.all(stores.map((s, i) => s.put(entry('shared', `v${i}`, `from ${i}`))));
  for (const s of stores) assert.equal((await s.get('shared')).length, 4);
  const mode = new DatabaseSync(stores[0]!.path).prepare('PRAGMA journal_mode').get() as { journal_mode: string };
  assert.equal(mode.journal_mode, 'wal');
  for (const s of stores) await s.close();
});

/** An entry in the older single-checksum layout: "HFC1" | u32 metadata length | metadata | body | SHA-256 of all before. */
function oldLayout(e: StoredEntry): Buffer {
  const { body, headers, ...rest } = e;
  const json = Buffer.from(JSON.stringify({ ...rest, headers: headers.entries() }));
  const head = Buffer.alloc(8);
  head.write('HFC1', 0, 'latin1');
  head.writeUInt32BE(json.length, 4);
  const unhashed = Buffer.concat([head, json, body]);
  return Buffer.concat([unhashed, createHash('sha256').update(unhashed).digest()]);
}

test('redis: a value of the older layout still reads, and freshens whole', { skip: redisSkip }, async () => {
  redis ??= await startRedis();
  const prefix = RedisStore.uniquePrefix();
  const store = await RedisStore.connect({ url: redis.url, prefix });
  const { createClient } = await import('@redis/client');
  const c = createClient({ url: redis.url });
  await c.connect();
  try {
    const old = entry('k-old', 'v', 'old layout');
    await c.hSet(`${prefix}k:k-old`, 'v', Buffer.concat([Buffer.from(`${old.id}\n`), oldLayout(old)]));
    assert.deepEqual(bodies(await store.get('k-old')), ['old layout']);
    assert.equal(await store.freshen({ ...old, headers: new HeaderList([['x-fresh', '1']]) }), true);
    const [got] = await store.get('k-old');
    assert.deepEqual(got!.headers.entries(), [['x-fresh', '1']]);
    assert.equal(Buffer.from(got!.body).toString(), 'old layout');
  } finally {
    await c.close();
    await store.close();
  }
});

test('redis: a corrupt value is a miss and is removed; keys carry a TTL', { skip: redisSkip }, async () => {
  redis ??= await startRedis();
  const prefix = RedisStore.uniquePrefix();
  const store = await RedisStore.connect({ url: redis.url, prefix });
  const raw = await RedisStore.connect({ url: redis.url, prefix: 'unused:' });
  try {
    await store.put(entry('k', 'a', 'good'));
    await store.put(entry('k', 'b', 'will rot'));
    // Overwrite variant b with garbage through a plain client.
    const { createClient } = await import('@redis/client');
    const c = createClient({ url: redis.url });
    await c.connect();
    await c.hSet(`${prefix}k:k`, 'b', 'not an entry');
    const ttl = await c.pTTL(`${prefix}k:k`);
    assert.ok(ttl > 0 && ttl <= 60_000, String(ttl));
    assert.deepEqual(bodies(await store.get('k')), ['good']);
    assert.equal(await c.hExists(`${prefix}k:k`, 'b'), 0);
    await c.close();
  } finally {
    await store.close();
    await raw.close();
  }
});
