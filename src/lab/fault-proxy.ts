/**
 * A TCP fault proxy with toxiproxy's semantics, for your own tests: put it between a client and
 * a server and add "toxics" to either direction — `upstream` (client → server) or `downstream`
 * (server → client):
 *
 * | type         | attributes                                   | effect |
 * |--------------|----------------------------------------------|--------|
 * | `latency`    | `latency`, `jitter` (ms)                     | delays every chunk by latency ± jitter |
 * | `bandwidth`  | `rate` (KB/s)                                | limits throughput |
 * | `slow_close` | `delay` (ms)                                 | delays the close (FIN) by delay |
 * | `timeout`    | `timeout` (ms)                               | stops all data; closes the connection after timeout (0 = never) |
 * | `reset_peer` | `timeout` (ms)                               | resets the connection (RST) after timeout (0 = at once) |
 * | `slicer`     | `average_size`, `size_variation` (bytes), `delay` (µs) | slices data into small chunks with delays |
 * | `limit_data` | `bytes`                                      | closes the connection once `bytes` have passed |
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

/** One proxied connection: a client socket, an upstream socket, two directed links. */
class ProxiedConnection {
  readonly client: net.Socket;
  readonly server: net.Socket;
  /** Whether each toxic (by name) applies to this connection (toxicity is drawn once). */
  private readonly applies = new Map<string, boolean>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Bytes passed per direction (for limit_data). */
  readonly passed: Record<ToxicStream, number> = { upstream: 0, downstream: 0 };
  private closed = false;
  private readonly proxy: FaultProxy;

  constructor(proxy: FaultProxy, client: net.Socket, server: net.Socket) {
    this.proxy = proxy;
    this.client = client;
    this.server = server;
    for (const s of [client, server]) {
      s.setNoDelay(true);
      s.on('error', () => this.destroy());
      s.on('close', () => this.destroy());
    }
    void this.pump('upstream', client, server);
    void this.pump('downstream', server, client);
    for (const t of proxy.toxics()) this.toxicAdded(t);
  }

  applied(t: Toxic): boolean {
    let a = this.applies.get(t.name);
    if (a === undefined) {
      a = t.toxicity >= 1 || Math.random() < t.toxicity;
      this.applies.set(t.name, a);
    }
    return a;
  }

  /** Arms the timers of connection-level toxics (timeout, reset_peer). */
  toxicAdded(t: Toxic): void {
    if (!this.applied(t)) return;
    const ms = t.attributes['timeout'] ?? 0;
    if (t.type === 'reset_peer') {
      this.later(ms, () => this.reset(t.stream));
    } else if (t.type === 'timeout' && ms > 0) {
      this.later(ms, () => this.destroy());
    }
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private active(stream: ToxicStream): Toxic[] {
    return this.proxy.toxics().filter((t) => t.stream === stream && this.applied(t));
  }

  /** Copies `from` → `to` chunk by chunk, through the toxics of `stream`. */
  private async pump(stream: ToxicStream, from: net.Socket, to: net.Socket): Promise<void> {
    try {
      for await (const raw of from) {
        const arrived = performance.now();
        let chunk = raw as Buffer;
        if (this.closed) return;
        let toxics = this.active(stream);
        // timeout: data stops flowing while the toxic is in place.
        while (toxics.some((t) => t.type === 'timeout')) {
          if (this.closed) return;
          await sleep(20);
          toxics = this.active(stream);
          chunk = Buffer.alloc(0);
        }
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
        const limit = toxics.find((t) => t.type === 'limit_data');
        let stopAfter = false;
        if (limit !== undefined) {
          const room = (limit.attributes['bytes'] ?? 0) - this.passed[stream];
          if (chunk.length >= room) {
            chunk = chunk.subarray(0, Math.max(0, room));
            stopAfter = true;
          }
        }
        const slicer = toxics.find((t) => t.type === 'slicer');
        if (slicer !== undefined && chunk.length > 0) {
          const avg = Math.max(1, slicer.attributes['average_size'] ?? 1);
          const variation = Math.min(avg - 1, slicer.attributes['size_variation'] ?? 0);
          const delayMs = (slicer.attributes['delay'] ?? 0) / 1000;
          let off = 0;
          while (off < chunk.length && !this.closed) {
            const size = avg + Math.round((Math.random() * 2 - 1) * variation);
            await this.write(to, chunk.subarray(off, off + Math.max(1, size)), stream);
            off += Math.max(1, size);
            if (delayMs > 0 && off < chunk.length) await sleep(delayMs);
          }
        } else if (chunk.length > 0) {
          await this.write(to, chunk, stream);
        }
        if (stopAfter) {
          this.destroy();
          return;
        }
      }
      // The source ended (FIN): pass the close on, after slow_close's delay.
      const slow = this.active(stream).find((t) => t.type === 'slow_close');
      if (slow !== undefined) await sleep(slow.attributes['delay'] ?? 0);
      if (!this.closed) to.end();
    } catch {
      this.destroy();
    }
  }

  private async write(to: net.Socket, bytes: Buffer, stream: ToxicStream): Promise<void> {
    if (this.closed || to.destroyed) return;
    this.passed[stream] += bytes.length;
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

  /** reset_peer: RST towards the receiving side of `stream`, and close the other. */
  reset(stream: ToxicStream): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const victim = stream === 'downstream' ? this.client : this.server;
    const other = victim === this.client ? this.server : this.client;
    if (!victim.destroyed) victim.resetAndDestroy();
    if (!other.destroyed) other.resetAndDestroy();
    this.proxy.forget(this);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.client.destroy();
    this.server.destroy();
    this.proxy.forget(this);
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
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
    for (const [k, v] of Object.entries(attributes)) {
      if (!known.includes(k)) throw new LabError('HF_LAB_BAD_TOXIC', `${init.type} has no attribute '${k}' (has ${known.join(', ')})`);
      if (!Number.isFinite(v) || v < 0) throw new LabError('HF_LAB_BAD_TOXIC', `${init.type}.${k} must be a non-negative number`);
    }
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
    Object.assign(t.attributes, attributes);
    return t;
  }

  removeToxic(name: string): void {
    const i = this.list.findIndex((t) => t.name === name);
    if (i === -1) throw new LabError('HF_LAB_BAD_TOXIC', `no toxic named '${name}'`);
    this.list.splice(i, 1);
  }

  /** The current toxics (live objects: do not mutate; use `updateToxic`). */
  toxics(): readonly Toxic[] {
    return this.list;
  }

  /** Removes every toxic (toxiproxy's reset). */
  reset(): void {
    this.list.length = 0;
  }

  /** Stops listening and closes every proxied connection. */
  async close(): Promise<void> {
    for (const c of [...this.conns]) c.destroy();
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
