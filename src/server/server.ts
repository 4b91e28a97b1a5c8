/**
 * The listener: accepts sockets (plain or TLS), gives each its own `Connection`, and shuts down
 * gracefully — stop accepting, close idle and never-used connections at once, let in-flight
 * requests finish with `Connection: close`, force-close at the deadline.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { DEFAULT_LINGER } from '../transport/lingeringClose.ts';
import { Connection } from './connection.ts';
import { ServerError } from './errors.ts';
import { fetchToStreaming } from './fetchAdapter.ts';
import { installLightResponse } from './lightResponse.ts';
import type { FetchHandler, ResolvedOptions, ServerOptions, StreamingHandler } from './options.ts';
import type { ServerRequest } from './serverRequest.ts';
import {
  InvalidOptionError, MAX_TIMER_MS, amountOption as amount, booleanOption, durationOption as duration, invalidOption as invalid,
} from '../wire/optionValidation.ts';

function resolveOptions(options: ServerOptions): ResolvedOptions {
  const keepAliveTimeout = duration('keepAliveTimeout', options.keepAliveTimeout ?? 5_000);
  const keepAliveGrace = duration('keepAliveGrace', options.keepAliveGrace ?? 1_000, true);
  // Keep-Alive: timeout=N is in whole seconds. Below 1 s we still say 1: `timeout=0` tells a
  // hint-honouring client not to reuse at all. Whatever N is said, the idle close must come at
  // least `grace` after N s, or a client that trusts the hint reuses a connection we are closing
  // (the race of seeds/000); so a sub-second timeout is stretched to the second it advertises.
  const advertised = Math.max(1, Math.floor(keepAliveTimeout / 1000));
  const keepAliveCloseAfter = Math.max(keepAliveTimeout, advertised * 1000) + keepAliveGrace;
  if (keepAliveCloseAfter > MAX_TIMER_MS) {
    throw invalid('keepAliveTimeout + keepAliveGrace', keepAliveCloseAfter, `<= ${MAX_TIMER_MS} ms`);
  }
  const linger = { ...DEFAULT_LINGER, ...options.linger };
  for (const k of ['idleTimeout', 'totalTimeout', 'flushTimeout'] as const) duration(`linger.${k}`, linger[k]);
  return {
    headersTimeout: duration('headersTimeout', options.headersTimeout ?? 10_000),
    bodyTimeout: duration('bodyTimeout', options.bodyTimeout ?? 60_000, true),
    requestTimeout: duration('requestTimeout', options.requestTimeout ?? 300_000, true),
    keepAliveCloseAfter,
    maxRequestsPerConnection: amount('maxRequestsPerConnection', options.maxRequestsPerConnection ?? 1_000, false, true),
    maxBodySize: amount('maxBodySize', options.maxBodySize ?? 128 * 1024 * 1024),
    maxDrainBytes: amount('maxDrainBytes', options.maxDrainBytes ?? 256 * 1024, true),
    bodyHighWaterMark: amount('bodyHighWaterMark', options.bodyHighWaterMark ?? 64 * 1024),
    linger,
    limits: options.limits ?? {},
    keepAliveValue: `timeout=${advertised}`,
    upgrade: optionalFunction('upgrade', options.upgrade),
    onAutoResponse: optionalFunction('onAutoResponse', options.onAutoResponse),
    onError: options.onError ?? ((err: unknown, req: ServerRequest | null) => {
      const where = req === null ? '' : ` (${req.method} ${req.target})`;
      process.stderr.write(`holdfast server: handler error${where}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }),
  };
}

function optionalFunction<F>(name: string, value: F | undefined): F | null {
  if (value === undefined) return null;
  if (typeof value !== 'function') throw invalid(name, value, 'a function');
  return value;
}

/** Options of `Server.listen`. */
export interface ListenOptions {
  port?: number;
  hostname?: string;
  backlog?: number;
  /**
   * Linux SO_REUSEPORT (Node ≥ 22.12 / 23.1): several processes bind the same port and the kernel
   * spreads connections over them — all cores without `node:cluster`'s primary in the path.
   */
  reusePort?: boolean;
  /** Listen only on IPv6 for `::`. */
  ipv6Only?: boolean;
}

