/**
 * Request collapsing (DESIGN.md: "request collapsing within a process and across processes").
 * Within a process, concurrent misses for one key wait for a single flight; across processes,
 * the flight's leader holds a lease in the store, and leaders elsewhere wait for it. Waiters never
 * take the leader's response object: they look the store up again, so each still gets the
 * variant selected for its own request (§4.1) and goes upstream itself when none matches.
 * @module
 */
import type { CacheStore } from './store.ts';

/**
 * In-process flights: one promise per key, settled when the leader is done, with whether the
 * leader stored a response (if it did not, e.g. the response was uncacheable, waiters go upstream
 * at once instead of queueing behind each other).
 */
export class Flights {
  readonly #flights = new Map<string, Promise<boolean>>();

  /** The flight in progress for `key`, if any. */
  current(key: string): Promise<boolean> | undefined {
    return this.#flights.get(key);
  }

  /** Start a flight for `key`; call the returned function exactly once when done. */
  start(key: string): (stored: boolean) => void {
    let finish!: (stored: boolean) => void;
    const p = new Promise<boolean>((resolve) => {
      finish = resolve;
    });
    this.#flights.set(key, p);
    return (stored: boolean) => {
      if (this.#flights.get(key) === p) this.#flights.delete(key);
      finish(stored);
    };
  }
}

/** Sleep helper (used only while waiting for another process's lease). */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Wait until `name` can be leased by `owner` (the holder released it, or it expired), for at
 * most `maxWaitMs`. Polls with a growing interval; bounded in time and in iterations.
 * Resolves whether the lease was acquired.
 */
export async function awaitLease(store: CacheStore, name: string, owner: string, ttlMs: number, maxWaitMs: number): Promise<boolean> {
  const deadline = Date.now() + maxWaitMs;
  let interval = 2;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    await delay(Math.min(interval, Math.max(1, deadline - Date.now())));
    if (await store.acquireLease(name, owner, ttlMs)) return true;
    interval = Math.min(interval * 2, 50);
  }
  return false;
}

/**
 * Keep a held lease alive while its holder works: renew it every third of its TTL. A live holder
 * whose origin answers more slowly than the TTL would otherwise lose the lease mid-flight, and a
 * waiter elsewhere would send a second request for the same key. A crashed holder stops renewing,
 * so others still wait at most one TTL. Renewal stops for good once it fails (the lease was lost
 * while this process stalled: someone else holds it now). Call the returned function when done.
 */
export function keepLease(store: CacheStore, name: string, owner: string, ttlMs: number, onError: (err: unknown) => void): () => void {
  let stopped = false;
  const timer = setInterval(() => {
    store.acquireLease(name, owner, ttlMs).then(
      (held) => { if (!held) stop(); },
      (err: unknown) => { stop(); onError(err); },
    );
  }, Math.max(10, Math.floor(ttlMs / 3)));
  timer.unref();
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
