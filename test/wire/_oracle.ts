/**
 * Differential oracle: Node's own HTTP/1.1 parser (llhttp, strict mode) behind a node:http
 * server on 127.0.0.1, and holdfast's RequestParser, given the same raw bytes. Both are reduced
 * to the same `Outcome`: the requests delivered (method, target, header lines, body bytes,
 * whether the body completed) and whether the stream was rejected.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { RequestParser, WireError, type RequestHead } from '../../src/wire/index.ts';

export interface Delivered {
  method: string;
  target: string;
  headers: [string, string][];
  body: string; // latin1
  complete: boolean;
}

export interface Outcome {
  rejected: boolean;
  /** Why (holdfast: error code; node: clientError code or the status it answered). */
  reason: string | null;
  messages: Delivered[];
  /** holdfast only: the stream switched to a tunnel (CONNECT). */
  tunnel?: boolean;
}

/** Runs holdfast's parser over `bytes`, then signals EOF, as the oracle's client does. */
export function holdfastOutcome(bytes: Buffer): Outcome {
  const messages: Delivered[] = [];
  let cur: (Delivered & { keepAlive: boolean }) | null = null;
  let stop = false;
  const parser = new RequestParser({
    onHead(head: RequestHead) {
      cur = { method: head.method, target: head.target, headers: head.headers.entries(), body: '', complete: false, keepAlive: head.keepAlive };
      if (!stop) messages.push(cur);
    },
    onBody(chunk) { if (cur !== null) cur.body += chunk.toString('latin1'); },
    onComplete() {
      if (cur === null) return;
      cur.complete = true;
      // A server stops reading after a request that ends the connection; so does node:http.
      if (!cur.keepAlive) stop = true;
    },
  });
  let rejected = false;
  let reason: string | null = null;
  try {
    parser.execute(bytes);
    if (!parser.upgraded) parser.finish();
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    if (!stop) {
      rejected = true;
      reason = err.code;
    }
  }
  return { rejected, reason, messages: messages.map(({ method, target, headers, body, complete }) => ({ method, target, headers, body, complete })), tunnel: parser.upgraded };
}

interface ConnRecord {
  messages: Delivered[];
  clientError: string | null;
}

/** A node:http server on loopback that records what its parser delivered, per client port. */
export class NodeOracle {
  private server: http.Server;
  /**
   * Rendezvous of the two ends of each connection by port: whichever of the client's 'connect'
   * and the server's 'connection' comes second links them, so a reused port can never hand one
   * connection's record to another.
   */
  private offered = new Map<number, ConnRecord>();
  private claimed = new Map<number, (rec: ConnRecord) => void>();
  /** Records by server-side socket, so late events of an old connection never leak into a new one. */
  private bySocket = new WeakMap<net.Socket, ConnRecord>();
  private port = 0;

  constructor() {
    // Node's own Host check (requireHostHeader) answers 400 and may then be lost to a TCP reset;
    // the same check is done here, in the handler, so the verdict never depends on reading it.
    this.server = http.createServer({ keepAliveTimeout: 5000, requireHostHeader: false });
    this.server.on('connection', (socket: net.Socket) => {
      const rec: ConnRecord = { messages: [], clientError: null };
      this.bySocket.set(socket, rec);
      const port = socket.remotePort!;
      const waiter = this.claimed.get(port);
      if (waiter !== undefined) {
        this.claimed.delete(port);
        waiter(rec);
      } else {
        this.offered.set(port, rec);
      }
    });
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const rec = this.record(req.socket);
      const reject = () => {
        res.writeHead(400, { connection: 'close' });
        res.end();
      };
      if (rec.clientError !== null) return reject();
      if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && !req.headers.host) {
        // Exactly node:http's requireHostHeader rule (lib/_http_server.js).
        rec.clientError = 'MISSING_HOST';
        return reject();
      }
      const m: Delivered = { method: req.method!, target: req.url!, headers: pairs(req.rawHeaders), body: '', complete: false };
      rec.messages.push(m);
      req.on('data', (c: Buffer) => { m.body += c.toString('latin1'); });
      req.on('end', () => {
        m.complete = true;
        res.writeHead(200, { 'content-length': '2' });
        res.end('ok');
      });
      req.on('error', () => {});
    });
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket) => {
      const rec = this.record(req.socket);
      rec.messages.push({ method: req.method!, target: req.url!, headers: pairs(req.rawHeaders), body: '', complete: true });
      socket.destroy();
    });
    this.server.on('clientError', (err: Error & { code?: string }, socket: net.Socket) => {
      const rec = this.record(socket);
      // The first verdict stands (a later HPE_CLOSED_CONNECTION must not hide a MISSING_HOST).
      rec.clientError ??= err.code ?? 'ERR';
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
    });
  }

  private record(socket: net.Socket): ConnRecord {
    let r = this.bySocket.get(socket);
    if (r === undefined) {
      r = { messages: [], clientError: null };
      this.bySocket.set(socket, r);
    }
    return r;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Sends `bytes` on a fresh connection, half-closes, and waits for the server to be done. */
  send(bytes: Buffer, timeoutMs = 3000): Promise<Outcome> {
    return new Promise((resolve) => {
      const sock = net.connect(this.port, '127.0.0.1');
      let rec: ConnRecord = { messages: [], clientError: 'NO_SERVER_SIDE' };
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        // Let the server's handlers for this connection run to completion.
        setImmediate(() => {
          const rejected = rec.clientError !== null;
          resolve({ rejected, reason: rec.clientError, messages: rec.messages });
        });
      };
      const timer = setTimeout(done, timeoutMs);
      sock.on('connect', () => {
        const port = sock.localPort!;
        const offered = this.offered.get(port);
        if (offered !== undefined) {
          this.offered.delete(port);
          rec = offered;
        } else {
          this.claimed.set(port, (r) => { rec = r; });
        }
        sock.end(bytes);
      });
      sock.on('data', () => {});
      sock.on('error', () => {});
      sock.on('close', done);
    });
  }
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k]!, k);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
