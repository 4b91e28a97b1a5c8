/**
 * holdfast's own client, two ways: `Agent.request()` (with its `ClientError`s, which say whether
 * the server may have processed the request) and `Agent.fetch()` (the WHATWG contract; the
 * `ClientError` is the `cause` of fetch's `TypeError`). One fresh `Agent` per session, defaults
 * except the timeout a scenario asks for (`headersTimeout`).
 */
import { Agent, ClientError } from '../../client/index.ts';
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';

/** The `ClientError` behind an error, if any (fetch wraps it as `cause`). */
function clientErrorOf(err: unknown): ClientError | undefined {
  if (err instanceof ClientError) return err;
  if (err instanceof Error && err.cause instanceof ClientError) return err.cause;
  return undefined;
}

function holdfastErrorOutcome(err: unknown): ClientOutcome {
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

function agentFor(options: ClientSessionOptions): Agent {
  return new Agent(options.timeoutMs === undefined ? {} : { headersTimeout: options.timeoutMs });
}

class RequestSession implements ClientSession {
  private readonly agent: Agent;

  constructor(options: ClientSessionOptions) {
    this.agent = agentFor(options);
  }

  async request(req: LabRequest): Promise<ClientOutcome> {
    try {
      const res = await this.agent.request(req.url, { method: req.method, headers: req.headers, body: req.body === undefined ? null : Buffer.from(req.body) });
      const body = await res.body.bytes();
      return { kind: 'response', status: res.status, bodyLength: body.length, headers: Object.fromEntries([...res.headers].map(([k, v]) => [k.toLowerCase(), v])) };
    } catch (err) {
      return holdfastErrorOutcome(err);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

class FetchSession implements ClientSession {
  private readonly agent: Agent;

  constructor(options: ClientSessionOptions) {
    this.agent = agentFor(options);
  }

  async request(req: LabRequest): Promise<ClientOutcome> {
    try {
      const res = await this.agent.fetch(req.url, { method: req.method, headers: req.headers, body: req.body === undefined ? undefined : Buffer.from(req.body) });
      const body = await res.arrayBuffer();
      return { kind: 'response', status: res.status, bodyLength: body.byteLength, headers: Object.fromEntries(res.headers) };
    } catch (err) {
      return holdfastErrorOutcome(err);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

export const holdfastRequestClient: ClientSubject = {
  role: 'client',
  id: 'holdfast-request',
  label: 'holdfast request()',
  family: 'holdfast',
  reusesConnections: true,
  available: async () => true,
  open: async (options) => new RequestSession(options),
};

export const holdfastFetchClient: ClientSubject = {
  role: 'client',
  id: 'holdfast-fetch',
  label: 'holdfast fetch()',
  family: 'holdfast',
  reusesConnections: true,
  available: async () => true,
  open: async (options) => new FetchSession(options),
};
