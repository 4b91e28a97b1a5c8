/**
 * A TCP fault proxy with toxiproxy's semantics, for your own tests: put it between a client and
 * a server and add "toxics" to either direction — `upstream` (client → server) or `downstream`
 * (server → client):
 *
 * | type         | attributes                                   | effect (in the toxic's direction) |
 * |--------------|----------------------------------------------|--------|
 * | `latency`    | `latency`, `jitter` (ms)                     | delays every chunk by latency ± jitter |
 * | `bandwidth`  | `rate` (KB/s)                                | limits throughput |
 * | `slow_close` | `delay` (ms)                                 | delays passing on the close (FIN) by delay |
 * | `timeout`    | `timeout` (ms)                               | drops all data; closes the connection after timeout (0 = never) |
 * | `reset_peer` | `timeout` (ms)                               | timeout after the first data (or FIN) arrives, drops it and resets (RST) both sides, the destination first |
 * | `slicer`     | `average_size`, `size_variation` (bytes), `delay` (µs) | slices data into small chunks with delays |
 * | `limit_data` | `bytes`                                      | closes the connection once `bytes` have passed (counted from when the toxic was added) |
 *
 * The opposite direction is untouched, as in toxiproxy, except that a toxic that closes the
 * connection closes both directions.
 *
 * `toxicity` (0..1, default 1) is the probability a toxic applies to a connection. Toxics can be
 * added, updated and removed while connections are open; they apply to the next chunk.
 *
 * ```ts
 * const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: server.port } });
 * proxy.addToxic({ type: 'latency', stream: 'downstream', attributes: { latency: 200 } });
 * await fetch(`${proxy.url}/`);   // at least 200 ms
 * await proxy.close();
 * ```
 */
import net from 'node:net';
import { LabError } from './errors.ts';
import { sleep } from './util.ts';

export type ToxicType = 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';
export type ToxicStream = 'upstream' | 'downstream';
export type ToxicAttributes = Record<string, number>;

/** A toxic as toxiproxy describes it. */
export interface Toxic {
  name: string;
  type: ToxicType;
  stream: ToxicStream;
  toxicity: number;
  attributes: ToxicAttributes;
}

export interface FaultProxyOptions {
  upstream: { host: string; port: number };
  /** Where the proxy listens (default 127.0.0.1, random port). */
  listen?: { host?: string; port?: number };
}

const ATTRIBUTES: Record<ToxicType, string[]> = {
  latency: ['latency', 'jitter'],
  bandwidth: ['rate'],
  slow_close: ['delay'],
  timeout: ['timeout'],
  reset_peer: ['timeout'],
  slicer: ['average_size', 'size_variation', 'delay'],
  limit_data: ['bytes'],
};

function checkAttributes(type: ToxicType, attributes: ToxicAttributes): void {
  const known = ATTRIBUTES[type];
  for (const [k, v] of Object.entries(attributes)) {
    if (!known.includes(k)) throw new LabError('HF_LAB_BAD_TOXIC', `${type} has no attribute '${k}' (has ${known.join(', ')})`);
    if (!Number.isFinite(v) || v < 0) throw new LabError('HF_LAB_BAD_TOXIC', `${type}.${k} must be a non-negative number`);
  }
}

/** One proxied connection: a client socket, an upstream socket, two directed links. */
class ProxiedConnection {
  readonly client: net.Socket;
  readonly server: net.Socket;
  /** Whether each toxic (by name) applies to this connection (toxicity is drawn once). */
  private readonly applies = new Map<string, boolean>();
  /** Timers of timeout and reset_peer toxics, by toxic name, so that removing a toxic disarms it. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /**
   * Bytes each limit_data toxic has let through. Counted from when the toxic joined the
   * connection, as toxiproxy gives a toxic added to a live link a fresh state.
   */
  private readonly limitPassed = new Map<string, number>();
  /** reset_peer has been triggered in this direction: everything after is dropped. */
  private readonly resetting: Record<ToxicStream, boolean> = { upstream: false, downstream: false };
  private closed = false;
  private readonly proxy: FaultProxy;

