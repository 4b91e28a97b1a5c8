/**
 * A guard around any {@link CacheStore}: every operation bounded by a timeout, and a circuit
 * breaker that stops calling a store that keeps failing. A shared cache is an optimisation; its
 * outage must cost a request at most one store timeout, and nothing once the breaker is open.
 *
 * ```
 *            failures >= threshold                 cool-down over, next call is the probe
 *   closed ───────────────────────────▶ open ───────────────────────────────▶ half-open
 *     ▲                                   ▲                                       │
 *     │            probe failed           └───────────────────────────────────────┤
 *     └───────────────────────────────────────────────────────────────────────────┘
 *                                    probe succeeded
 * ```
 *
 * While open (and while a probe is out), calls reject at once with
 * {@link StoreUnavailableError}; the cache reads that as "not cached" and goes to the origin.
 * A store's own timeout (Redis's command timeout, SQLite's busy timeout) should be no longer
 * than the guard's: the guard cannot interrupt a synchronous call (node:sqlite), only stop
 * waiting for an asynchronous one.
 * @module
 */
import type { CacheStore } from './store.ts';
import type { StoredEntry } from './types.ts';
import { StoreTimeoutError, StoreUnavailableError, describeError } from './errors.ts';
import { amountOption, durationOption } from '../wire/optionValidation.ts';

/** The circuit breaker's state. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** One transition of the breaker, as given to `onStateChange`. */
export interface BreakerStateChange {
  from: BreakerState;
  to: BreakerState;
  /** The failure that caused an opening (`to: 'open'`), else undefined. */
  error: unknown;
  /** Failures among the recent operations when the change happened. */
  failures: number;
}

/** Options of {@link StoreGuard}. */
export interface StoreGuardOptions {
  /** Longest wait for one store operation, ms (checked every quarter of it). Default 500. */
  timeoutMs?: number;
  /**
   * Failures (errors or timeouts) among the last `2 × failureThreshold` operations that open the
   * breaker. Default 5. Counted over a window, not in a row: a store whose reads work and whose
   * writes all fail (a full disk) fails every other operation.
   */
  failureThreshold?: number;
  /** How long the breaker stays open before one call probes the store again, ms. Default 2000. */
  coolDownMs?: number;
  /** Told about every state change (for metrics and logs; see {@link breakerLog}). */
  onStateChange?: (change: BreakerStateChange) => void;
  /** Clock, ms (tests inject one). Default `Date.now`. */
  now?: () => number;
}

/** Counters of a {@link StoreGuard}: a snapshot. */
export interface StoreGuardStats {
  state: BreakerState;
  /** Operations that failed (including timeouts). */
  errors: number;
  /** Operations that did not settle within `timeoutMs`. */
  timeouts: number;
  /** Operations not tried because the breaker was open. */
  skipped: number;
  /** Times the breaker opened. */
  opened: number;
  /** The message of the last failure, or ''. */
  lastError: string;
}

/** A store call in flight. */
interface PendingCall {
  started: number;
  expire(): void;
}

export const DEFAULT_STORE_TIMEOUT_MS = 500;
export const DEFAULT_FAILURE_THRESHOLD = 5;
export const DEFAULT_COOL_DOWN_MS = 2000;

/** A {@link CacheStore} with bounded operations and a circuit breaker. */
export class StoreGuard implements CacheStore {
  /** The store guarded. */
  readonly inner: CacheStore;
  readonly timeoutMs: number;
  readonly failureThreshold: number;
  readonly coolDownMs: number;
  readonly #onStateChange: (change: BreakerStateChange) => void;
  readonly #now: () => number;
  #state: BreakerState = 'closed';
  /** Outcomes of the last `2 × failureThreshold` operations (true: failed), oldest first. */
  #recent: boolean[] = [];
  #failures = 0;
  #openedAt = 0;
  #lastFailure: unknown = undefined;
  readonly #counts = { errors: 0, timeouts: 0, skipped: 0, opened: 0 };
  readonly #pending = new Set<PendingCall>();
  #sweeper: NodeJS.Timeout | null = null;

