/**
 * Node's global `fetch` (undici inside, one process-wide pool) with `AbortSignal.timeout`.
 */
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';

class FetchSession implements ClientSession {
  private readonly timeoutMs: number | undefined;
  private readonly controller = new AbortController();

  constructor(options: ClientSessionOptions) {
    this.timeoutMs = options.timeoutMs;
  }

  async request(req: LabRequest): Promise<ClientOutcome> {
    const signals = [this.controller.signal];
    if (this.timeoutMs !== undefined) signals.push(AbortSignal.timeout(this.timeoutMs));
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body === undefined ? undefined : Buffer.from(req.body),
        signal: AbortSignal.any(signals),
      });
      const body = await res.arrayBuffer();
      return { kind: 'response', status: res.status, bodyLength: body.byteLength, headers: Object.fromEntries(res.headers) };
    } catch (err) {
      return errorOutcome(err);
    }
  }

  async close(): Promise<void> {
    this.controller.abort();
  }
}

export const nodeFetchClient: ClientSubject = {
  role: 'client',
  id: 'node-fetch',
  label: 'Node global fetch',
  family: 'peer',
  reusesConnections: true,
  available: async () => (typeof fetch === 'function' ? true : 'not installed: no global fetch'),
  open: async (options) => new FetchSession(options),
};
