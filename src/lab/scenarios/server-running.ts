/**
 * Helpers for server scenarios: a server subject started with the lab's settings and always
 * stopped afterwards.
 */
import type { RunningServer, ScenarioOutcome, ServerSubject } from '../types.ts';
import { answeredMeanwhile } from '../check/answered.ts';
import { labOutcome } from '../check/lab-outcome.ts';
import { within } from '../util.ts';

/** Idle keep-alive timeout the lab configures on every server that lets it be set. */
export const SERVER_IDLE_MS = 1000;

export async function withServer<T>(subject: ServerSubject, fn: (server: RunningServer) => Promise<T>): Promise<T> {
  const server = await subject.start({ idleTimeoutMs: SERVER_IDLE_MS });
  try {
    return await fn(server);
  } finally {
    await within(server.stop(), 5000, () => undefined);
  }
}

/**
 * A real request on a new connection while the scenario holds others open (silent preconnects,
 * slowloris drips): pass when it is answered within `guardMs`, else fail with what happened
 * (the measurement of `holdfast check`'s preconnect and slowloris probes).
 */
export async function probeAnswered(port: number, guardMs: number): Promise<ScenarioOutcome> {
  const r = await answeredMeanwhile({ host: '127.0.0.1', port, authority: '127.0.0.1' }, '/', guardMs);
  return r.status === 'pass' ? { status: 'pass', mode: 'answered' } : labOutcome(r);
}
