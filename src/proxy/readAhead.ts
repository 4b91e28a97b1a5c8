/**
 * Response read-ahead (nginx's `proxy_buffering`): the upstream body is read as fast as the
 * upstream sends it, up to a bound held in memory, whatever the pace of the downstream client.
 * A slow reader therefore does not keep the backend's connection (and, for a single-threaded
 * backend, the whole backend) busy for responses that fit the bound; larger ones are paced by
 * the reader through backpressure once the bound is full. `onSettled` fires as soon as the
 * upstream side is finished, which is when the upstream slot can be given back.
 */

/** A single-consumer async iterable over an upstream body, pumped ahead of its consumer. */
export class ReadAhead implements AsyncIterable<Uint8Array> {
  private readonly source: AsyncIterator<Uint8Array>;
  private readonly limit: number;
  private readonly chunks: Uint8Array[] = [];
  private buffered = 0;
  private ended = false;
  private error: unknown = null;
  private failed = false;
  private pumping = false;
  private cancelled = false;
  private waiter: { resolve(r: IteratorResult<Uint8Array>): void; reject(e: unknown): void } | null = null;
  private onSettled: ((err: unknown) => void) | null;
  private claimed = false;

  constructor(source: AsyncIterable<Uint8Array>, limit: number, onSettled: (err: unknown) => void) {
    this.source = source[Symbol.asyncIterator]();
    this.limit = limit;
    this.onSettled = onSettled;
    void this.pump();
  }

  /**
   * The whole body when the upstream has already finished it and nothing was consumed yet (a
   * small response), so the writer can send head and body in one write; otherwise `null`.
   */
  takeWhole(): Uint8Array | null {
    if (!this.ended || this.claimed) return null;
    this.claimed = true;
    const c = this.chunks.splice(0);
    this.buffered = 0;
    return c.length === 1 ? c[0]! : Buffer.concat(c);
  }

  /** Bytes read from the upstream but not yet taken by the consumer. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  private settle(err: unknown): void {
    const f = this.onSettled;
    this.onSettled = null;
    if (f !== null) f(err);
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.ended || this.failed || this.cancelled) return;
    this.pumping = true;
    try {
      while (this.buffered < this.limit || this.waiter !== null) {
        const r = await this.source.next();
        if (this.cancelled) return;
        if (r.done === true) {
          this.ended = true;
          this.settle(null);
          const w = this.waiter;
          if (w !== null && this.chunks.length === 0) {
            this.waiter = null;
            w.resolve({ value: undefined, done: true });
          }
          return;
        }
        const w = this.waiter;
        if (w !== null && this.chunks.length === 0) {
          this.waiter = null;
          w.resolve({ value: r.value, done: false });
        } else {
          this.chunks.push(r.value);
          this.buffered += r.value.byteLength;
        }
      }
    } catch (err) {
      if (this.cancelled) return;
      this.failed = true;
      this.error = err;
      this.settle(err);
      const w = this.waiter;
      if (w !== null) {
        this.waiter = null;
        w.reject(err);
      }
    } finally {
      this.pumping = false;
    }
  }

  private next(): Promise<IteratorResult<Uint8Array>> {
    if (this.chunks.length > 0) {
      const c = this.chunks.shift()!;
      this.buffered -= c.byteLength;
      if (this.buffered < this.limit) void this.pump();
      return Promise.resolve({ value: c, done: false });
    }
    if (this.failed) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      void this.pump();
    });
  }

  /** Stops reading the upstream body (its connection is closed unless it already ended). */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.chunks.length = 0;
    this.buffered = 0;
    if (!this.ended && !this.failed) {
      void this.source.return?.();
      this.settle(new Error('cancelled'));
    }
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.claimed) throw new TypeError('read-ahead body already consumed');
    this.claimed = true;
    return {
      next: () => this.next(),
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
