/**
 * A benchmark target, run in its own process by bench/server.ts:
 * `node bench/_server-target.ts <holdfast-fetch|holdfast-fetch-platform|holdfast-stream|hono-node|hono-node-platform|node-http|raw-net>`.
 * `holdfast-fetch` and `hono-node` run at their defaults; the `-platform` variants keep the
 * platform's own `Response` (`lightResponse: false`, `overrideGlobalObjects: false`).
 * Serves the same four handlers on every server and prints the port.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer } from '../src/server/index.ts';

const HELLO = 'Hello, World!';
const JSON_1K = JSON.stringify({ items: Array.from({ length: 22 }, (_, i) => ({ id: i, name: `item-${i}`, ok: i % 2 === 0 })) }).slice(0, 1024);
const BODY_64K = Buffer.alloc(64 * 1024, 0x61);

const kind = process.argv[2];
let port = 0;

/** One fetch handler for every fetch-style server, so they differ only in what runs it. */
const fetchHandler = async (req: Request): Promise<Response> => {
  const path = req.url.slice(req.url.indexOf('/', 8));
  if (path === '/hello') return new Response(HELLO, { headers: { 'content-type': 'text/plain' } });
  if (path === '/json') return new Response(JSON_1K, { headers: { 'content-type': 'application/json' } });
  if (path === '/64k') return new Response(BODY_64K, { headers: { 'content-type': 'application/octet-stream' } });
  if (path === '/echo') return new Response(await req.arrayBuffer(), { headers: { 'content-type': 'application/octet-stream' } });
  return new Response('not found', { status: 404 });
};

if (kind === 'holdfast-fetch' || kind === 'holdfast-fetch-platform') {
  const server = createServer(kind === 'holdfast-fetch' ? { fetch: fetchHandler } : { fetch: fetchHandler, lightResponse: false });
  port = (await server.listen(0, '127.0.0.1')).port;
} else if (kind === 'hono-node' || kind === 'hono-node-platform') {
  // The usual way to run a fetch handler on node:http. Its default replaces the global
  // Request/Response with lighter ones (as holdfast's default does); hono-node-platform keeps
  // the platform's, like holdfast-fetch-platform.
  const { createAdaptorServer } = await import('@hono/node-server');
  const server = createAdaptorServer(kind === 'hono-node' ? { fetch: fetchHandler } : { fetch: fetchHandler, overrideGlobalObjects: false });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
} else if (kind === 'holdfast-stream') {
  const server = createServer({
    handler: async (req, res) => {
      const path = req.target;
      if (path === '/hello') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        await res.end(HELLO);
      } else if (path === '/json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        await res.end(JSON_1K);
      } else if (path === '/64k') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        await res.end(BODY_64K);
      } else if (path === '/echo') {
        const body = await req.body.bytes();
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        await res.end(body);
      } else {
        res.writeHead(404);
        await res.end('not found');
      }
    },
  });
  port = (await server.listen(0, '127.0.0.1')).port;
} else if (kind === 'node-http') {
  const server = http.createServer((req, res) => {
    const path = req.url;
    if (path === '/hello') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(HELLO) });
      res.end(HELLO);
    } else if (path === '/json') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_1K) });
      res.end(JSON_1K);
    } else if (path === '/64k') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY_64K.length });
      res.end(BODY_64K);
    } else if (path === '/echo') {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      });
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
} else if (kind === 'raw-net') {
  // The ceiling: no parsing beyond counting request ends, one canned response per request.
  const canned = (body: string | Buffer, type: string): Buffer => Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nKeep-Alive: timeout=5\r\n\r\n`),
    Buffer.isBuffer(body) ? body : Buffer.from(body),
  ]);
  const responses: Record<string, Buffer> = {
    '/hello': canned(HELLO, 'text/plain'),
    '/json': canned(JSON_1K, 'application/json'),
    '/64k': canned(BODY_64K, 'application/octet-stream'),
  };
  const server = net.createServer({ noDelay: true }, (socket) => {
    let path = '';
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      let from = 0;
      for (;;) {
        const end = text.indexOf('\r\n\r\n', from);
        if (end === -1) break;
        if (path === '') path = text.slice(from + 4, text.indexOf(' ', from + 4));
        socket.write(responses[path] ?? responses['/hello']!);
        from = end + 4;
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
} else {
  process.stderr.write(`unknown target ${String(kind)}\n`);
  process.exit(2);
}
process.stdout.write(`PORT ${port}\n`);
process.on('SIGINT', () => process.exit(0));