/** Options of `Server.close`. */
export interface CloseOptions {
  /** Force-close connections still open after this long (ms). Default 10 000. */
  timeout?: number;
}

/** An HTTP/1.1 (or HTTPS) server. Create with `createServer`, start with `listen`. */
export class Server {
  /** @internal */
  readonly options: ResolvedOptions;
  /** @internal */
  readonly handler: StreamingHandler;
  /** The underlying `net.Server` / `tls.Server`. */
  readonly netServer: net.Server;
  /** Whether the server speaks TLS. */
  readonly secure: boolean;
  private closingFlag = false;
  private readonly connections = new Set<Connection>();
  /**
   * Every TCP socket the TLS listener accepted, until it closes. One still in its TLS handshake has
   * no `Connection` yet, yet `net.Server.close` waits for it: without this set a client that
   * connected and never finished its handshake held `close()` past its deadline (until the
   * handshake timeout).
   */
  private readonly tlsSockets = new Set<net.Socket>();
  private closePromise: Promise<void> | null = null;
  private onAllClosed: (() => void) | null = null;

  constructor(options: ServerOptions) {
    if ((options.handler === undefined) === (options.fetch === undefined)) {
      throw new InvalidOptionError('handler', 'pass exactly one of `handler` (streaming) and `fetch`');
    }
    this.options = resolveOptions(options);
    // The default of a fetch server: its handler's `new Response()` is what dominates its cost.
    if (booleanOption('lightResponse', options.lightResponse ?? options.fetch !== undefined)) installLightResponse();
    this.handler = options.handler ?? fetchToStreaming(options.fetch as FetchHandler);
    this.secure = options.tls !== undefined;
    // allowHalfOpen: a client's FIN must not make Node end our side before the response is out.
    if (options.tls !== undefined) {
      const server = tls.createServer({ ...options.tls, allowHalfOpen: true, handshakeTimeout: this.options.headersTimeout });
      server.on('connection', (socket: net.Socket) => {
        this.tlsSockets.add(socket);
        socket.once('close', () => this.tlsSockets.delete(socket));
      });
      server.on('secureConnection', (socket) => this.accept(socket));
      server.on('tlsClientError', (_err, socket) => socket.destroy());
      this.netServer = server;
    } else {
      this.netServer = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    }
    this.netServer.on('error', () => {});
  }

  private accept(socket: net.Socket): void {
    if (this.closingFlag) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.connections.add(new Connection(socket, this, this.secure));
  }

