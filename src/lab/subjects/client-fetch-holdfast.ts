/**
 * Code written against `fetch` and undici, unchanged, running on holdfast through the undici
 * dispatcher contract (`HoldfastDispatcher`, what `holdfast/register` installs globally):
 *
 * - `node-fetch+holdfast`: Node's built-in `fetch`, the exact code of the `node-fetch` row, with
 *   holdfast as its dispatcher (the handler shape Node's bundled undici passes).
 * - `undici+holdfast`: the `undici` package's `request()` (the handler shape with a controller).
 *
 * The dispatcher is passed per call rather than installed globally: the lab runs cells in
 * parallel in one process, and a global dispatcher would also carry the `node-fetch` row.
 * `test/client/register.test.ts` covers the global installation in a process of its own.
 */
import { Agent, HoldfastDispatcher } from '../../client/index.ts';
import type { ClientSession, ClientSessionOptions, ClientSubject } from '../types.ts';
import { holdfastErrorOutcome } from './client-holdfast.ts';
import { importOptional } from './optional-import.ts';
import { adaptSession, bodyOf, headerRecord, type SessionAdapter } from './session.ts';

function dispatcherSession(options: ClientSessionOptions, send: (dispatcher: HoldfastDispatcher) => SessionAdapter['send']): ClientSession {
  const dispatcher = new HoldfastDispatcher(new Agent(options.timeoutMs === undefined ? {} : { headersTimeout: options.timeoutMs }));
  return adaptSession({
    send: send(dispatcher),
    close: () => dispatcher.destroy(),
    errorOutcome: holdfastErrorOutcome,
  });
}

export const nodeFetchHoldfastClient: ClientSubject = {
  role: 'client',
  id: 'node-fetch+holdfast',
  label: 'Node global fetch + holdfast dispatcher',
  family: 'holdfast',
  reusesConnections: true,
  available: async () => (typeof fetch === 'function' ? true : 'not installed: no global fetch'),
  open: async (options) => dispatcherSession(options, (dispatcher) => async (req) => {
    // `dispatcher` is undici's extension of RequestInit, which Node's fetch honours. Its type
    // names undici's whole Dispatcher class (request, stream, pipeline...), of which fetch calls
    // only `dispatch`.
    const init = { method: req.method, headers: req.headers, body: bodyOf(req), dispatcher } as unknown as RequestInit;
    const res = await fetch(req.url, init);
    const body = await res.arrayBuffer();
    return { status: res.status, bodyLength: body.byteLength, headers: Object.fromEntries(res.headers) };
  }),
};

interface UndiciModule {
  request(url: string, opts: { method: string; headers?: Record<string, string>; body?: Buffer; dispatcher: unknown }): Promise<{
    statusCode: number;
    headers: Record<string, string | string[] | undefined>;
    body: { arrayBuffer(): Promise<ArrayBuffer> };
  }>;
}

export const undiciHoldfastClient: ClientSubject = {
  role: 'client',
  id: 'undici+holdfast',
  label: 'undici request() + holdfast dispatcher',
  family: 'holdfast',
  reusesConnections: true,
  available: async () => ((await importOptional<UndiciModule>('undici')) !== undefined ? true : 'not installed: npm i -D undici'),
  open: async (options) => {
    const undici = await importOptional<UndiciModule>('undici');
    if (undici === undefined) throw new Error('undici not installed');
    return dispatcherSession(options, (dispatcher) => async (req) => {
      const res = await undici.request(req.url, { method: req.method, headers: req.headers, body: bodyOf(req), dispatcher });
      const body = await res.body.arrayBuffer();
      return { status: res.statusCode, bodyLength: body.byteLength, headers: headerRecord(res.headers) };
    });
  },
};
