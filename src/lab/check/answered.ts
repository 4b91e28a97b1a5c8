/**
 * The question preconnect and slowloris probes share: while other connections are held open
 * (silent, or dripping a head), is a real request on a new connection answered in time?
 */
import type { Endpoint, ProbeFinding } from './types.ts';
import { rawLabel } from '../raw-client.ts';
import { connect } from './connections.ts';

/** A GET on a new connection: pass when answered (any complete response) within `guardMs`. */
export async function answeredMeanwhile(ep: Endpoint, path: string, guardMs: number): Promise<ProbeFinding> {
  const started = performance.now();
  const conn = await connect(ep).catch(() => null);
  if (conn === null) return { status: 'fail', summary: 'probe connection refused', evidence: [] };
  try {
    conn.request('GET', path);
    const r = await conn.nextResponse(guardMs);
    const took = Math.round(performance.now() - started);
    if (r.kind === 'response') return { status: 'pass', summary: `answered ${r.response.status} in ${took} ms`, evidence: [`GET ${path} on a new connection → ${r.response.status} after ${took} ms`] };
    return { status: 'fail', summary: rawLabel(r), evidence: [`GET ${path} on a new connection → ${rawLabel(r)}`] };
  } finally {
    conn.destroy();
  }
}