  /** @internal */
  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    if (this.connections.size === 0 && this.onAllClosed !== null) this.onAllClosed();
  }

  /** Whether graceful shutdown has begun. */
  get closing(): boolean {
    return this.closingFlag;
  }

  /** Open connections (any state, lingering included). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Connections per state, for tests and metrics. */
  connectionStates(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.connections) out[c.state] = (out[c.state] ?? 0) + 1;
    return out;
  }

  /** Starts listening. `listen(0)` picks a free port. Resolves with the bound address. */
  listen(portOrOptions: number | ListenOptions = {}, hostname?: string): Promise<AddressInfo> {
    const o: ListenOptions = typeof portOrOptions === 'number' ? { port: portOrOptions, hostname } : portOrOptions;
    if (this.netServer.listening) return Promise.reject(new ServerError('HF_SERVER_ALREADY_LISTENING', 'the server is already listening'));
    const refused = refuseListenOptions(o);
    if (refused !== null) return Promise.reject(refused);
    return new Promise<AddressInfo>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.netServer.once('error', onError);
      const listenOptions: net.ListenOptions & { reusePort?: boolean } = { port: o.port ?? 0 };
      if (o.hostname !== undefined) listenOptions.host = o.hostname;
      if (o.backlog !== undefined) listenOptions.backlog = o.backlog;
      if (o.reusePort === true) listenOptions.reusePort = true;
      if (o.ipv6Only === true) listenOptions.ipv6Only = true;
      this.netServer.listen(listenOptions, () => {
        this.netServer.removeListener('error', onError);
        resolve(this.netServer.address() as AddressInfo);
      });
    });
  }

  /** The bound address, or null before `listen`. */
  address(): AddressInfo | null {
    const a = this.netServer.address();
    return a !== null && typeof a === 'object' ? a : null;
  }

  /** The bound port. Throws before `listen`. */
  get port(): number {
    const a = this.address();
    if (a === null) throw new ServerError('HF_SERVER_NOT_LISTENING', 'the server is not listening');
    return a.port;
  }

  /** `http://127.0.0.1:PORT` (or https) for a server bound to a loopback or wildcard address. */
  get url(): string {
    const a = this.address();
    if (a === null) throw new ServerError('HF_SERVER_NOT_LISTENING', 'the server is not listening');
    const host = a.address === '::' || a.address === '0.0.0.0' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.secure ? 'https' : 'http'}://${host}:${a.port}`;
  }

  /** Closes idle and never-used connections now (lingering close); busy ones are left alone. */
  closeIdle(): void {
    for (const c of this.connections) if (c.state === 'new' || c.state === 'idle') c.shutdown();
  }

  /**
   * Graceful shutdown: stop accepting; close idle and never-used connections now; answer requests
   * in flight with `Connection: close` and close after them; force-close whatever is left after
   * `timeout` ms. Resolves when the last connection is gone.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closePromise !== null) return this.closePromise;
    this.closingFlag = true;
    const timeout = options.timeout ?? 10_000;
    this.closePromise = new Promise<void>((resolve) => {
      let listenerClosed = !this.netServer.listening;
      let deadline: NodeJS.Timeout | null = null;
      const check = (): void => {
        if (listenerClosed && this.connections.size === 0) {
          if (deadline !== null) clearTimeout(deadline);
          this.onAllClosed = null;
          resolve();
        }
      };
      this.onAllClosed = check;
      if (!listenerClosed) {
        this.netServer.close(() => {
          listenerClosed = true;
          check();
        });
      }
      for (const c of [...this.connections]) c.shutdown();
      deadline = setTimeout(() => {
        for (const c of [...this.connections]) c.destroy();
        // Sockets still in their TLS handshake (the established ones closed with their Connection).
        for (const s of [...this.tlsSockets]) s.destroy();
      }, timeout);
      check();
    });
    return this.closePromise;
  }

  /** `await using server = await serve(...)`: graceful `close()` when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Listen options this Node cannot honour, as the error `listen()` rejects with (null: none).
 * Node before 22.12 / 23.1 ignores `reusePort` without a word, and the second process of a
 * reusePort fleet then dies with EADDRINUSE: say what is wrong instead.
 */
export function refuseListenOptions(o: ListenOptions, version: string = process.versions.node): ServerError | null {
  if (o.reusePort === true && !supportsReusePort(version)) {
    return new ServerError('HF_SERVER_REUSEPORT_UNSUPPORTED', `reusePort needs Node >= 22.12 or >= 23.1 (this is ${version}); use node:cluster instead`);
  }
  return null;
}

/** Whether this Node's `net.Server.listen` knows `reusePort` (added in 23.1.0 and 22.12.0). */
export function supportsReusePort(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** Creates a server (not yet listening). Pass `handler` (streaming API) or `fetch`. */
export function createServer(options: ServerOptions): Server {
  return new Server(options);
}

/** Options of `serve`: server options plus where to listen. */
export interface ServeOptions extends ServerOptions, ListenOptions {}

/**
 * Creates a server and starts listening; resolves with the listening server.
 *
 * ```ts
 * const server = await serve({ fetch: (req) => new Response('hi'), port: 8080 });
 * ```
 */
export async function serve(options: ServeOptions): Promise<Server> {
  const server = new Server(options);
  const listen: ListenOptions = { port: options.port ?? 0 };
  if (options.hostname !== undefined) listen.hostname = options.hostname;
  if (options.backlog !== undefined) listen.backlog = options.backlog;
  if (options.reusePort !== undefined) listen.reusePort = options.reusePort;
  if (options.ipv6Only !== undefined) listen.ipv6Only = options.ipv6Only;
  await server.listen(listen);
  return server;
}

export type { FetchHandler };
