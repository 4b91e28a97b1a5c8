/**
 * The proxy as one listening front door: a server, a table of routes (each its own
 * `ReverseProxy`), request ids, the access log and metrics. The route table can be replaced
 * while requests are in flight (configuration reload): requests that arrived before the swap
 * finish on the old routes, which are closed once the last of them is done; requests arriving
 * after the swap use the new ones. The listening socket never changes, so no connection meets a
 * closed port during a reload.
 */
import { randomUUID } from 'node:crypto';
import type { Server as TlsServer, SecureContextOptions } from 'node:tls';
import {
  createServer, type AutoResponse, type ResponseWriter, type Server, type ServerOptions, type ServerRequest, type CloseOptions,
} from '../server/index.ts';
import { HeaderList } from '../wire/index.ts';
import { InvalidOptionError } from '../wire/optionValidation.ts';
import type { AccessLog, AccessRecord } from './accessLog.ts';
import { newExchange } from './exchange.ts';
import { ProxyMetrics, type MetricsSnapshot, type UpstreamGauge } from './metrics.ts';
import type { RouteTable } from './routes.ts';
import type { TunnelRecord } from './tunnel.ts';

/** Options of a `ProxyFront`. */
export interface ProxyFrontOptions {
  routes: RouteTable;
  /** Options of the downstream server (TLS, timeouts, limits). */
  server?: Omit<ServerOptions, 'handler' | 'fetch'>;
  accessLog?: AccessLog | null;
  /** Read and echo `X-Request-Id`, making one up when the request has none (default true). */
  requestIds?: boolean;
}

/**
 * A request id a client may choose: short, and of characters no log format needs to escape. Any
 * other value is replaced, so a client cannot forge log lines through it.
 */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The request id to use: the client's when acceptable, else a new UUID. */
export function requestIdFor(headers: HeaderList): string {
  const given = headers.get('x-request-id');
  return given !== undefined && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
}

interface Generation {
  readonly table: RouteTable;
  inFlight: number;
  /** Called when a retired generation's last request ends. */
  drained: (() => void) | null;
}

/** One listening proxy with routes, request ids, access log and metrics. */
export class ProxyFront {
  readonly server: Server;
  readonly metrics = new ProxyMetrics();
  private current: Generation;
  private readonly accessLog: AccessLog | null;
  private readonly requestIds: boolean;
  /** Tunnels not yet closed and logged: `close()` waits for their lines. */
  private readonly openTunnels = new Set<Promise<void>>();

  constructor(options: ProxyFrontOptions) {
    this.current = { table: options.routes, inFlight: 0, drained: null };
    this.accessLog = options.accessLog ?? null;
    this.requestIds = options.requestIds ?? true;
    const given = options.server?.onAutoResponse;
    this.server = createServer({
      ...options.server,
      handler: (req, res) => this.handle(req, res),
      onAutoResponse: (r) => {
        this.logAutoResponse(r);
        given?.(r);
      },
    });
  }

  /** The routes now in use. */
  get routes(): RouteTable {
    return this.current.table;
  }

