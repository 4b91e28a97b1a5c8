/**
 * The scripted loopback server peer of client scenarios. It parses requests with holdfast's
 * wire parser and lets a scenario decide, per request, to answer, to close with FIN (a lingering
 * close, as a good server would) or to reset (RST), at the exact moment a request arrives.
 */
import net from 'node:net';
import { RequestParser, type RequestHead } from '../wire/index.ts';

/** A complete request as the peer received it. */
export interface PeerRequest {
  head: RequestHead;
  body: Buffer;
}

/** What the peer does when the first bytes of a request arrive. */
export type ArrivalAction = 'answer' | 'fin' | 'rst';

export interface PeerHandlers {
  /**
   * The first bytes of request number `n` (0-based, per connection) have arrived. Returning `fin`
   * or `rst` closes the connection at once, unanswered: the race of seed 000, made deterministic.
   */
  onArrival?(conn: PeerConnection, n: number): ArrivalAction;
  /** A complete request arrived (unless `onArrival` closed the connection). */
  onRequest(conn: PeerConnection, req: PeerRequest, n: number): void;
  onConnection?(conn: PeerConnection): void;
}

/** One accepted connection of a scripted peer. */
export class PeerConnection {
  readonly socket: net.Socket;
  /** 0-based accept order on this peer. */
  readonly index: number;
  /** Requests whose first bytes arrived on this connection. */
  arrived = 0;
  private closed = false;

  constructor(socket: net.Socket, index: number) {
    this.socket = socket;
    this.index = index;
  }

  /** Writes a complete response with Content-Length (no Keep-Alive hint unless given). */
  respond(status: number, body: Buffer | string, headers: Record<string, string> = {}): void {
    if (this.closed) return;
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    let head = `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Status'}\r\nContent-Length: ${payload.length}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    this.socket.write(Buffer.concat([Buffer.from(`${head}\r\n`), payload]));
  }

  /** Writes raw bytes. */
  write(bytes: Buffer | string): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** Lingering close: FIN now, read and discard until the client's FIN, bounded at 2 s. */
  fin(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    this.socket.resume();
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  /** Abortive close: the client sees RST (ECONNRESET). */
  rst(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.resetAndDestroy();
  }

  get isClosed(): boolean {
    return this.closed || this.socket.destroyed;
  }
}

/** A loopback server whose behaviour is scripted by a scenario. */
export class ScriptedPeer {
  readonly server: net.Server;
  readonly connections: PeerConnection[] = [];
  private readonly handlers: PeerHandlers;

  private constructor(handlers: PeerHandlers, server: net.Server) {
    this.handlers = handlers;
    this.server = server;
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts a peer on 127.0.0.1 (port 0 = a random free port). */
  static async start(handlers: PeerHandlers, options: { port?: number; reusePort?: boolean } = {}): Promise<ScriptedPeer> {
    // allowHalfOpen: the peer decides itself when to close, after the client's FIN.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    const peer = new ScriptedPeer(handlers, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: options.port ?? 0, reusePort: options.reusePort ?? false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return peer;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Stops listening and destroys every connection at once (a process exit: FIN to idle clients). */
  kill(): void {
    this.server.close();
    for (const c of this.connections) c.socket.destroy();
  }

  async close(): Promise<void> {
    this.kill();
    await new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
  }

  private accept(socket: net.Socket): void {
    const conn = new PeerConnection(socket, this.connections.length);
    this.connections.push(conn);
    socket.on('error', () => { /* clients reset connections; that is the point */ });
    socket.on('end', () => {
      // The client half-closed: finish our side too (a lingering close ends here).
      if (!socket.destroyed) socket.end();
      setImmediate(() => socket.destroy());
    });
    this.handlers.onConnection?.(conn);
    let current: { head: RequestHead; chunks: Buffer[] } | null = null;
    let n = 0;
    const parser = new RequestParser({
      onHead: (head) => { current = { head, chunks: [] }; },
      onBody: (chunk) => { current?.chunks.push(Buffer.from(chunk)); },
      onComplete: () => {
        const req = current;
        current = null;
        if (req === null) return;
        const index = n++;
        if (conn.isClosed) return;
        this.handlers.onRequest(conn, { head: req.head, body: Buffer.concat(req.chunks) }, index);
      },
    });
    socket.on('data', (chunk: Buffer) => {
      if (conn.isClosed) return;
      if (parser.idle) {
        const action = this.handlers.onArrival?.(conn, conn.arrived) ?? 'answer';
        conn.arrived++;
        if (action === 'fin') return conn.fin();
        if (action === 'rst') return conn.rst();
      }
      try {
        parser.execute(chunk);
      } catch {
        conn.rst();
      }
    });
  }
}
