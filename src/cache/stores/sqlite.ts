/**
 * SQLite store via the built-in `node:sqlite`: the embedded default. A cache directory that many
 * processes open at once: WAL journal (readers never block the writer), a busy timeout (writers
 * queue instead of failing), and each entry written in one transaction, so `kill -9` at any
 * instant leaves every entry whole or absent. Each entry is also checksummed (entryCodec.ts: the
 * head and the body each under their own checksum, kept in separate rows), so a damaged one is
 * removed and read as a miss, never served.
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

/** Synchronous sleep used only while another process initialises the database. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

type Queries = Record<
  'select' | 'upsert' | 'putBody' | 'freshenHead' | 'deleteKey' | 'deleteOne' | 'deleteVariant' | 'touch' | 'bytes' | 'deleteExpired' | 'evictOldest' | 'lease' | 'unlease',
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
      if (row.expires <= now) {
        this.#q.deleteOne.run(key, row.variant, row.id);
        continue;
      }
      let entry: StoredEntry;
      try {
        if (row.tail === null) throw new CorruptEntryError('entry has no body');
        entry = decodeEntry(Buffer.concat([row.head, row.tail]));
        if (entry.key !== key || entry.variant !== row.variant || entry.id !== row.id) throw new CorruptEntryError('entry does not belong to its row');
      } catch (err) {
        // A damaged entry is a miss, and is removed so that it is not met again.
        this.#q.deleteOne.run(key, row.variant, row.id);
        if (err instanceof CorruptEntryError) this.#onCorrupt?.(key, err);
        continue;
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
    this.#evictIfOver(now);
  }

  async freshen(entry: StoredEntry): Promise<boolean> {
    this.#check();
    const head = encodeHead(entry);
    if (head.length + entry.body.byteLength + HEAD_LAYOUT.digestLength > this.maxEntryBytes) return false;
    // Compare-and-set on id, in one statement (one transaction): a concurrent replacement wins.
    // The body row is not touched: its checksum covers the entry id, which the head keeps.
    // Recency is left as it is: the entry was just read to be revalidated, and that read records
    // it (at most touchIntervalMs old). Not writing `atime` spares its index a page per 304.
    const r = this.#q.freshenHead.run(head, head, entry.expires, entry.key, entry.variant, entry.id);
    // The entry changes size only by its head's few bytes: the next put evicts for it, and a
    // revalidated hit does not pay the byte-total query.
    return Number(r.changes) === 1;
  }

  async delete(key: string): Promise<void> {
    this.#check();
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
    this.#q.unlease.run(name, owner);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
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
    [this.#db, this.#q] = this.#open();
    try {
      old.close();
    } catch {
      // already unusable
    }
  }
}
