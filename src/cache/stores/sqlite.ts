/**
 * SQLite store via the built-in `node:sqlite`: the embedded default. A cache directory that many
 * processes open at once: WAL journal (readers never block the writer), a busy timeout (writers
 * queue instead of failing), and each entry written in one transaction, so `kill -9` at any
 * instant leaves every entry whole or absent. Each entry is also checksummed (entryCodec.ts: the
 * head and the body each under their own checksum, kept in separate rows), so a damaged one is
 * removed and read as a miss, never served.
 *
 * Two things keep a revalidated hit (a 304) cheap, neither of which weakens what a reader gets:
 * - **write-behind freshening**: a 304's new head is kept in this process (and consulted by its
 *   reads) and written in one transaction per batch: after `freshenDelayMs`, when
 *   {@link MAX_PENDING_FRESHENS} are waiting, together with a lease release (so a process that
 *   waited on the lease reads the freshened entry), and on `close()`. Losing a batch (a crash,
 *   `kill -9`) loses nothing but freshness: the stored head is the older one, still whole and with
 *   the same validator, so the cost is one extra revalidation (RFC 9111 §4.3.4 is then applied on
 *   the next 304). Other processes see a freshened head up to `freshenDelayMs` late, with the same
 *   cost at most;
 * - **decoded entries remembered**: the last entries read or written here are kept decoded (at most
 *   {@link MEMO_MAX_BYTES}), and reused only when the row still holds the same id and the very same
 *   head bytes, so any other process's write is seen at once. The body served is the one that
 *   was checksummed when it was remembered.
 * @module
 */
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CacheStore, StoreLimits } from '../store.ts';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES } from '../store.ts';
import type { StoredEntry } from '../types.ts';
import { HEAD_LAYOUT, decodeEntry, encodeHead, encodeTail } from '../entryCodec.ts';
import { CorruptEntryError, StoreClosedError } from '../errors.ts';
import { InvalidOptionError, amountOption, durationOption } from '../../wire/optionValidation.ts';

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions extends StoreLimits {
  /** Cache directory (created if missing); the database is `cache.sqlite` inside it. */
  directory: string;
  /**
   * How long a write waits for another process's transaction, ms (SQLite busy_timeout). Default
   * 500. node:sqlite waits synchronously, so this is also how long a request can wait on the
   * store; keep it at most the cache's store timeout.
   */
  busyTimeoutMs?: number;
  /** Recency is recorded on read at most this often per entry, ms (keeps hits read-only). Default 10 000. */
  touchIntervalMs?: number;
  /** Called when a corrupt entry is found and removed (for monitoring). */
  onCorrupt?: (key: string, error: CorruptEntryError) => void;
  /**
   * How long a 304's freshened head may wait in this process before it is written, ms (write-behind;
   * see the module notes: a lost freshen costs one extra revalidation). Default 100; 0 writes each
   * freshen at once.
   */
  freshenDelayMs?: number;
}

/** Freshened heads waiting to be written; one more is written with them at once. */
const MAX_PENDING_FRESHENS = 64;
/** Bytes of decoded entries a store remembers (bodies and head bytes, roughly). */
const MEMO_MAX_BYTES = 8 * 1024 * 1024;
/** Decoded entries a store remembers at most (a `delete` looks through them). */
const MEMO_MAX_ENTRIES = 1024;
/** An entry with a larger body is not remembered decoded (it would push out many small ones). */
const MEMO_MAX_ENTRY_BYTES = 256 * 1024;

/** One decoded entry remembered, by `key \n variant`. */
interface Memo {
  entry: StoredEntry;
  /** The head bytes its row holds; null while the entry is a freshen not yet written. */
  head: Uint8Array | null;
  /** The tail bytes (body and checksum) its row holds. */
  tail: Uint8Array;
  size: number;
}

/**
 * Schema version 3: each entry is a small head row (`hf_heads`: metadata, header fields, timing,
 * the entry's head bytes) and a body row (`hf_bodies`: body and its checksum) keyed by the head
 * row's number. A 304 updates only the head row, so SQLite rewrites a few hundred bytes instead
 * of every page of the body. Earlier releases (user_version 0) kept both in one `hf_entries` blob;
 * opening such a database drops that table (it is a cache: the entries are fetched again) and
 * recounts the byte total.
 */
