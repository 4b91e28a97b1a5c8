/**
 * The naive client: a straw man that proves client scenarios have teeth. It keeps one pooled
 * connection per origin and reuses it blindly — no liveness check, no retry, no timeout — and it
 * takes the end of the stream as the end of the body (so it accepts truncated bodies).
 */
import net from 'node:net';
import { ResponseParser } from '../../wire/index.ts';
import type { ClientOutcome, ClientSession, ClientSubject, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';

class NaiveSession implements ClientSession {
  private readonly idle = new Map<string, net.Socket>();
  private readonly all = new Set<net.Socket>();

  request(req: LabRequest): Promise<ClientOutcome> {
    const url = new URL(req.url);
    const origin = url.host;
    let socket = this.idle.get(origin);
    this.idle.delete(origin);
    if (socket === undefined) {
      // allowHalfOpen: a FIN from the server does not end our side, so a dead connection stays in
      // the pool until something is written to it — exactly what a client without a liveness check does.
      socket = net.connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true, noDelay: true });
      socket.on('error', () => { /* reported through the request in flight, if any */ });
      this.all.add(socket);
    }
    const s = socket;
    return new Promise<ClientOutcome>((resolve) => {
      let status = 0;
      let headers: Record<string, string> = {};
      let length = 0;
      let keepAlive = true;
      let settled = false;
      const finish = (o: ClientOutcome, reusable: boolean): void => {
        if (settled) return;
        settled = true;
        s.off('data', onData);
        s.off('end', onEnd);
        s.off('error', onError);
        s.pause();
        if (reusable) this.idle.set(origin, s);
        resolve(o);
      };
      const parser = new ResponseParser({
        onHead: (head) => {
          status = head.status;
          keepAlive = head.keepAlive;
          headers = Object.fromEntries([...head.headers].map(([k, v]) => [k.toLowerCase(), v]));
        },
        onBody: (chunk) => { length += chunk.length; },
        onComplete: () => finish({ kind: 'response', status, bodyLength: length, headers }, keepAlive),
      });
      parser.expect(req.method);
      const onData = (chunk: Buffer): void => {
        try {
          parser.execute(chunk);
        } catch (err) {
          finish(errorOutcome(err), false);
        }
      };
      const onEnd = (): void => {
        // Naive: whatever arrived before the close is the body.
        if (status !== 0) finish({ kind: 'response', status, bodyLength: length, headers }, false);
        else finish({ kind: 'error', code: 'ECONNRESET', message: 'socket hang up', mayHaveBeenProcessed: undefined, timedOut: false }, false);
      };
      const onError = (err: Error): void => {
        if (status !== 0) finish({ kind: 'response', status, bodyLength: length, headers }, false);
        else finish(errorOutcome(err), false);
      };
      s.on('data', onData);
      s.on('end', onEnd);
      s.on('error', onError);
      s.resume();
      const body = req.body === undefined ? Buffer.alloc(0) : Buffer.from(req.body);
      let head = `${req.method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
      for (const [k, v] of Object.entries(req.headers ?? {})) head += `${k}: ${v}\r\n`;
      if (body.length > 0 || req.method === 'POST' || req.method === 'PUT') head += `Content-Length: ${body.length}\r\n`;
      if (s.destroyed) {
        finish({ kind: 'error', code: 'ERR_STREAM_DESTROYED', message: 'write on a dead pooled connection', mayHaveBeenProcessed: undefined, timedOut: false }, false);
        return;
      }
      s.write(Buffer.concat([Buffer.from(`${head}\r\n`), body]));
      // The server's FIN was already read while the connection sat in the pool: like a blocking
      // client, the naive one only learns it now, reading an empty response.
      if (s.readableEnded) onEnd();
    });
  }

  async close(): Promise<void> {
    for (const s of this.all) s.destroy();
    this.all.clear();
    this.idle.clear();
  }
}

/** The naive client subject (`naive-client`). */
export const naiveClient: ClientSubject = {
  role: 'client',
  id: 'naive-client',
  label: 'naive client (lab straw man)',
  family: 'naive',
  reusesConnections: true,
  available: async () => true,
  open: async () => new NaiveSession(),
};
