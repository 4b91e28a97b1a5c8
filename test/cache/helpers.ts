/** Test helpers for the cache: loopback origin servers, a node:http `next`, a fake clock. */
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderList } from '../../src/cache/index.ts';
import type { CacheRequest, CacheResponse, Next } from '../../src/cache/index.ts';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface Origin {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** Start a loopback origin on 127.0.0.1, port 0. `handler` gets the request number (0-based). */
export async function startOrigin(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void, now?: () => number): Promise<Origin> {
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const n = requests.length;
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    req.resume();
    // With a fake clock, the origin's Date follows it, as a real origin's would follow real time.
    if (now !== undefined) res.setHeader('date', new Date(now()).toUTCString());
    req.on('end', () => handler(req, res, n));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Flat raw header array -> header list. */
export function pairs(raw: string[]): HeaderList {
  const out = new HeaderList();
  for (let i = 0; i + 1 < raw.length; i += 2) out.append(raw[i]!, raw[i + 1]!);
  return out;
}

/** A `next` hop over node:http with a keep-alive agent; buffers the body. */
export function httpNext(agent: http.Agent = new http.Agent({ keepAlive: true, maxSockets: 16 })): Next & { agent: http.Agent } {
  const fn = (req: CacheRequest): Promise<CacheResponse> =>
    new Promise((resolve, reject) => {
      const u = new URL(req.url);
      const headers: Record<string, string[]> = {};
      for (const [n, v] of req.headers) (headers[n.toLowerCase()] ??= []).push(v);
      const r = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: req.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: pairs(res.rawHeaders), body: new Uint8Array(Buffer.concat(chunks)) }),
        );
      });
      r.on('error', reject);
      r.end();
    });
  return Object.assign(fn, { agent });
}

/** A settable clock starting at the real time. */
export function fakeClock(): { now: () => number; advance(seconds: number): void } {
  let t = Date.now();
  return {
    now: () => t,
    advance(seconds: number) {
      t += seconds * 1000;
    },
  };
}

/** Body of a cache response as a string. */
export async function text(res: CacheResponse): Promise<string> {
  if (res.body instanceof Uint8Array) return Buffer.from(res.body).toString('utf8');
  const chunks: Uint8Array[] = [];
  for await (const c of res.body) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

export function header(res: { headers: HeaderList }, name: string): string | undefined {
  return res.headers.first(name);
}

/** GET request helper. */
export function get(url: string, headers: HeaderList = new HeaderList()): CacheRequest {
  return { method: 'GET', url, headers };
}