  constructor(proxy: FaultProxy, client: net.Socket, server: net.Socket) {
    this.proxy = proxy;
    this.client = client;
    this.server = server;
    for (const s of [client, server]) {
      s.setNoDelay(true);
      s.on('error', () => this.destroy());
      // One side closing does not tear down the other at once: a direction still in a toxic
      // (slow_close's delay, a pending reset) finishes as it would in toxiproxy, where each
      // direction is its own link and closes its own destination.
      s.on('close', () => this.settle());
    }
    for (const t of proxy.toxics()) this.toxicAdded(t);
    void this.pump('upstream', client, server);
    void this.pump('downstream', server, client);
  }

  applied(t: Toxic): boolean {
    let a = this.applies.get(t.name);
    if (a === undefined) {
      a = t.toxicity >= 1 || Math.random() < t.toxicity;
      this.applies.set(t.name, a);
    }
    return a;
  }

  /**
   * A toxic joined the connection. timeout arms its close timer now (toxiproxy starts it when
   * the toxic starts); reset_peer waits for data in its direction (see `pump`).
   */
  toxicAdded(t: Toxic): void {
    if (t.type === 'limit_data') this.limitPassed.set(t.name, 0);
    if (!this.applied(t)) return;
    const ms = t.attributes['timeout'] ?? 0;
    if (t.type === 'timeout' && ms > 0) this.later(t.name, ms, () => this.destroy(t.stream));
  }

  /** A toxic left: its timers are disarmed (a removed timeout no longer closes anything). */
  toxicRemoved(t: Toxic): void {
    this.disarm(t.name);
    this.limitPassed.delete(t.name);
    this.applies.delete(t.name);
  }

  /** New attributes: toxiproxy restarts the toxic, so a timeout's timer starts over. */
  toxicUpdated(t: Toxic): void {
    if (t.type !== 'timeout' && t.type !== 'reset_peer') return;
    const pending = this.disarm(t.name);
    if (t.type === 'timeout') this.toxicAdded(t);
    else if (pending) this.later(t.name, t.attributes['timeout'] ?? 0, () => this.reset(t.stream));
  }

  /** Clears the timer of toxic `name`; returns whether one was pending. */
  private disarm(name: string): boolean {
    const timer = this.timers.get(name);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.timers.delete(name);
    return true;
  }

