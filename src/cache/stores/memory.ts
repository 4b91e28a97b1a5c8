/**
 * In-process store: variants side by side, least-recently-used eviction by bytes.
 * @module
 */
import type { CacheStore, StoreLimits } from '../store.ts';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES } from '../store.ts';
import type { StoredEntry } from '../types.ts';
import { entrySize } from '../entryCodec.ts';
import { StoreClosedError } from '../errors.ts';
import { amountOption } from '../../wire/optionValidation.ts';

/** Options of {@link MemoryStore}. */
export type MemoryStoreOptions = StoreLimits;

interface Slot {
  entry: StoredEntry;
  size: number;
}

/**
 * A store in this process's memory. Entries are kept as given (treat them as immutable);
 * the least recently used are evicted once more than `maxBytes` are held.
 */
export class MemoryStore implements CacheStore {
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  /** Slots keyed by key + "\n" + variant; Map order is recency order (oldest first). */
  readonly #slots = new Map<string, Slot>();
  readonly #byKey = new Map<string, Set<string>>();
  readonly #leases = new Map<string, { owner: string; until: number }>();
  #bytes = 0;
  #closed = false;
  /** The id of the last slot in `#slots` (the most recently used), or null when unknown. */
  #newest: string | null = null;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxEntryBytes = Math.min(options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES, this.maxBytes);
    amountOption('maxBytes', this.maxBytes);
    amountOption('maxEntryBytes', this.maxEntryBytes);
  }

  /** Bytes currently held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of stored entries (all variants). */
  get size(): number {
    return this.#slots.size;
  }

  async get(key: string): Promise<StoredEntry[]> {
    return this.getSync(key);
  }

  getSync(key: string): StoredEntry[] {
    this.#check();
    const ids = this.#byKey.get(key);
    if (ids === undefined) return [];
    const now = Date.now();
    const out: StoredEntry[] = [];
    // No copy of the set: deleting the id being visited while iterating a Set is well defined.
    for (const id of ids) {
      const slot = this.#slots.get(id)!;
      if (slot.entry.expires <= now) {
        this.#remove(id);
        continue;
      }
      // Touch: move to the most-recent end, unless it is there already (a key read over and over,
      // the common case under load, then costs no Map delete and insert per hit).
      if (id !== this.#newest) {
        this.#slots.delete(id);
        this.#slots.set(id, slot);
        this.#newest = id;
      }
      out.push(slot.entry);
    }
    return out;
  }

  async put(entry: StoredEntry): Promise<void> {
    this.#check();
    const size = entrySize(entry);
    const id = `${entry.key}\n${entry.variant}`;
    this.#remove(id);
    if (size > this.maxEntryBytes) return;
    this.#slots.set(id, { entry, size });
    this.#newest = id;
    let ids = this.#byKey.get(entry.key);
    if (ids === undefined) this.#byKey.set(entry.key, (ids = new Set()));
    ids.add(id);
    this.#bytes += size;
    // Evict least recently used until within budget (bounded: each turn removes one slot).
    for (const oldest of this.#slots.keys()) {
      if (this.#bytes <= this.maxBytes) break;
      this.#remove(oldest);
    }
  }

  async freshen(entry: StoredEntry): Promise<boolean> {
    this.#check();
    const slot = this.#slots.get(`${entry.key}\n${entry.variant}`);
    if (slot === undefined || slot.entry.id !== entry.id) return false;
    this.#bytes -= slot.size;
    slot.entry = entry;
    slot.size = entrySize(entry);
    this.#bytes += slot.size;
    return true;
  }

  async delete(key: string): Promise<void> {
    this.#check();
    for (const id of [...(this.#byKey.get(key) ?? [])]) this.#remove(id);
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#check();
    const now = Date.now();
    const held = this.#leases.get(name);
    if (held !== undefined && held.until > now && held.owner !== owner) return false;
    this.#leases.set(name, { owner, until: now + ttlMs });
    return true;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    if (this.#leases.get(name)?.owner === owner) this.#leases.delete(name);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#slots.clear();
    this.#newest = null;
    this.#byKey.clear();
    this.#leases.clear();
    this.#bytes = 0;
  }

  #remove(id: string): void {
    const slot = this.#slots.get(id);
    if (slot === undefined) return;
    this.#slots.delete(id);
    if (id === this.#newest) this.#newest = null;
    this.#bytes -= slot.size;
    const ids = this.#byKey.get(slot.entry.key);
    ids?.delete(id);
    if (ids !== undefined && ids.size === 0) this.#byKey.delete(slot.entry.key);
  }

  #check(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}
