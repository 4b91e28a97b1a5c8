/**
 * A tunnel: two sockets joined byte for byte after a `101 Switching Protocols` (WebSocket and any
 * other upgrade the proxy allows). The proxy no longer understands the bytes, so what it still owes
 * both ends is what TCP would give them without it:
 *
 * - **Backpressure both ways.** A side whose peer cannot take more is paused until the peer drains,
 *   so a fast sender and a slow receiver cost at most one socket buffer each, never the whole
 *   message in the proxy's memory (nginx and Envoy do the same; a naive `on('data') → write` does not).
 * - **Half-close passed through.** A FIN from one side becomes a FIN to the other, and the other
 *   direction keeps flowing until its own FIN: a protocol that finishes sending and then reads the
 *   answer works as it would without the proxy.
 * - **An abrupt end is an end, cleanly.** One side resetting or closing ends the other with a FIN
 *   (then a bounded wait), so a backend dying mid-message shows the client a closed connection, not
 *   one that hangs until its own timeout.
 * - **Idle timeout.** No byte either way for `idleTimeout` ms closes both sides (nginx's
 *   `proxy_read_timeout`, which applies to its WebSocket tunnels too).
 *
 * When both sides are gone, `onEnd` receives the bytes carried each way and the duration, for
 * access logs and metrics.
 */
import type { Socket } from 'node:net';

/** Why a tunnel ended. */
export type TunnelCloseReason =
  /** Both sides sent FIN, in either order, and everything was delivered. */
  | 'closed'
  /** The client's socket closed (or reset) while the upstream's was still open. */
  | 'client-gone'
  /** The upstream's socket closed (or reset) while the client's was still open. */
  | 'upstream-gone'
  /** No byte either way for the idle timeout. */
  | 'idle-timeout'
  /** The proxy shut it down (`ReverseProxy.close` at its deadline, or `destroy`). */
  | 'shutdown';

/** One finished tunnel, as given to `onTunnel` and counted in the proxy's stats. */
export interface TunnelRecord {
  /** The protocol switched to (`websocket`). */
  readonly protocol: string;
  /** The upstream it went to. */
  readonly upstream: string;
  /** The request-target of the upgrade request. */
  readonly target: string;
  readonly remoteAddress: string;
  /** Bytes the client sent through the tunnel (after the request head). */
  readonly bytesFromClient: number;
  /** Bytes the upstream sent through the tunnel (after the 101). */
  readonly bytesFromUpstream: number;
  /** From the 101 to the last socket's close, in ms. */
  readonly durationMs: number;
  readonly reason: TunnelCloseReason;
}

/** What a tunnel needs to know besides its two sockets. */
export interface TunnelOptions {
  /** ms without a byte either way before both sides are closed; 0: never. */
  readonly idleTimeout: number;
  /** After one side ended, how long (ms) the other may take to finish before it is destroyed. */
  readonly closeTimeout: number;
}

type Side = 'client' | 'upstream';

/** Two sockets joined after a 101. Create with `new Tunnel(...)`; it runs by itself. */
export class Tunnel {
  bytesFromClient = 0;
  bytesFromUpstream = 0;
  private readonly started = performance.now();
  private readonly client: Socket;
  private readonly upstream: Socket;
  private readonly options: TunnelOptions;
  private readonly onEnd: (t: Tunnel, reason: TunnelCloseReason, durationMs: number) => void;
  private idleTimer: NodeJS.Timeout | null = null;
  private reason: TunnelCloseReason | null = null;
  private ended: Record<Side, boolean> = { client: false, upstream: false };
  private closed: Record<Side, boolean> = { client: false, upstream: false };
  private reported = false;

  constructor(
    client: Socket,
    clientHead: Buffer,
    upstream: Socket,
    upstreamHead: Buffer,
    options: TunnelOptions,
    onEnd: (t: Tunnel, reason: TunnelCloseReason, durationMs: number) => void,
  ) {
    this.client = client;
    this.upstream = upstream;
    this.options = options;
    this.onEnd = onEnd;
    // Without it, Node answers the upstream's FIN with ours at once, and what the client still
    // sends after the upstream finished would be lost.
    upstream.allowHalfOpen = true;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.join(client, upstream, 'client', clientHead);
    this.join(upstream, client, 'upstream', upstreamHead);
    this.armIdle();
  }

  /** Whether the tunnel still has a socket open. */
  get active(): boolean {
    return !this.reported;
  }

  /** Closes both sides now (shutdown). */
  destroy(): void {
    this.reason ??= 'shutdown';
    this.client.destroy();
    this.upstream.destroy();
  }

  private join(from: Socket, to: Socket, side: Side, head: Buffer): void {
    if (head.length > 0) this.carry(side, head, to, from);
    from.on('data', (chunk: Buffer) => this.carry(side, chunk, to, from));
    to.on('drain', () => {
      if (!from.destroyed) from.resume();
    });
    from.on('end', () => {
      this.ended[side] = true;
      // The FIN goes on; the other direction keeps flowing until its own.
      if (!to.destroyed) to.end();
      if (this.ended.client && this.ended.upstream) this.reason ??= 'closed';
    });
    from.on('error', () => {
      // 'close' follows; the other side is ended there.
    });
    from.on('close', () => {
      this.closed[side] = true;
      if (!this.closed[side === 'client' ? 'upstream' : 'client']) {
        this.reason ??= side === 'client' ? 'client-gone' : 'upstream-gone';
        // End cleanly, then give the other side a bounded time to finish.
        if (!to.destroyed) to.end();
        this.armClose(to);
      }
      this.maybeReport();
    });
    // The bytes were read before the sockets were joined: the source may be paused by its
    // previous owner, or never flowing yet.
    from.resume();
  }

  private carry(side: Side, chunk: Buffer, to: Socket, from: Socket): void {
    if (side === 'client') this.bytesFromClient += chunk.length;
    else this.bytesFromUpstream += chunk.length;
    this.idleTimer?.refresh();
    if (to.destroyed || to.writableEnded) return;
    if (!to.write(chunk)) from.pause();
  }

  private armIdle(): void {
    const ms = this.options.idleTimeout;
    if (ms === 0) return;
    this.idleTimer = setTimeout(() => {
      this.reason ??= 'idle-timeout';
      this.client.end();
      this.upstream.end();
      this.armClose(this.client);
      this.armClose(this.upstream);
    }, ms);
    this.idleTimer.unref();
  }

  private armClose(socket: Socket): void {
    if (socket.destroyed) return;
    const t = setTimeout(() => socket.destroy(), this.options.closeTimeout);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  }

  private maybeReport(): void {
    if (this.reported || !this.closed.client || !this.closed.upstream) return;
    this.reported = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.onEnd(this, this.reason ?? 'closed', performance.now() - this.started);
  }
}