  private later(name: string, ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(name);
      fn();
    }, ms);
    this.timers.set(name, timer);
  }

  private active(stream: ToxicStream): Toxic[] {
    return this.proxy.toxics().filter((t) => t.stream === stream && this.applied(t));
  }

  /** reset_peer: the first data (or FIN) in its direction starts its timer; that data is dropped. */
  private triggerReset(stream: ToxicStream, toxics: Toxic[]): boolean {
    if (this.resetting[stream]) return true;
    const reset = toxics.find((t) => t.type === 'reset_peer');
    if (reset === undefined) return false;
    this.resetting[stream] = true;
    this.later(reset.name, reset.attributes['timeout'] ?? 0, () => this.reset(stream));
    return true;
  }

  /** Copies `from` → `to` chunk by chunk, through the toxics of `stream`. */
  private async pump(stream: ToxicStream, from: net.Socket, to: net.Socket): Promise<void> {
    try {
      for await (const raw of from) {
        const arrived = performance.now();
        let chunk = raw as Buffer;
        if (this.closed) return;
        const toxics = this.active(stream);
        if (this.triggerReset(stream, toxics)) continue;
        // timeout: data is dropped on the floor while the toxic is in place (toxiproxy).
        if (toxics.some((t) => t.type === 'timeout')) continue;
        for (const t of toxics) {
          if (t.type === 'latency') {
            const jitter = t.attributes['jitter'] ?? 0;
            const delay = (t.attributes['latency'] ?? 0) + (jitter > 0 ? (Math.random() * 2 - 1) * jitter : 0);
            const wait = arrived + delay - performance.now();
            if (wait > 0) await sleep(wait);
          } else if (t.type === 'bandwidth') {
            const rate = t.attributes['rate'] ?? 0;
            if (rate > 0) await sleep((chunk.length * 1000) / (rate * 1000));
          }
        }
        if (this.closed) return;
        const limits = toxics.filter((t) => t.type === 'limit_data');
        let stopAfter = false;
        for (const limit of limits) {
          const room = (limit.attributes['bytes'] ?? 0) - (this.limitPassed.get(limit.name) ?? 0);
          if (chunk.length >= room) {
            chunk = chunk.subarray(0, Math.max(0, room));
            stopAfter = true;
          }
        }
        for (const limit of limits) this.limitPassed.set(limit.name, (this.limitPassed.get(limit.name) ?? 0) + chunk.length);
        const slicer = toxics.find((t) => t.type === 'slicer');
        if (slicer !== undefined && chunk.length > 0) {
          const avg = Math.max(1, slicer.attributes['average_size'] ?? 1);
          const variation = Math.min(avg - 1, slicer.attributes['size_variation'] ?? 0);
          const delayMs = (slicer.attributes['delay'] ?? 0) / 1000;
          let off = 0;
          while (off < chunk.length && !this.closed) {
            const size = Math.max(1, avg + Math.round((Math.random() * 2 - 1) * variation));
            await this.write(to, chunk.subarray(off, off + size));
            off += size;
            if (delayMs > 0 && off < chunk.length) await sleep(delayMs);
          }
        } else if (chunk.length > 0) {
          await this.write(to, chunk);
        }
        if (stopAfter) {
          this.closeAfterLimit(to);
          return;
        }
      }
      if (this.closed) return;
      // The source ended (FIN). reset_peer also fires on it; otherwise pass the close on,
      // after slow_close's delay.
      const toxics = this.active(stream);
      if (this.triggerReset(stream, toxics)) return;
      const slow = toxics.find((t) => t.type === 'slow_close');
      if (slow !== undefined) await sleep(slow.attributes['delay'] ?? 0);
      if (!this.closed && !to.destroyed) to.end();
    } catch {
      this.destroy();
    }
  }

  private async write(to: net.Socket, bytes: Buffer): Promise<void> {
    if (this.closed || to.destroyed) return;
    if (!to.write(bytes)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          to.off('drain', done);
          to.off('close', done);
          resolve();
        };
        to.on('drain', done);
        to.on('close', done);
      });
    }
  }

  /**
   * limit_data reached: the destination gets what passed and then a FIN (toxiproxy closes the
   * link's destination, and the other link ends with it); the source is closed at once.
   */
  private closeAfterLimit(to: net.Socket): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const other = to === this.client ? this.server : this.client;
    other.destroy();
    // end() flushes what is queued before the FIN; destroy() would drop it.
    to.end(() => to.destroy());
    this.settle();
  }

  /**
   * reset_peer: RST to the destination of `stream` first, then to the other side (toxiproxy sets
   * SO_LINGER 0 on both sockets of the link, so closing the one closes the other with an RST).
   */
  reset(stream: ToxicStream): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const victim = stream === 'downstream' ? this.client : this.server;
    const other = victim === this.client ? this.server : this.client;
    if (!victim.destroyed) victim.resetAndDestroy();
    if (!other.destroyed) other.resetAndDestroy();
    this.settle();
  }

  /** Closes both sockets, the destination of `first` (when given) first. */
  destroy(first?: ToxicStream): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const [a, b] = first === 'upstream' ? [this.server, this.client] : [this.client, this.server];
    a.destroy();
    b.destroy();
    this.settle();
  }

  /** Closes both sockets now, whatever is still in flight (the proxy is closing). */
  kill(): void {
    this.closed = true;
    this.client.destroy();
    this.server.destroy();
    this.settle();
  }

  /** Forgets the connection once both sockets are gone. */
  private settle(): void {
    if (!this.client.destroyed || !this.server.destroyed) return;
    this.closed = true;
    this.clearTimers();
    this.proxy.forget(this);
  }

  private clearTimers(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

/** A TCP proxy that injects toxiproxy-style faults. Start with `FaultProxy.start`. */
export class FaultProxy {
  private readonly server: net.Server;
  private readonly upstream: { host: string; port: number };
  private readonly list: Toxic[] = [];
  private readonly conns = new Set<ProxiedConnection>();
  private counter = 0;

  private constructor(server: net.Server, upstream: { host: string; port: number }) {
    this.server = server;
    this.upstream = upstream;
    server.on('connection', (client) => this.accept(client));
  }

  /** Starts listening (127.0.0.1, random port unless given). */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const proxy = new FaultProxy(server, options.upstream);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new LabError('HF_LAB_PROXY', `fault proxy cannot listen: ${err.message}`)));
      server.listen(options.listen?.port ?? 0, options.listen?.host ?? '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `http://127.0.0.1:PORT` — handy when proxying an HTTP server. */
  get url(): string {
    const a = this.server.address() as net.AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  /** Number of connections currently proxied. */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Adds a toxic; returns it with its name (default `<type>_<stream>`). Throws `HF_LAB_BAD_TOXIC` on bad input. */
  addToxic(init: { type: ToxicType; stream?: ToxicStream; name?: string; toxicity?: number; attributes?: ToxicAttributes }): Toxic {
    const known = ATTRIBUTES[init.type];
    if (known === undefined) throw new LabError('HF_LAB_BAD_TOXIC', `unknown toxic type '${String(init.type)}'`);
    const stream = init.stream ?? 'downstream';
    if (stream !== 'upstream' && stream !== 'downstream') throw new LabError('HF_LAB_BAD_TOXIC', `stream must be upstream or downstream`);
    const attributes = init.attributes ?? {};
    checkAttributes(init.type, attributes);
    const toxicity = init.toxicity ?? 1;
    if (!(toxicity >= 0 && toxicity <= 1)) throw new LabError('HF_LAB_BAD_TOXIC', 'toxicity must be between 0 and 1');
    const name = init.name ?? `${init.type}_${stream}${this.list.some((t) => t.name === `${init.type}_${stream}`) ? `_${++this.counter}` : ''}`;
    if (this.list.some((t) => t.name === name)) throw new LabError('HF_LAB_BAD_TOXIC', `a toxic named '${name}' exists`);
    const toxic: Toxic = { name, type: init.type, stream, toxicity, attributes: { ...attributes } };
    this.list.push(toxic);
    for (const c of this.conns) c.toxicAdded(toxic);
    return toxic;
  }

  /** Changes a toxic's attributes in place. */
  updateToxic(name: string, attributes: ToxicAttributes): Toxic {
    const t = this.list.find((x) => x.name === name);
    if (t === undefined) throw new LabError('HF_LAB_BAD_TOXIC', `no toxic named '${name}'`);
    checkAttributes(t.type, attributes);
    Object.assign(t.attributes, attributes);
    for (const c of this.conns) c.toxicUpdated(t);
    return t;
  }

  removeToxic(name: string): void {
    const i = this.list.findIndex((t) => t.name === name);
    if (i === -1) throw new LabError('HF_LAB_BAD_TOXIC', `no toxic named '${name}'`);
    const [t] = this.list.splice(i, 1);
    for (const c of this.conns) c.toxicRemoved(t!);
  }

  /** The current toxics (live objects: do not mutate; use `updateToxic`). */
  toxics(): readonly Toxic[] {
    return this.list;
  }

  /** Removes every toxic (toxiproxy's reset). */
  reset(): void {
    const removed = this.list.splice(0);
    for (const c of this.conns) for (const t of removed) c.toxicRemoved(t);
  }

  /** Stops listening and closes every proxied connection. */
  async close(): Promise<void> {
    for (const c of [...this.conns]) c.kill();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** @internal */
  forget(conn: ProxiedConnection): void {
    this.conns.delete(conn);
  }

  private accept(client: net.Socket): void {
    const server = net.connect({ host: this.upstream.host, port: this.upstream.port, allowHalfOpen: true });
    client.on('error', () => server.destroy());
    server.once('error', () => client.destroy());
    server.once('connect', () => {
      this.conns.add(new ProxiedConnection(this, client, server));
    });
  }
}
