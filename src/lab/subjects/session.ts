/**
 * The shape most in-process client subjects share: a session whose `request` makes one call
 * through the library and summarises the response, with anything thrown turned into an error
 * outcome. A subject supplies only the call, the summary and how to release its pool.
 */
import type { ClientOutcome, ClientSession, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';

/** A response outcome without its `kind`: what a subject's `send` reports. */
export type ResponseSummary = Omit<Extract<ClientOutcome, { kind: 'response' }>, 'kind'>;

export interface SessionAdapter {
  /** Makes one request through the library and summarises its response; throws on failure. */
  send(req: LabRequest): Promise<ResponseSummary>;
  /** Releases the library's connections. */
  close(): Promise<void> | void;
  /** Turns a thrown error into an outcome (default `errorOutcome`). */
  errorOutcome?: (err: unknown) => ClientOutcome;
}

export function adaptSession(adapter: SessionAdapter): ClientSession {
  const toOutcome = adapter.errorOutcome ?? ((err: unknown) => errorOutcome(err));
  return {
    async request(req) {
      try {
        return { kind: 'response', ...(await adapter.send(req)) };
      } catch (err) {
        return toOutcome(err);
      }
    },
    async close() {
      await adapter.close();
    },
  };
}

/** The request body as the `Buffer` most libraries take (`undefined` without a body). */
export function bodyOf(req: LabRequest): Buffer | undefined {
  return req.body === undefined ? undefined : Buffer.from(req.body);
}

/** Response headers as a record of strings (a multi-valued header as `String()` joins it). */
export function headerRecord(headers: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]));
}
