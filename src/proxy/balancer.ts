/**
 * Choosing an upstream for each request: round-robin over healthy upstreams that have a free
 * concurrency slot, one FIFO wait queue shared by all upstreams (so a request waits for whichever
 * backend frees up first, and a slow backend does not collect a private queue), passive health
 * (down upstreams are skipped; when every candidate is down they are tried anyway rather than
 * failing without trying — a restarting backend must get traffic to be seen healthy again).
 */
import { ProxyError } from './errors.ts';
import { InvalidOptionError } from '../wire/optionValidation.ts';
import type { Upstream } from './upstream.ts';

/** One request's hold on an upstream slot. `release()` is idempotent. */
export interface Lease {
  readonly upstream: Upstream;
  release(): void;
}

interface Waiter {
  exclude: ReadonlySet<Upstream>;
  resolve(lease: Lease): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | null;
  cleanup(): void;
}

/** Options of a `Balancer`. */
export interface BalancerOptions {
  /** Requests allowed to wait for a slot (beyond it: 503). */
  queueLimit: number;
  /** Longest wait for a slot, ms (0 = no limit). */
  queueTimeout: number;
}

/** Round-robin with concurrency slots, a shared queue and passive health. */
export class Balancer {
  readonly upstreams: readonly Upstream[];
  private readonly options: BalancerOptions;
  private next = 0;
  private queue: Waiter[] = [];
  private closed = false;

  constructor(upstreams: readonly Upstream[], options: BalancerOptions) {
    if (upstreams.length === 0) throw new InvalidOptionError('upstreams', 'at least one upstream is required');
    this.upstreams = upstreams;
    this.options = options;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * The upstream a request may use now, or `null` when it must wait. Round-robin over healthy
   * upstreams; if none is healthy (and not excluded), the down ones are candidates too.
   * Throws when every upstream is excluded (each was already tried for this request).
   */
  private pick(exclude: ReadonlySet<Upstream>): Upstream | null {
    const list = this.upstreams;
    const n = list.length;
    const now = performance.now();
    let anyHealthy = false;
    let anyCandidate = false;
    for (let i = 0; i < n; i++) {
      const u = list[(this.next + i) % n]!;
      if (exclude.has(u)) continue;
      anyCandidate = true;
      if (!u.isHealthy(now)) continue;
      anyHealthy = true;
      if (u.hasSlot) {
        this.next = (this.next + i + 1) % n;
        return u;
      }
    }
    if (!anyCandidate) throw new ProxyError('HF_PROXY_NO_UPSTREAM', 'every upstream was tried and failed', 502);
    if (anyHealthy) return null;
    // Everything left is marked down: try the one whose skip window ends first.
    let best: Upstream | null = null;
    for (const u of list) {
      if (exclude.has(u) || !u.hasSlot) continue;
      if (best === null || u.downUntil < best.downUntil) best = u;
    }
    return best;
  }

  private lease(u: Upstream): Lease {
    u.active++;
    u.requests++;
    let released = false;
    return {
      upstream: u,
      release: () => {
        if (released) return;
        released = true;
        u.active--;
        const handedOn = this.dispatch(u);
        if (!handedOn) u.idleNow();
      },
    };
  }

  /**
   * A slot for a request when one is free right now, else null (and then `acquire` queues or
   * says why not): the usual case without a promise and its turn through the microtask queue.
   */
  tryAcquire(exclude: ReadonlySet<Upstream>): Lease | null {
    if (this.closed) return null;
    let u: Upstream | null;
    try {
      u = this.pick(exclude);
    } catch {
      return null;
    }
    return u === null ? null : this.lease(u);
  }

  /**
   * A slot for a request. `exclude` lists upstreams already tried for it. Resolves at once when
   * a slot is free, else waits in FIFO order (bounded by `queueLimit` and `queueTimeout`).
   */
  acquire(exclude: ReadonlySet<Upstream>, signal?: AbortSignal): Promise<Lease> {
    if (this.closed) return Promise.reject(new ProxyError('HF_PROXY_CLOSED', 'the proxy is closing', 503));
    let u: Upstream | null;
    try {
      u = this.pick(exclude);
    } catch (err) {
      return Promise.reject(err);
    }
    if (u !== null) return Promise.resolve(this.lease(u));
    if (this.queue.length >= this.options.queueLimit) {
      return Promise.reject(new ProxyError('HF_PROXY_QUEUE_FULL', `upstream queue full (${this.options.queueLimit} waiting)`, 503));
    }
    if (signal?.aborted === true) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = (): void => {
        this.remove(waiter);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      const waiter: Waiter = {
        exclude,
        resolve,
        reject,
        timer: null,
        cleanup: () => {
          if (waiter.timer !== null) clearTimeout(waiter.timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      const t = this.options.queueTimeout;
      if (t > 0) {
        waiter.timer = setTimeout(() => {
          this.remove(waiter);
          reject(new ProxyError('HF_PROXY_QUEUE_TIMEOUT', `no upstream slot free within ${t} ms`, 503));
        }, t);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private remove(w: Waiter): void {
    w.cleanup();
    const i = this.queue.indexOf(w);
    if (i !== -1) this.queue.splice(i, 1);
  }

  /**
   * A slot of `freed` was given back: serve waiters in FIFO order while slots are free. Returns
   * whether some waiter took `freed` (so its idle connection is about to be reused).
   */
  private dispatch(freed: Upstream): boolean {
    let handedOn = false;
    for (let i = 0; i < this.queue.length; ) {
      // No slot anywhere: nobody further down the queue can be served either.
      if (!this.upstreams.some((x) => x.hasSlot)) break;
      const w = this.queue[i]!;
      let u: Upstream | null;
      try {
        u = this.pick(w.exclude);
      } catch (err) {
        this.queue.splice(i, 1);
        w.cleanup();
        w.reject(err as Error);
        continue;
      }
      if (u === null) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      w.cleanup();
      if (u === freed) handedOn = true;
      w.resolve(this.lease(u));
    }
    return handedOn;
  }

  /** Fails every waiting request; later `acquire` calls fail too. */
  close(): void {
    this.closed = true;
    const q = this.queue;
    this.queue = [];
    for (const w of q) {
      w.cleanup();
      w.reject(new ProxyError('HF_PROXY_CLOSED', 'the proxy is closing', 503));
    }
  }
}
