/**
 * SQLite store via the built-in `node:sqlite`: the embedded default. A cache directory that many
 * processes open at once: WAL journal (readers never block the writer), a busy timeout (writers
 * queue instead of failing), and each entry written in one transaction, so `kill -9` at any
 * instant leaves every entry whole or absent. Each entry is also a checksummed blob
 * (entryCodec.ts), so a damaged one is removed and read as a miss, never served.
 * @module
 */
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CacheStore, StoreLimits } from '../store.ts';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES } from '../store.ts';
import type { StoredEntry } from '../types.ts';
import { HEAD_LAYOUT, decodeEntry, encodeEntry, encodeHead } from '../entryCodec.ts';
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS hf_entries (
  key TEXT NOT NULL,
  variant TEXT NOT NULL,
  id TEXT NOT NULL,
  data BLOB NOT NULL,
  size INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  atime INTEGER NOT NULL,
  PRIMARY KEY (key, variant)
);
CREATE INDEX IF NOT EXISTS hf_entries_atime ON hf_entries(atime);
CREATE INDEX IF NOT EXISTS hf_entries_expires ON hf_entries(expires);
CREATE TABLE IF NOT EXISTS hf_leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hf_stats (one INTEGER PRIMARY KEY CHECK (one = 1), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO hf_stats (one, bytes) VALUES (1, 0);
-- The byte total is kept by triggers inside each writing transaction, so it stays exact
-- whichever process writes and wherever one is killed.
CREATE TRIGGER IF NOT EXISTS hf_entries_ins AFTER INSERT ON hf_entries BEGIN UPDATE hf_stats SET bytes = bytes + NEW.size; END;
CREATE TRIGGER IF NOT EXISTS hf_entries_del AFTER DELETE ON hf_entries BEGIN UPDATE hf_stats SET bytes = bytes - OLD.size; END;
CREATE TRIGGER IF NOT EXISTS hf_entries_upd AFTER UPDATE OF size ON hf_entries BEGIN UPDATE hf_stats SET bytes = bytes - OLD.size + NEW.size; END;
`;

/**
 * A 304 replaces the head of the stored blob (entryCodec.ts) and keeps its tail — the body and the
 * body's checksum — inside SQLite: the body is not read, hashed or written by this process. The
 * tail starts after the old head, whose length the blob states in decimal; `size` follows.
 * Only blobs of the current layout qualify (magic checked); compare-and-set on the id as always.
 * (`||` yields TEXT; the bytes are kept as they are and CAST back to a BLOB.)
 */
const OLD_HEAD_LENGTH = `(${HEAD_LAYOUT.prefixLength} + CAST(substr(data, ${HEAD_LAYOUT.lengthOffset + 1}, ${HEAD_LAYOUT.lengthDigits}) AS INTEGER) + ${HEAD_LAYOUT.digestLength})`;
const FRESHEN_HEAD =
  `UPDATE hf_entries SET data = CAST(? || substr(data, ${OLD_HEAD_LENGTH} + 1) AS BLOB), size = length(?) + length(data) - ${OLD_HEAD_LENGTH}, expires = ?, atime = ? ` +
  `WHERE key = ? AND variant = ? AND id = ? AND substr(data, 1, 4) = X'${Buffer.from(HEAD_LAYOUT.magic, 'latin1').toString('hex')}'`;

/** Synchronous sleep used only while another process initialises the database. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

type Queries = Record<
  'select' | 'upsert' | 'updateById' | 'freshenHead' | 'deleteKey' | 'deleteOne' | 'deleteVariant' | 'touch' | 'bytes' | 'deleteExpired' | 'evictOldest' | 'lease' | 'unlease',
  StatementSync
>;

/** How often, at most, the store checks that its database file is still in place, ms. */
const PRESENCE_CHECK_MS = 1000;

interface Row {
  variant: string;
  id: string;
  data: Uint8Array;
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
        db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
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
      select: db.prepare('SELECT variant, id, data, expires, atime FROM hf_entries WHERE key = ?'),
      upsert: db.prepare(
        'INSERT INTO hf_entries (key, variant, id, data, size, expires, atime) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (key, variant) DO UPDATE SET id = excluded.id, data = excluded.data, size = excluded.size, expires = excluded.expires, atime = excluded.atime',
      ),
      updateById: db.prepare('UPDATE hf_entries SET data = ?, size = ?, expires = ?, atime = ? WHERE key = ? AND variant = ? AND id = ?'),
      freshenHead: db.prepare(FRESHEN_HEAD),
      deleteKey: db.prepare('DELETE FROM hf_entries WHERE key = ?'),
      deleteOne: db.prepare('DELETE FROM hf_entries WHERE key = ? AND variant = ? AND id = ?'),
      deleteVariant: db.prepare('DELETE FROM hf_entries WHERE key = ? AND variant = ?'),
      touch: db.prepare('UPDATE hf_entries SET atime = ? WHERE key = ? AND variant = ? AND id = ?'),
      bytes: db.prepare('SELECT bytes FROM hf_stats WHERE one = 1'),
      deleteExpired: db.prepare('DELETE FROM hf_entries WHERE rowid IN (SELECT rowid FROM hf_entries WHERE expires <= ? LIMIT 256)'),
      evictOldest: db.prepare('DELETE FROM hf_entries WHERE rowid IN (SELECT rowid FROM hf_entries ORDER BY atime, rowid LIMIT 1)'),
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
        entry = decodeEntry(row.data);
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
    const blob = encodeEntry(entry);
    if (blob.length > this.maxEntryBytes) {
      // Too large to keep: do not leave an older copy of the same variant behind either.
      this.#q.deleteVariant.run(entry.key, entry.variant);
      return;
    }
    const now = Date.now();
    // One statement is one transaction: the entry is written whole or not at all.
    this.#q.upsert.run(entry.key, entry.variant, entry.id, blob, blob.length, entry.expires, now);
    this.#evictIfOver(now);
  }

  async freshen(entry: StoredEntry): Promise<boolean> {
    this.#check();
    const head = encodeHead(entry);
    if (head.length + entry.body.byteLength + HEAD_LAYOUT.digestLength > this.maxEntryBytes) return false;
    const now = Date.now();
    // Compare-and-set on id, in one statement (one transaction): a concurrent replacement wins.
    let r = this.#q.freshenHead.run(head, head, entry.expires, now, entry.key, entry.variant, entry.id);
    if (Number(r.changes) === 0) {
      // Not replaced in place: either displaced (this also changes nothing) or a blob of the
      // older layout, rewritten whole.
      const blob = encodeEntry(entry);
      r = this.#q.updateById.run(blob, blob.length, entry.expires, now, entry.key, entry.variant, entry.id);
      if (Number(r.changes) === 0) return false;
      this.#evictIfOver(now);
    }
    // In place, the entry changes size only by its head's few bytes: the next put evicts for it,
    // and a revalidated hit does not pay the byte-total query.
    return true;
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