const SCHEMA_VERSION = 3;
const SCHEMA = `
DROP TABLE IF EXISTS hf_entries;
CREATE TABLE IF NOT EXISTS hf_heads (
  n INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  variant TEXT NOT NULL,
  id TEXT NOT NULL,
  head BLOB NOT NULL,
  size INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  atime INTEGER NOT NULL,
  UNIQUE (key, variant)
);
CREATE TABLE IF NOT EXISTS hf_bodies (n INTEGER PRIMARY KEY, tail BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS hf_heads_atime ON hf_heads(atime);
CREATE INDEX IF NOT EXISTS hf_heads_expires ON hf_heads(expires);
CREATE TABLE IF NOT EXISTS hf_leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hf_stats (one INTEGER PRIMARY KEY CHECK (one = 1), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO hf_stats (one, bytes) VALUES (1, 0);
UPDATE hf_stats SET bytes = (SELECT COALESCE(SUM(size), 0) FROM hf_heads);
-- The byte total is kept by triggers inside each writing transaction, so it stays exact
-- whichever process writes and wherever one is killed. Removing a head removes its body in the
-- same statement, whichever path removes it (eviction, expiry, corruption, replacement).
CREATE TRIGGER IF NOT EXISTS hf_heads_ins AFTER INSERT ON hf_heads BEGIN UPDATE hf_stats SET bytes = bytes + NEW.size; END;
CREATE TRIGGER IF NOT EXISTS hf_heads_del AFTER DELETE ON hf_heads BEGIN UPDATE hf_stats SET bytes = bytes - OLD.size; DELETE FROM hf_bodies WHERE n = OLD.n; END;
CREATE TRIGGER IF NOT EXISTS hf_heads_upd AFTER UPDATE OF size ON hf_heads WHEN NEW.size <> OLD.size BEGIN UPDATE hf_stats SET bytes = bytes - OLD.size + NEW.size; END;
PRAGMA user_version = ${SCHEMA_VERSION};
`;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** One stored variant's name in the store's in-process maps (write-behind heads, decoded entries). */
function slotOf(key: string, variant: string): string {
  return `${key}\n${variant}`;
}

/** Synchronous sleep used only while another process initialises the database. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

type Queries = Record<
  'select' | 'upsert' | 'putBody' | 'freshenHead' | 'idOf' | 'deleteKey' | 'deleteOne' | 'deleteVariant' | 'touch' | 'bytes' | 'deleteExpired' | 'evictOldest' | 'lease' | 'unlease',
  StatementSync
>;

/** How often, at most, the store checks that its database file is still in place, ms. */
const PRESENCE_CHECK_MS = 1000;

interface Row {
  variant: string;
  id: string;
  head: Uint8Array;
  tail: Uint8Array | null;
  expires: number;
  atime: number;
}

/** A store in a SQLite database that many processes may share. */
export class SqliteStore implements CacheStore {
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  readonly path: string;
  readonly directory: string;
  readonly #busyTimeoutMs: number;
  #db: DatabaseSync;
  #q: Queries;
  #checkedAt = 0;
  readonly #touchIntervalMs: number;
  readonly #onCorrupt: ((key: string, error: CorruptEntryError) => void) | undefined;
  readonly #freshenDelayMs: number;
  /** Decoded entries, by `key \n variant`; Map order is recency (oldest first). */
  readonly #memo = new Map<string, Memo>();
  #memoBytes = 0;
  /** Slots (`key \n variant`) whose memo is a freshen not yet written. */
  readonly #pending = new Set<string>();
  #flushTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    if (typeof options?.directory !== 'string' || options.directory === '') throw new InvalidOptionError('directory', 'SqliteStore needs a directory');
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxEntryBytes = Math.min(options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES, this.maxBytes);
    amountOption('maxBytes', this.maxBytes);
    amountOption('maxEntryBytes', this.maxEntryBytes);
    this.#touchIntervalMs = options.touchIntervalMs ?? 10_000;
    this.#onCorrupt = options.onCorrupt;
    this.directory = options.directory;
    this.path = join(options.directory, 'cache.sqlite');
    this.#busyTimeoutMs = durationOption('busyTimeoutMs', options.busyTimeoutMs ?? 500, true);
    this.#freshenDelayMs = durationOption('freshenDelayMs', options.freshenDelayMs ?? 100, true);
    [this.#db, this.#q] = this.#open();
    this.#checkedAt = Date.now();
  }

