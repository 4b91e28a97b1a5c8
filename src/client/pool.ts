/**
 * A pool of connections to one origin: idle connections (most recently used first, since it is
 * the least likely to have been timed out by the server), a connection limit, and a FIFO queue
 * of requests waiting for a connection.
 */
import type { LookupFunction } from 'node:net';
import { openSocket, type ClientTlsOptions } from '../transport/connect.ts';
import { ClientConnection, type CloseReason, type ConnectionOwner, type ConnectionSettings } from './connection.ts';
import {
  type ClientError,
  ConnectError,
  PoolClosedError,
  QueueFullError,
  TimeoutError,
  TlsError,
} from './errors.ts';
import { connectionCreatedChannel } from './diagnostics.ts';

/** Settings of one pool. */
export interface PoolOptions {
  /** `scheme://host:port` */
  origin: string;
  /** Host name or IP address (IPv6 may be bracketed). */
  host: string;
  port: number;
  /** TLS settings, or `null` for plain HTTP. */
  tls: ClientTlsOptions | null;
  /** Maximum connections open at once. */
  connections: number;
  /** Maximum requests waiting for a connection. */
  queueLimit: number;
  /** Default connect timeout (ms). */
  connectTimeout: number;
  autoSelectFamily: boolean;
  lookup: LookupFunction | undefined;
  connection: ConnectionSettings;
}

/** Lets a caller take its place out of the wait queue (abort, request timeout). */
export interface CheckoutHandle {
  /** Set by the pool while the caller waits; call to give up waiting. */
  cancel: ((err: ClientError) => void) | null;
}

interface Waiter {
  fresh: boolean;
  connectTimeout: number;
  resolve: (conn: ClientConnection) => void;
  reject: (err: ClientError) => void;
}

/** Connections to one origin. */
export class Pool implements ConnectionOwner {
  readonly origin: string;
  private readonly options: PoolOptions;
  /** Idle connections; the last one is the most recently used. */
  private idle: ClientConnection[] = [];
  private readonly all = new Set<ClientConnection>();
  private queue: Waiter[] = [];
  /** Go's CloseIdleConnections: connections becoming idle are closed until the next checkout. */
  private closeIdleUntilCheckout = false;
  private closing = false;
  private destroyed = false;
  private closedResolvers: Array<() => void> = [];
  private tlsSession: Buffer | undefined;

  constructor(options: PoolOptions) {
    this.options = options;
    this.origin = options.origin;
  }

  /** Open connections (connecting, idle, in use, closing). */
  get size(): number {
    return this.all.size;
  }

  /** Idle connections. */
  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * The idle connections, least recently used first: a copy, for inspection (each one's
   * `idleDeadline` says until when it may be reused).
   */
  get idleConnections(): readonly ClientConnection[] {
    return [...this.idle];
  }

  /** Requests waiting for a connection. */
  get pending(): number {
    return this.queue.length;
  }

  /** Whether `close()` or `destroy()` was called. */
  get isClosed(): boolean {
    return this.closing || this.destroyed;
  }

  /**
   * A connection reserved for one request: an idle one if any (unless `fresh`), else a new one
   * when under the limit, else a place in the queue. A reused connection comes back without
   * the liveness turn; the caller gives it (see `Agent`).
   */
  checkout(fresh: boolean, connectTimeout: number, handle: CheckoutHandle | null): ClientConnection | Promise<ClientConnection> {
    if (this.closing || this.destroyed) throw new PoolClosedError();
    this.closeIdleUntilCheckout = false;
    if (!fresh) {
      const idle = this.idle;
      if (idle.length > 0) {
        const now = performance.now();
        while (idle.length > 0) {
          const conn = idle.pop()!;
          if (conn.isReusable(now)) {
            conn.reserve();
            return conn;
          }
          // Past its idle deadline (the timer may not have fired yet under load), or dead.
          conn.close('idle-timeout');
        }
      }
    }
    if (this.all.size < this.options.connections) return this.connect(connectTimeout);
    if (fresh && this.idle.length > 0) {
      // Make room for the fresh connection a retry needs by retiring the oldest idle one.
      this.idle.shift()!.close('not-reusable');
    }
    if (this.queue.length >= this.options.queueLimit) throw new QueueFullError(this.options.queueLimit);
    return new Promise<ClientConnection>((resolve, reject) => {
      const waiter: Waiter = { fresh, connectTimeout, resolve, reject };
      // Retries go first: they already waited their turn once.
      if (fresh) this.queue.unshift(waiter);
      else this.queue.push(waiter);
      if (handle !== null) {
        handle.cancel = (err) => {
          const i = this.queue.indexOf(waiter);
          if (i !== -1) this.queue.splice(i, 1);
          reject(err);
        };
      }
    });
  }