  private async handle(req: ServerRequest, res: ResponseWriter): Promise<void> {
    const time = Date.now();
    const started = performance.now();
    const gen = this.current;
    gen.inFlight++;
    this.metrics.requestStarted();
    const exchange = newExchange(this.requestIds ? requestIdFor(req.headers) : null);
    const route = gen.table.match(req);
    try {
      if (route === null) {
        const headers = new HeaderList({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        if (exchange.requestId !== null) headers.set('x-request-id', exchange.requestId);
        const text = 'no route for this host and path\n';
        exchange.bytes = text.length;
        await res.writeHead(404, headers).end(text).catch(() => {});
      } else {
        await route.proxy.handle(req, res, exchange);
      }
    } finally {
      const record: AccessRecord = {
        time,
        client: req.remoteAddress,
        method: req.method,
        target: req.target,
        versionMinor: req.versionMinor,
        // 499 as nginx logs it: the client went away before any answer was sent.
        status: req.aborted && !res.headSent ? 499 : res.status,
        bytes: exchange.bytes,
        durationMs: performance.now() - started,
        route: route?.name ?? null,
        upstream: exchange.upstream,
        upstreamMs: exchange.upstreamMs,
        retries: exchange.retries,
        cache: exchange.cacheOutcome,
        requestId: exchange.requestId,
        referer: req.headers.get('referer') ?? null,
        userAgent: req.headers.get('user-agent') ?? null,
      };
      this.metrics.requestEnded(record);
      if (exchange.tunnel === null) this.accessLog?.write(record);
      else this.follow(exchange.tunnel, record, started);
      gen.inFlight--;
      if (gen.inFlight === 0 && gen.drained !== null) gen.drained();
    }
  }

  /**
   * Logs and counts a response the server sent without asking the handler (a malformed or stalled
   * request, a body over the limit): an operator expects every response of the front door in its
   * log, as nginx writes its 400s and 408s. Unknown request fields are '-'; the id is a new one
   * (the client's when its head was parsed), for matching the line with what the client reports.
   */
  private logAutoResponse(r: AutoResponse): void {
    const req = r.request;
    const record: AccessRecord = {
      time: Date.now() - r.durationMs,
      client: r.remoteAddress,
      method: req?.method ?? '-',
      target: req?.target ?? '-',
      versionMinor: req?.versionMinor ?? null,
      status: r.status,
      bytes: r.bytes,
      durationMs: r.durationMs,
      route: null,
      upstream: null,
      upstreamMs: null,
      retries: 0,
      cache: null,
      requestId: !this.requestIds ? null : req === null ? randomUUID() : requestIdFor(req.headers),
      referer: req?.headers.get('referer') ?? null,
      userAgent: req?.headers.get('user-agent') ?? null,
    };
    this.metrics.requestStarted();
    this.metrics.requestEnded(record);
    this.accessLog?.write(record);
  }

  /**
   * Counts a tunnel open until it closes, then logs its request, as nginx does a WebSocket's: one
   * line at the close, status 101, the bytes sent to the client and the time until the close.
   */
  private follow(tunnel: Promise<TunnelRecord>, record: AccessRecord, started: number): void {
    const route = record.route ?? '';
    this.metrics.tunnelOpened(route);
    const logged = tunnel.then((t) => {
      this.metrics.tunnelClosed(route, t);
      this.accessLog?.write({ ...record, bytes: t.bytesFromUpstream, durationMs: performance.now() - started, tunnel: t });
      this.openTunnels.delete(logged);
    });
    this.openTunnels.add(logged);
  }

  /**
   * Puts a new route table in place; resolves once the requests that were using the old one have
   * finished and its proxies are closed (their upstream connections released). The caller then
   * closes the old routes' cache stores, which it owns.
   */
  async replaceRoutes(table: RouteTable): Promise<void> {
    const old = this.current;
    this.current = { table, inFlight: 0, drained: null };
    if (old.inFlight > 0) await new Promise<void>((resolve) => (old.drained = resolve));
    await Promise.all(old.table.routes.map((r) => r.proxy.close()));
  }

  /** New certificate and key for new TLS connections (open ones keep theirs). */
  setSecureContext(options: SecureContextOptions): void {
    if (!this.server.secure) throw new InvalidOptionError('tls', 'this proxy does not terminate TLS: it was started without a certificate');
    (this.server.netServer as TlsServer).setSecureContext(options);
  }

  /** Whether the front takes traffic: listening, not closing, and every route has an upstream up. */
  ready(): { ready: boolean; reason: string } {
    if (this.server.closing) return { ready: false, reason: 'shutting down' };
    if (this.server.address() === null) return { ready: false, reason: 'not listening' };
    for (const r of this.current.table.routes) {
      if (!r.proxy.upstreams.some((u) => u.healthy)) return { ready: false, reason: `route ${r.name}: no upstream up` };
    }
    return { ready: true, reason: 'ready' };
  }

  /** This process's metrics now. */
  snapshot(): MetricsSnapshot {
    const gauges: UpstreamGauge[] = [];
    for (const r of this.current.table.routes) {
      for (const u of r.proxy.upstreams) gauges.push({ route: r.name, upstream: u.url, healthy: u.healthy, active: u.active, connections: u.connections });
    }
    return this.metrics.snapshot(gauges, this.server.connectionCount);
  }

  /**
   * Graceful shutdown: the server drains (force-closing after `timeout`), then every route's proxy
   * closes; resolves once every tunnel's access log line is written.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    await this.server.close(options);
    await Promise.all(this.current.table.routes.map((r) => r.proxy.close({ timeout: 0 })));
    // The server closed the tunnels' client sides; their records follow once the upstream sides
    // have closed too (bounded by the tunnel's close timeout), and their lines belong in the log
    // the caller closes next.
    await Promise.all(this.openTunnels);
  }
}
