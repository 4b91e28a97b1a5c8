/**
 * The store interface every cache backend implements (memory, SQLite, Redis, or your own).
 *
 * Contract, relied on by the cache layer for race-freedom:
 * - variants of one key live side by side; `put` replaces only the entry with the same
 *   `(key, variant)` and does so atomically (a reader sees the old entry or the new, whole);
 * - `freshen` is compare-and-set on the entry `id`, so a 304 never rewrites a response that
 *   another writer replaced in the meantime;
 * - `get` never returns a torn or corrupt entry: such an entry is removed and omitted;
 * - leases are mutual exclusion with expiry, so a crashed holder blocks others only until then.
 * @module
 */
import type { StoredEntry } from './types.ts';

/** A cache storage backend. All methods may be called concurrently. */
export interface CacheStore {
  /** Every stored variant for a primary key (expired and corrupt entries are omitted). */
  get(key: string): Promise<StoredEntry[]>;
  /**
   * Optional: `get` answered synchronously, for a store that holds its entries in this process's
   * memory. The cache then serves a fresh hit without waiting for a promise (the memory store's
   * hits cost about as much as the promise hops around them); it still calls `get` for
   * everything else. Same contract as `get`; it must not block on I/O.
   */
  getSync?(key: string): StoredEntry[];
  /** Store an entry, atomically replacing the one with the same `key` and `variant`. */
  put(entry: StoredEntry): Promise<void>;
  /**
   * Replace the stored entry with the same `key`, `variant` and `id` by this freshened copy (a 304
   * updated its headers and timing, RFC 9111 §4.3.4). Resolves `false`, changing nothing, when
   * that entry was replaced or removed meanwhile: a concurrent newer response wins. The body of
   * `entry` is the stored one (a 304 never changes it), so a store may update everything but the
   * body in place, as the SQLite and Redis stores do.
   */
  freshen(entry: StoredEntry): Promise<boolean>;
  /** Remove every variant of a primary key (invalidation, RFC 9111 §4.4). */
  delete(key: string): Promise<void>;
  /**
   * Try to take the lease `name` for `owner` for `ttlMs` milliseconds. Resolves `true` when
   * taken (free, expired, or already held by `owner`, which renews it).
   */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Give a lease back, only if `owner` still holds it. */
  releaseLease(name: string, owner: string): Promise<void>;
  /** Release resources. The store must not be used afterwards. */
  close(): Promise<void>;
}

/** Limits shared by the built-in stores. */
export interface StoreLimits {
  /** Total bytes kept before least-recently-used entries are evicted. */
  maxBytes?: number;
  /** Entries larger than this are not stored. */
  maxEntryBytes?: number;
}

export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_ENTRY_BYTES = 16 * 1024 * 1024;
