/**
 * got on a keep-alive `http.Agent`, with its default retry policy and `timeout.response`.
 * Comparison only (dev dependency).
 */
import http from 'node:http';
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';
import { importOptional } from './optional-import.ts';

interface GotResponse { statusCode: number; rawBody: Buffer; headers: Record<string, unknown> }
type Got = (url: string, options: Record<string, unknown>) => Promise<GotResponse>;
interface GotModule { default: Got }

class GotSession implements ClientSession {
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly got: Got;
  private readonly timeoutMs: number | undefined;

  constructor(mod: GotModule, options: ClientSessionOptions) {
    this.got = mod.default;
    this.timeoutMs = options.timeoutMs;
  }

  async request(req: LabRequest): Promise<ClientOutcome> {
    try {
      const res = await this.got(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body === undefined ? undefined : Buffer.from(req.body),
        agent: { http: this.agent },
        timeout: this.timeoutMs === undefined ? {} : { response: this.timeoutMs },
        // got's retry policy as is, but backoff capped so the lab stays fast (default waits ~1 s, 2 s).
        retry: { limit: 2, backoffLimit: 100 },
        throwHttpErrors: false,
        followRedirect: false,
        responseType: 'buffer',
      });
      return { kind: 'response', status: res.statusCode, bodyLength: res.rawBody.length, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])) };
    } catch (err) {
      return errorOutcome(err);
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

export const gotClient: ClientSubject = {
  role: 'client',
  id: 'got',
  label: 'got (keep-alive agent)',
  family: 'peer',
  reusesConnections: true,
  available: async () => ((await importOptional<GotModule>('got')) !== undefined ? true : 'not installed: npm i -D got'),
  open: async (options) => {
    const mod = await importOptional<GotModule>('got');
    if (mod === undefined) throw new Error('got not installed');
    return new GotSession(mod, options);
  },
};