  /** Opens a new connection; it counts against the limit from now on. */
  private connect(timeout: number): Promise<ClientConnection> {
    const conn = new ClientConnection(this.origin, this, this.options.connection);
    this.all.add(conn);
    const o = this.options;
    return new Promise<ClientConnection>((resolve, reject) => {
      openSocket(
        { host: o.host, port: o.port, tls: o.tls, timeout, autoSelectFamily: o.autoSelectFamily, lookup: o.lookup, session: this.tlsSession },
        (err, socket, failure) => {
          if (err !== null || socket === null) {
            conn.close('error');
            if (failure === 'timeout') reject(new TimeoutError('HF_CONNECT_TIMEOUT', `connect to ${this.origin} timed out after ${timeout} ms`, 'connect', false, timeout));
            else if (failure === 'tls') reject(new TlsError(`TLS handshake with ${this.origin} failed: ${err!.message}`, err));
            else reject(new ConnectError(`connect to ${this.origin} failed: ${(err as NodeJS.ErrnoException).code ?? err!.message}`, err));
            return;
          }
          if (o.tls !== null) {
            // Resume TLS sessions on later connections (saves a round trip).
            socket.on('session', (session: Buffer) => { this.tlsSession = session; });
          }
          if (this.destroyed) {
            socket.destroy();
            conn.close('destroyed');
            reject(new PoolClosedError('the pool was destroyed while connecting'));
            return;
          }
          conn.attach(socket);
          if (connectionCreatedChannel.hasSubscribers) {
            connectionCreatedChannel.publish({ connectionId: conn.id, origin: this.origin, socket });
          }
          resolve(conn);
        },
      );
    });
  }

  /**
   * Returns a reserved connection that will not be used after all (its request was aborted
   * before writing); it goes back to the pool as if released.
   */
  putBack(conn: ClientConnection): void {
    if (conn.unreserve()) this.release(conn);
  }

  /** ConnectionOwner: an exchange finished and `conn` is idle and reusable. */
  release(conn: ClientConnection): void {
    if (this.destroyed) {
      conn.close('destroyed');
      return;
    }
    // Waiters come first, as in Go's tryPutIdleConn.
    const waiter = this.queue.shift();
    if (waiter !== undefined) {
      if (waiter.fresh) {
        // A retry needs a new connection: trade this one for it.
        this.queue.unshift(waiter);
        conn.close('not-reusable');
        return;
      }
      conn.reserve();
      waiter.resolve(conn);
      return;
    }
    if (this.closing) {
      conn.close('pool-closed');
      return;
    }
    if (this.closeIdleUntilCheckout) {
      conn.close('close-idle');
      return;
    }
    this.idle.push(conn);
  }

  /** ConnectionOwner: `conn` is gone. */
  closed(conn: ClientConnection, reason: CloseReason): void {
    void reason;
    if (!this.all.delete(conn)) return;
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    this.drain();
  }

  /** Opens connections for waiters while under the limit. */
  private drain(): void {
    while (this.queue.length > 0 && this.all.size < this.options.connections && !this.destroyed) {
      const w = this.queue.shift()!;
      this.connect(w.connectTimeout).then(w.resolve, w.reject);
    }
    if ((this.closing || this.destroyed) && this.all.size === 0 && this.queue.length === 0) {
      const r = this.closedResolvers;
      this.closedResolvers = [];
      for (const f of r) f();
    }
  }

  /**
   * Closes idle connections now and, until the next checkout, every connection that becomes
   * idle (Go's `CloseIdleConnections`): a restarted server's stale sockets cannot be reused.
   */
  closeIdle(): void {
    this.closeIdleUntilCheckout = true;
    const idle = this.idle;
    this.idle = [];
    for (const c of idle) c.close('close-idle');
  }

  /** Graceful close: no new requests; queued and in-flight ones finish; then all closes. */
  close(): Promise<void> {
    this.closing = true;
    const idle = this.idle;
    this.idle = [];
    for (const c of idle) c.close('pool-closed');
    return new Promise<void>((resolve) => {
      this.closedResolvers.push(resolve);
      this.drain();
    });
  }

  /** Closes everything now; queued and in-flight requests fail. */
  destroy(): Promise<void> {
    this.destroyed = true;
    const queue = this.queue;
    this.queue = [];
    for (const w of queue) w.reject(new PoolClosedError('the pool was destroyed'));
    this.idle = [];
    for (const c of [...this.all]) c.close('destroyed');
    return new Promise<void>((resolve) => {
      this.closedResolvers.push(resolve);
      this.drain();
    });
  }
}
