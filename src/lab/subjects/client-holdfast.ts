/**
 * holdfast's own client, two ways: `Agent.request()` (with its `ClientError`s, which say whether
 * the server may have processed the request) and `Agent.fetch()` (the WHATWG contract; the
 * `ClientError` is the `cause` of fetch's `TypeError`). One fresh `Agent` per session, defaults
 * except the timeout a scenario asks for (`headersTimeout`).
 */
import { Agent, ClientError } from '../../client/index.ts';
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';
import { adaptSession, bodyOf, type ResponseSummary } from './session.ts';

/** The `ClientError` behind an error, if any (fetch wraps it as `cause`). */
function clientErrorOf(err: unknown): ClientError | undefined {
  if (err instanceof ClientError) return err;
  if (err instanceof Error && err.cause instanceof ClientError) return err.cause;
  return undefined;
}

/** An error outcome carrying the `ClientError`'s code, phase and `mayHaveBeenProcessed` when there is one. */
export function holdfastErrorOutcome(err: unknown): ClientOutcome {
  const ce = clientErrorOf(err);
  if (ce === undefined) return errorOutcome(err);
  return {
    kind: 'error',
    code: ce.code,
    message: `${ce.message} (phase ${ce.phase})`,
    mayHaveBeenProcessed: ce.mayHaveBeenProcessed,
    timedOut: ce.code.endsWith('_TIMEOUT'),
  };
}

/** A session over a fresh `Agent`; `send` makes the request through `request()` or `fetch()`. */
function holdfastSession(options: ClientSessionOptions, send: (agent: Agent, req: LabRequest) => Promise<ResponseSummary>): ClientSession {
  const agent = new Agent(options.timeoutMs === undefined ? {} : { headersTimeout: options.timeoutMs });
  return adaptSession({
    send: (req) => send(agent, req),
    close: () => agent.destroy(),
    errorOutcome: holdfastErrorOutcome,
  });
}

export const holdfastRequestClient: ClientSubject = {
  role: 'client',
  id: 'holdfast-request',
  label: 'holdfast request()',
  family: 'holdfast',
  reusesConnections: true,
  available: async () => true,
  open: async (options) => holdfastSession(options, async (agent, req) => {
    const res = await agent.request(req.url, { method: req.method, headers: req.headers, body: bodyOf(req) ?? null });
    const body = await res.body.bytes();
    return { status: res.status, bodyLength: body.length, headers: Object.fromEntries([...res.headers].map(([k, v]) => [k.toLowerCase(), v])) };
  }),
};

export const holdfastFetchClient: ClientSubject = {
  role: 'client',
  id: 'holdfast-fetch',
  label: 'holdfast fetch()',
  family: 'holdfast',
  reusesConnections: true,
  available: async () => true,
  open: async (options) => holdfastSession(options, async (agent, req) => {
    const res = await agent.fetch(req.url, { method: req.method, headers: req.headers, body: bodyOf(req) });
    const body = await res.arrayBuffer();
    return { status: res.status, bodyLength: body.byteLength, headers: Object.fromEntries(res.headers) };
  }),
};
