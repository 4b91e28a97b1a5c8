/**
 * Helpers for server scenarios: a server subject started with the lab's settings and always
 * stopped afterwards.
 */
import type { RunningServer, ScenarioOutcome, ServerSubject } from '../types.ts';
import { RawConnection, rawLabel } from '../raw-client.ts';
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
 * slowloris drips): pass when it is answered 200 within `guardMs`, else fail with what happened.
 */
export async function probeAnswered(port: number, guardMs: number): Promise<ScenarioOutcome> {
  const conn = await RawConnection.open(port).catch(() => null);
  if (conn === null) return { status: 'fail', mode: 'probe connection refused' };
  try {
    conn.request('GET', '/');
    const r = await conn.nextResponse(guardMs);
    if (r.kind === 'response' && r.response.status === 200) return { status: 'pass', mode: 'answered' };
    return { status: 'fail', mode: rawLabel(r) };
  } finally {
    conn.destroy();
  }
}
