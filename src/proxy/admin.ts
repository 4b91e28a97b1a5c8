/**
 * The admin listener: `/metrics` (Prometheus text exposition), `/healthz` (the process answers)
 * and `/readyz` (it should get traffic). Kept on its own address so that it is never exposed
 * where the proxied traffic is.
 */
import { createServer, type Server } from '../server/index.ts';

/** What the admin listener reports. */
export interface AdminSource {
  /** The metrics text. */
  metrics(): Promise<string>;
  /** Readiness and why. */
  ready(): Promise<{ ready: boolean; reason: string }>;
}

/** A server (not yet listening) answering the admin endpoints from `source`. */
export function createAdminServer(source: AdminSource): Server {
  return createServer({
    handler: async (req, res) => {
      const path = req.target.split('?')[0];
      const plain = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        await res.writeHead(405, { ...plain, allow: 'GET, HEAD' }).end('method not allowed\n');
        return;
      }
      if (path === '/metrics') {
        const text = await source.metrics();
        await res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' }).end(text);
      } else if (path === '/healthz') {
        await res.writeHead(200, plain).end('ok\n');
      } else if (path === '/readyz') {
        const r = await source.ready();
        await res.writeHead(r.ready ? 200 : 503, plain).end(`${r.reason}\n`);
      } else {
        await res.writeHead(404, plain).end('not found: try /metrics, /healthz or /readyz\n');
      }
    },
  });
}
