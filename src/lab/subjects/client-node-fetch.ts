/**
 * Node's global `fetch` (undici inside, one process-wide pool) with `AbortSignal.timeout`.
 */
import type { ClientSubject } from '../types.ts';
import { adaptSession, bodyOf } from './session.ts';

export const nodeFetchClient: ClientSubject = {
  role: 'client',
  id: 'node-fetch',
  label: 'Node global fetch',
  family: 'peer',
  reusesConnections: true,
  available: async () => (typeof fetch === 'function' ? true : 'not installed: no global fetch'),
  open: async (options) => {
    const controller = new AbortController();
    return adaptSession({
      async send(req) {
        const signals = [controller.signal];
        if (options.timeoutMs !== undefined) signals.push(AbortSignal.timeout(options.timeoutMs));
        const res = await fetch(req.url, { method: req.method, headers: req.headers, body: bodyOf(req), signal: AbortSignal.any(signals) });
        const body = await res.arrayBuffer();
        return { status: res.status, bodyLength: body.byteLength, headers: Object.fromEntries(res.headers) };
      },
      close: () => controller.abort(),
    });
  },
};