  /**
   * Open (creating if missing) the directory and the database. A failure (a full disk, a
   * directory that cannot be created, a file that is not a database) throws, with SQLite's own
   * message.
   */
  #open(): [DatabaseSync, Queries] {
    mkdirSync(this.directory, { recursive: true });
    const db = new DatabaseSync(this.path, { timeout: this.#busyTimeoutMs });
    // Several processes may open a fresh directory at the same instant; switching to WAL and
    // creating the schema can then report SQLITE_BUSY without waiting on the busy handler.
    // Retry a bounded number of times.
    for (let attempt = 0; ; attempt++) {
      try {
        db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
        db.exec('BEGIN IMMEDIATE');
        // Checked inside the write lock: only one process migrates, the others see it done.
        const { user_version: version } = db.prepare('PRAGMA user_version').get() as { user_version: number };
        if (version !== SCHEMA_VERSION) db.exec(SCHEMA);
        db.exec('COMMIT');
        break;
      } catch (err) {
        try {
          if (db.isTransaction) db.exec('ROLLBACK');
        } catch {
          // nothing to roll back
        }
        if (attempt >= 50 || !/busy|locked/i.test(String((err as Error).message))) {
          db.close();
          throw err;
        }
        sleepSync(10 + attempt * 5);
      }
    }
    const q: Queries = {
      select: db.prepare('SELECT h.variant, h.id, h.head, b.tail, h.expires, h.atime FROM hf_heads h LEFT JOIN hf_bodies b ON b.n = h.n WHERE h.key = ?'),
      upsert: db.prepare(
        'INSERT INTO hf_heads (key, variant, id, head, size, expires, atime) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (key, variant) DO UPDATE SET id = excluded.id, head = excluded.head, size = excluded.size, expires = excluded.expires, atime = excluded.atime RETURNING n',
      ),
      putBody: db.prepare('INSERT OR REPLACE INTO hf_bodies (n, tail) VALUES (?, ?)'),
      freshenHead: db.prepare('UPDATE hf_heads SET head = ?, size = size - length(head) + length(?), expires = ? WHERE key = ? AND variant = ? AND id = ?'),
      idOf: db.prepare('SELECT id FROM hf_heads WHERE key = ? AND variant = ?'),
      deleteKey: db.prepare('DELETE FROM hf_heads WHERE key = ?'),
      deleteOne: db.prepare('DELETE FROM hf_heads WHERE key = ? AND variant = ? AND id = ?'),
      deleteVariant: db.prepare('DELETE FROM hf_heads WHERE key = ? AND variant = ?'),
      touch: db.prepare('UPDATE hf_heads SET atime = ? WHERE key = ? AND variant = ? AND id = ?'),
      bytes: db.prepare('SELECT bytes FROM hf_stats WHERE one = 1'),
      deleteExpired: db.prepare('DELETE FROM hf_heads WHERE n IN (SELECT n FROM hf_heads WHERE expires <= ? LIMIT 256)'),
      evictOldest: db.prepare('DELETE FROM hf_heads WHERE n IN (SELECT n FROM hf_heads ORDER BY atime, n LIMIT 1)'),
      lease: db.prepare(
        'INSERT INTO hf_leases (name, owner, until) VALUES (?, ?, ?) ' +
          'ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE hf_leases.until <= ? OR hf_leases.owner = excluded.owner',
      ),
      unlease: db.prepare('DELETE FROM hf_leases WHERE name = ? AND owner = ?'),
    };
    return [db, q];
  }

  /** Total bytes of stored entries, as kept by the database. */
  get bytes(): number {
    this.#check();
    return Number((this.#q.bytes.get() as { bytes: number }).bytes);
  }

  async get(key: string): Promise<StoredEntry[]> {
    this.#check();
    const rows = this.#q.select.all(key) as unknown as Row[];
    const now = Date.now();
    const out: StoredEntry[] = [];
    for (const row of rows) {
      const slot = slotOf(key, row.variant);
      const known = this.#remembered(slot, row);
      if ((known?.expires ?? row.expires) <= now) {
        this.#forget(slot);
        this.#q.deleteOne.run(key, row.variant, row.id);
        continue;
      }
      let entry: StoredEntry;
      if (known !== undefined) entry = known;
      else {
        try {
          if (row.tail === null) throw new CorruptEntryError('entry has no body');
          entry = decodeEntry(Buffer.concat([row.head, row.tail]));
          if (entry.key !== key || entry.variant !== row.variant || entry.id !== row.id) throw new CorruptEntryError('entry does not belong to its row');
        } catch (err) {
          // A damaged entry is a miss, and is removed so that it is not met again.
          this.#forget(slot);
          this.#q.deleteOne.run(key, row.variant, row.id);
          if (err instanceof CorruptEntryError) this.#onCorrupt?.(key, err);
          continue;
        }
        this.#remember(slot, entry, row.head, row.tail);
      }
      if (now - row.atime > this.#touchIntervalMs) this.#q.touch.run(now, key, row.variant, row.id);
      out.push(entry);
    }
    return out;
  }

  async put(entry: StoredEntry): Promise<void> {
    this.#check();
    const head = encodeHead(entry);
    const tail = encodeTail(entry);
    const size = head.length + tail.length;
    const slot = slotOf(entry.key, entry.variant);
    this.#forget(slot);
    if (size > this.maxEntryBytes) {
      // Too large to keep: do not leave an older copy of the same variant behind either.
      this.#q.deleteVariant.run(entry.key, entry.variant);
      return;
    }
    const now = Date.now();
    // Head and body in one transaction: the entry is written whole or not at all.
    this.#transaction(() => {
      const { n } = this.#q.upsert.get(entry.key, entry.variant, entry.id, head, size, entry.expires, now) as { n: number };
      this.#q.putBody.run(n, tail);
    });
    this.#remember(slot, entry, head, tail);
    this.#evictIfOver(now);
  }

  async freshen(entry: StoredEntry): Promise<boolean> {
    this.#check();
    if (this.#freshenDelayMs === 0) return this.#writeHead(entry);
    // Compare-and-set, checked now (one indexed read): a freshen of a response that was replaced
    // or removed meanwhile changes nothing and says so. The write itself checks again.
    const row = this.#q.idOf.get(entry.key, entry.variant) as { id: string } | undefined;
    if (row?.id !== entry.id) return false;
    const slot = slotOf(entry.key, entry.variant);
    const stored = this.#memo.get(slot);
    // Reads of the freshened entry are answered with the stored body, never the one passed in
    // (a 304 does not change it): known only when this store remembers that entry. It almost
    // always does (it was read just before being revalidated); when not, write at once.
    if (stored === undefined || stored.entry.id !== entry.id) return this.#writeHead(entry);
    this.#remember(slot, { ...entry, body: stored.entry.body }, null, stored.tail);
    this.#pending.add(slot);
    if (this.#pending.size >= MAX_PENDING_FRESHENS) this.#flush();
    else if (this.#flushTimer === null) {
      // Unreferenced: a process that exits without close() loses at most this batch (see above).
      this.#flushTimer = setTimeout(() => this.#flush(), this.#freshenDelayMs);
      this.#flushTimer.unref();
    }
    return true;
  }

  /** Write one freshened head now, by compare-and-set on the entry id. */
  #writeHead(entry: StoredEntry, inTransaction = false): boolean {
    const head = encodeHead(entry);
    if (head.length + entry.body.byteLength + HEAD_LAYOUT.digestLength > this.maxEntryBytes) return false;
    // Compare-and-set on id, in one statement: a concurrent replacement wins. The body row is not
    // touched: its checksum covers the entry id, which the head keeps. Recency is left as it is:
    // the entry was just read to be revalidated, and that read records it (at most
    // touchIntervalMs old). Not writing `atime` spares its index a page per 304.
    const r = this.#q.freshenHead.run(head, head, entry.expires, entry.key, entry.variant, entry.id);
    // The entry changes size only by its head's few bytes: the next put evicts for it, and a
    // revalidated hit does not pay the byte-total query.
    const written = Number(r.changes) === 1;
    const slot = slotOf(entry.key, entry.variant);
    const memo = this.#memo.get(slot);
    // Remembered with its new head when the stored body is known (the tail is unchanged).
    if (written && memo !== undefined && memo.entry.id === entry.id) this.#remember(slot, { ...entry, body: memo.entry.body }, head, memo.tail);
    else if (!written || inTransaction) this.#forget(slot);
    return written;
  }

  /**
   * Write the waiting freshened heads, in one transaction (plus `also`, e.g. a lease release, in
   * the same one). A failure (a full disk, a lock held past the busy timeout) drops the batch:
   * those entries stay as they were stored, to be revalidated once more.
   */
  #flush(also?: () => void): void {
    if (this.#flushTimer !== null) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = null;
    }
    if (this.#pending.size === 0) {
      also?.();
      return;
    }
    const batch: StoredEntry[] = [];
    for (const slot of this.#pending) batch.push(this.#memo.get(slot)!.entry);
    this.#pending.clear();
    try {
      this.#transaction(() => {
        for (const entry of batch) this.#writeHead(entry, true);
        also?.();
      });
    } catch (err) {
      if (also !== undefined) throw err;
    }
  }

  async delete(key: string): Promise<void> {
    this.#check();
    for (const [slot, memo] of this.#memo) if (memo.entry.key === key) this.#forget(slot);
    this.#transaction(() => this.#q.deleteKey.run(key));
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#check();
    const now = Date.now();
    const r = this.#q.lease.run(name, owner, now + ttlMs, now);
    return Number(r.changes) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    if (this.#closed) return;
    // The waiting freshens go in the same transaction: a process that waited on this lease (for
    // this very revalidation, often) then reads the freshened entry, and the 304 costs no
    // transaction of its own.
    this.#flush(() => this.#q.unlease.run(name, owner));
  }

  /** Write the freshened heads waiting in this process now (they are written within `freshenDelayMs` anyway). */
  async flush(): Promise<void> {
    this.#check();
    this.#flush();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#flush();
    } finally {
      this.#closed = true;
      this.#memo.clear();
      this.#memoBytes = 0;
      this.#db.close();
    }
  }

  /**
   * The remembered decoded entry for `row`, if the row still holds it byte for byte: the same id,
   * head and tail (a freshen of that id not yet written stands for the head, being newer). A
   * comparison of bytes, not a checksum: a row changed in any way (another process's write, a
   * damaged page) is decoded and verified again.
   */
  #remembered(slot: string, row: Row): StoredEntry | undefined {
    const memo = this.#memo.get(slot);
    if (memo === undefined) return undefined;
    if (memo.entry.id !== row.id || row.tail === null || (memo.head !== null && !sameBytes(memo.head, row.head)) || !sameBytes(memo.tail, row.tail)) {
      this.#forget(slot);
      return undefined;
    }
    // Most recently used last.
    this.#memo.delete(slot);
    this.#memo.set(slot, memo);
    return memo.entry;
  }

  #remember(slot: string, entry: StoredEntry, head: Uint8Array | null, tail: Uint8Array): void {
    this.#forget(slot);
    // A freshen not yet written is always kept (it is the newest head); others only if small.
    if (head !== null && entry.body.byteLength > MEMO_MAX_ENTRY_BYTES) return;
    const size = entry.body.byteLength + tail.byteLength + (head?.byteLength ?? 512);
    this.#memo.set(slot, { entry, head, tail, size });
    this.#memoBytes += size;
    for (const [oldest, memo] of this.#memo) {
      if (this.#memoBytes <= MEMO_MAX_BYTES && this.#memo.size <= MEMO_MAX_ENTRIES) break;
      if (memo.head === null) continue; // waiting to be written
      this.#forget(oldest);
    }
  }

  /** Drop what is remembered for `slot`, a freshen waiting to be written included. */
  #forget(slot: string): void {
    const memo = this.#memo.get(slot);
    if (memo === undefined) return;
    this.#memo.delete(slot);
    this.#pending.delete(slot);
    this.#memoBytes -= memo.size;
  }