  constructor(inner: CacheStore, options: StoreGuardOptions = {}) {
    this.inner = inner;
    this.timeoutMs = durationOption('timeoutMs', options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS);
    this.failureThreshold = amountOption('failureThreshold', options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD, false, true);
    this.coolDownMs = durationOption('coolDownMs', options.coolDownMs ?? DEFAULT_COOL_DOWN_MS, true);
    this.#onStateChange = options.onStateChange ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  /** The breaker's state now (an open breaker whose cool-down is over still reads `open` until probed). */
  get state(): BreakerState {
    return this.#state;
  }

  get stats(): StoreGuardStats {
    return { state: this.#state, ...this.#counts, lastError: this.#lastFailure === undefined ? '' : describeError(this.#lastFailure) };
  }

  get(key: string): Promise<StoredEntry[]> {
    return this.#run('get', () => this.inner.get(key));
  }

  /**
   * The guarded store's `getSync`, counted as a successful operation; `undefined` when the store
   * has none, when the breaker is not closed (then `get` decides: skip, or probe), or when the
   * call threw (not counted: the caller falls back to `get`, which meets and counts the failure
   * once). A synchronous call needs no timeout: it cannot leave the caller waiting.
   */
  tryGetSync(key: string): StoredEntry[] | undefined {
    const inner = this.inner;
    if (this.#state !== 'closed' || inner.getSync === undefined) return undefined;
    let entries: StoredEntry[];
    try {
      entries = inner.getSync(key);
    } catch {
      return undefined;
    }
    this.#succeeded(false);
    return entries;
  }

  put(entry: StoredEntry): Promise<void> {
    return this.#run('put', () => this.inner.put(entry));
  }

  freshen(entry: StoredEntry): Promise<boolean> {
    return this.#run('freshen', () => this.inner.freshen(entry));
  }

  delete(key: string): Promise<void> {
    return this.#run('delete', () => this.inner.delete(key));
  }

  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#run('lease', () => this.inner.acquireLease(name, owner, ttlMs));
  }

  releaseLease(name: string, owner: string): Promise<void> {
    return this.#run('release', () => this.inner.releaseLease(name, owner));
  }

  /** Closes the guarded store (not bounded here: each store bounds its own close). */
  close(): Promise<void> {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
    for (const call of this.#pending) call.expire();
    this.#pending.clear();
    return this.inner.close();
  }

  async #run<T>(operation: string, op: () => Promise<T>): Promise<T> {
    let probe = false;
    if (this.#state === 'open') {
      if (this.#now() - this.#openedAt < this.coolDownMs) return this.#skip(operation);
      // This call is the probe; every other call is skipped until it settles.
      probe = true;
      this.#transition('half-open', undefined);
    } else if (this.#state === 'half-open') {
      return this.#skip(operation);
    }
    let result: T;
    try {
      result = await this.#bounded(operation, op);
    } catch (err) {
      this.#failed(err, probe);
      throw err;
    }
    this.#succeeded(probe);
    return result;
  }

  #skip(operation: string): Promise<never> {
    this.#counts.skipped++;
    return Promise.reject(new StoreUnavailableError(operation, this.#lastFailure));
  }

  /**
   * `op()`, or a {@link StoreTimeoutError} once `timeoutMs` has passed (checked every quarter of
   * it); a late outcome of `op` is dropped. One sweeping timer for all calls in flight, not one
   * timer per call: a hit in a memory store takes a few microseconds, and a timer per call
   * would double that.
   */
  #bounded<T>(operation: string, op: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const call: PendingCall = {
        started: performance.now(),
        expire: () => {
          if (settled) return;
          settled = true;
          this.#counts.timeouts++;
          reject(new StoreTimeoutError(operation, this.timeoutMs));
        },
      };
      let pending: Promise<T>;
      try {
        pending = op();
      } catch (err) {
        pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      this.#pending.add(call);
      this.#sweep();
      pending.then(
        (value) => {
          this.#pending.delete(call);
          if (settled) return;
          settled = true;
          resolve(value);
        },
        (err: unknown) => {
          this.#pending.delete(call);
          if (settled) return;
          settled = true;
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** Arm the sweeping timer; it stops itself at the first tick that finds no call in flight. */
  #sweep(): void {
    if (this.#sweeper !== null) return;
    this.#sweeper = setInterval(
      () => {
        if (this.#pending.size === 0) {
          clearInterval(this.#sweeper!);
          this.#sweeper = null;
          return;
        }
        const now = performance.now();
        for (const call of this.#pending) {
          if (now - call.started < this.timeoutMs) continue;
          this.#pending.delete(call);
          call.expire();
        }
      },
      Math.max(1, Math.floor(this.timeoutMs / 4)),
    );
  }

  #failed(err: unknown, probe: boolean): void {
    this.#counts.errors++;
    this.#record(true);
    this.#lastFailure = err;
    if (probe || (this.#state === 'closed' && this.#failures >= this.failureThreshold)) {
      this.#openedAt = this.#now();
      this.#counts.opened++;
      this.#transition('open', err);
    }
  }

  #succeeded(probe: boolean): void {
    // A success that started before the breaker opened says nothing about the store now.
    if (this.#state === 'open') return;
    if (probe) {
      this.#recent = [];
      this.#failures = 0;
      this.#transition('closed', undefined);
    } else this.#record(false);
  }

  #record(failed: boolean): void {
    this.#recent.push(failed);
    if (failed) this.#failures++;
    if (this.#recent.length > 2 * this.failureThreshold && this.#recent.shift() === true) this.#failures--;
  }

  /** The only writer of `#state`. */
  #transition(to: BreakerState, error: unknown): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    try {
      this.#onStateChange({ from, to, error, failures: this.#failures });
    } catch {
      // A throwing observer must not turn a store failure into a request failure.
    }
  }
}

/**
 * An `onStateChange` that writes one line per state change worth an operator's attention:
 * an opening, with the failure's message, and the closing after it. While the store stays down
 * (each probe fails and the breaker re-opens) or flaps (a full disk: reads work, writes fail),
 * an opening with the same message as the last one logged is left out for `intervalMs`
 * (default 60 000), and so is the closing after it; the next line logged says how many were.
 */
export function breakerLog(write: (line: string) => void, options: { intervalMs?: number; now?: () => number } = {}): (change: BreakerStateChange) => void {
  const intervalMs = options.intervalMs ?? 60_000;
  const now = options.now ?? Date.now;
  let lastMessage = '';
  let lastAt = -Infinity;
  let quiet = 0;
  /** Whether the current outage's opening was logged (so its end is too). */
  let logged = false;
  const left = (): string => (quiet > 0 ? ` (${quiet} more state changes not logged)` : '');
  return (change) => {
    if (change.to === 'half-open') return;
    if (change.to === 'closed') {
      if (!logged) return;
      write(`cache store recovered: circuit breaker closed${left()}`);
      quiet = 0;
      logged = false;
      return;
    }
    const message = describeError(change.error);
    if (message === lastMessage && now() - lastAt < intervalMs) {
      quiet++;
      return;
    }
    const reopened = change.from === 'half-open' && logged;
    const line = reopened
      ? `cache store still failing, cache bypassed: ${message}${left()}`
      : `cache store failing, cache bypassed (circuit breaker open after ${change.failures} failures): ${message}${left()}`;
    lastMessage = message;
    lastAt = now();
    quiet = 0;
    logged = true;
    write(line);
  };
}
