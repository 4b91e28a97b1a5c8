/**
 * undici's `Pool` (one origin per pool), with `headersTimeout`. Comparison only: undici is a dev
 * dependency, imported dynamically.
 */
import type { ClientSubject } from '../types.ts';
import { optionalModuleClient } from './optional-import.ts';
import { adaptSession, bodyOf, headerRecord } from './session.ts';

interface UndiciBody { arrayBuffer(): Promise<ArrayBuffer> }
interface UndiciPool {
  request(opts: { path: string; method: string; headers?: Record<string, string>; body?: Buffer }): Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined>; body: UndiciBody }>;
  destroy(): Promise<void>;
}
interface UndiciModule { Pool: new (origin: string, opts: Record<string, unknown>) => UndiciPool }

export const undiciPoolClient: ClientSubject = optionalModuleClient<UndiciModule>({
  id: 'undici-pool',
  label: 'undici Pool',
  module: 'undici',
  open(mod, options) {
    const pools = new Map<string, UndiciPool>();
    const poolFor = (origin: string): UndiciPool => {
      let pool = pools.get(origin);
      if (pool === undefined) {
        const opts: Record<string, unknown> = {};
        if (options.timeoutMs !== undefined) opts['headersTimeout'] = options.timeoutMs;
        pool = new mod.Pool(origin, opts);
        pools.set(origin, pool);
      }
      return pool;
    };
    return adaptSession({
      async send(req) {
        const url = new URL(req.url);
        const res = await poolFor(url.origin).request({ path: url.pathname + url.search, method: req.method, headers: req.headers, body: bodyOf(req) });
        const body = await res.body.arrayBuffer();
        return { status: res.statusCode, bodyLength: body.byteLength, headers: headerRecord(res.headers) };
      },
      async close() {
        await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => undefined)));
        pools.clear();
      },
    });
  },
});