  /**
   * Evict expired entries, then least recently used ones, until within `maxBytes` (bounded), in
   * its own transaction so that concurrent writers agree on what is left.
   */
  #evictIfOver(now: number): void {
    if (this.bytes <= this.maxBytes) return;
    this.#transaction(() => {
      this.#q.deleteExpired.run(now);
      for (let i = 0; i < 100_000 && this.bytes > this.maxBytes; i++) {
        if (Number(this.#q.evictOldest.run().changes) === 0) break;
      }
    });
  }

  #transaction<T>(fn: () => T): T {
    // BEGIN IMMEDIATE takes the write lock up front (waiting on busy_timeout), so the
    // transaction never has to upgrade a read lock, which SQLite would fail with SQLITE_BUSY.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #check(): void {
    if (this.#closed) throw new StoreClosedError();
    const now = Date.now();
    if (now - this.#checkedAt < PRESENCE_CHECK_MS) return;
    this.#checkedAt = now;
    if (existsSync(this.path)) return;
    // The directory (or the file) was removed under us. SQLite would go on writing to the
    // unlinked file, invisible to every other process and never freed: start a new database
    // where it belongs instead. If that fails (the directory cannot be made), the error says why
    // and the next check tries again.
    const old = this.#db;
    // Nothing remembered belongs to the new database (the waiting freshens were for rows that
    // went with the old file).
    this.#pending.clear();
    this.#memo.clear();
    this.#memoBytes = 0;
    [this.#db, this.#q] = this.#open();
    try {
      old.close();
    } catch {
      // already unusable
    }
  }
}
