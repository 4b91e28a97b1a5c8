/**
 * node:http's server running the standard application, keepAliveTimeout set to the lab's idle
 * timeout; graceful shutdown is `server.close()` (which also closes idle connections).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningServer, ServerSubject } from '../types.ts';
import { filler } from '../util.ts';
import { EARLY_BODY_LENGTH, route } from './server-app.ts';

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const r = route(req.method ?? 'GET', req.url ?? '/');
  switch (r.kind) {
    case 'hello':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '6' }).end('hello\n');
      return;
    case 'big':
      res.writeHead(200, { 'content-length': String(r.bytes) }).end(filler(r.bytes));
      return;
    case 'slow': {
      const t = setTimeout(() => res.writeHead(200, { 'content-length': '5' }).end('slow\n'), r.ms);
      res.on('close', () => clearTimeout(t));
      return;
    }
    case 'early':
      // Answer without reading the upload: what an upload-size check does.
      res.writeHead(413, { 'content-length': String(EARLY_BODY_LENGTH) }).end(filler(EARLY_BODY_LENGTH, 0x65));
      return;
    default:
      res.writeHead(404, { 'content-length': '0' }).end();
  }
}

export const nodeHttpServer: ServerSubject = {
  role: 'server',
  id: 'node-http',
  label: 'node:http Server',
  family: 'peer',
  available: async () => true,
  async start(options): Promise<RunningServer> {
    const server = http.createServer(handler);
    server.keepAliveTimeout = options.idleTimeoutMs;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    let closed: Promise<void> | null = null;
    const shutdown = (): Promise<void> => {
      closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closed;
    };
    return {
      host: '127.0.0.1',
      port,
      shutdown,
      async stop() {
        server.closeAllConnections();
        await shutdown();
      },
    };
  },
};
