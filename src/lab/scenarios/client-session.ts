/**
 * Helpers for client scenarios: a session that is always closed, requests bounded by a guard
 * (a hung request becomes a `hung` outcome instead of hanging the lab).
 */
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest, ScenarioOutcome } from '../types.ts';
import { within } from '../util.ts';

/** Default bound on one request of a client scenario. */
export const REQUEST_GUARD_MS = 5000;

/** Opens a session, runs `fn`, always closes the session (bounded). */
export async function withSession<T>(subject: ClientSubject, options: ClientSessionOptions, fn: (session: ClientSession) => Promise<T>): Promise<T> {
  const session = await subject.open(options);
  try {
    return await fn(session);
  } finally {
    await within(session.close(), 3000, () => undefined);
  }
}

/** One request; `hung` if the subject neither answers nor fails within `guardMs`. */
export function guarded(session: ClientSession, req: LabRequest, guardMs = REQUEST_GUARD_MS): Promise<ClientOutcome> {
  const started = performance.now();
  return within(session.request(req), guardMs, (): ClientOutcome => ({ kind: 'hung', afterMs: Math.round(performance.now() - started) }));
}

/** The n/a outcome of scenarios about pooled connections, for clients that never pool. */
export function needsReuse(subject: ClientSubject): ScenarioOutcome | null {
  return subject.reusesConnections ? null : { status: 'n/a', mode: 'opens a new connection per request' };
}

/** Rounds of a scenario at `--repeat 1`, scaled. */
export function rounds(base: number, repeat: number): number {
  return Math.max(1, Math.round(base * repeat));
}
