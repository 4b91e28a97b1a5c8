/**
 * undici's `Pool` (one origin per pool), with `headersTimeout`. Comparison only: undici is a dev
 * dependency, imported dynamically.
 */
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';
import { importOptional } from './optional-import.ts';

interface UndiciBody { arrayBuffer(): Promise<ArrayBuffer> }
interface UndiciPool {
  request(opts: { path: string; method: string; headers?: Record<string, string>; body?: Buffer }): Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined>; body: UndiciBody }>;
  destroy(): Promise<void>;
}
interface UndiciModule { Pool: new (origin: string, opts: Record<string, unknown>) => UndiciPool }

class PoolSession implements ClientSession {
  private readonly pools = new Map<string, UndiciPool>();
  private readonly mod: UndiciModule;
  private readonly options: ClientSessionOptions;

  constructor(mod: UndiciModule, options: ClientSessionOptions) {
    this.mod = mod;
    this.options = options;
  }

  async request(req: LabRequest): Promise<ClientOutcome> {
    const url = new URL(req.url);
    let pool = this.pools.get(url.origin);
    if (pool === undefined) {
      const opts: Record<string, unknown> = {};
      if (this.options.timeoutMs !== undefined) opts['headersTimeout'] = this.options.timeoutMs;
      pool = new this.mod.Pool(url.origin, opts);
      this.pools.set(url.origin, pool);
    }
    try {
      const res = await pool.request({ path: url.pathname + url.search, method: req.method, headers: req.headers, body: req.body === undefined ? undefined : Buffer.from(req.body) });
      const body = await res.body.arrayBuffer();
      return { kind: 'response', status: res.statusCode, bodyLength: body.byteLength, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])) };
    } catch (err) {
      return errorOutcome(err);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}

export const undiciPoolClient: ClientSubject = {
  role: 'client',
  id: 'undici-pool',
  label: 'undici Pool',
  family: 'peer',
  reusesConnections: true,
  available: async () => ((await importOptional<UndiciModule>('undici')) !== undefined ? true : 'not installed: npm i -D undici'),
  open: async (options) => {
    const mod = await importOptional<UndiciModule>('undici');
    if (mod === undefined) throw new Error('undici not installed');
    return new PoolSession(mod, options);
  },
};
