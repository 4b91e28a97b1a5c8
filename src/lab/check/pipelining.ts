/**
 * Pipelined requests (seed 002): three GETs written in one packet must get three complete
 * responses, in order — or a response that announces `Connection: close`, after which the client
 * resends the rest (RFC 9112 §9.3.2). A server that reads one request per read loses the others.
 */
import type { CheckProbe, Endpoint, ProbeFinding } from './types.ts';
import { rawLabel } from '../raw-client.ts';
import { connect } from './connections.ts';

/** How one pipelined round went: `failure` null when every response came or a close was announced. */
export interface PipelineRound {
  failure: string | null;
  /** Set when a response announced `Connection: close` before the last one. */
  note: string | null;
  evidence: string[];
}

/**
 * Writes GETs for `paths` in one packet and reads the responses. With `sizes`, response i must
 * have sizes[i] body bytes (the order is checked through the sizes).
 */
export async function pipelineRound(ep: Endpoint, paths: readonly string[], sizes: readonly number[] | null, guardMs: number): Promise<PipelineRound> {
  const conn = await connect(ep);
  const evidence: string[] = [];
  try {
    conn.expect('GET', paths.length);
    conn.socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: ${ep.authority}\r\n\r\n`).join(''));
    evidence.push(`${paths.length} GETs written in one packet: ${paths.join(', ')}`);
    for (let i = 0; i < paths.length; i++) {
      const r = await conn.nextResponse(guardMs);
      if (r.kind !== 'response') {
        evidence.push(`response ${i + 1}: ${rawLabel(r)}`);
        return { failure: `answered ${i} of ${paths.length}, then ${rawLabel(r)}`, note: null, evidence };
      }
      const close = r.response.headers.get('connection')?.toLowerCase() === 'close';
      evidence.push(`response ${i + 1}: ${r.response.status}, ${r.response.bodyLength} body bytes${close ? ', Connection: close' : ''}`);
      const want = sizes?.[i];
      if (want !== undefined && r.response.bodyLength !== want) return { failure: `response ${i + 1} has ${r.response.bodyLength} bytes, not ${want}`, note: null, evidence };
      // Only an unannounced loss is a failure: after an announced close the client resends.
      if (close && i < paths.length - 1) return { failure: null, note: `Connection: close after ${i + 1} of ${paths.length}`, evidence };
    }
    return { failure: null, note: null, evidence };
  } finally {
    conn.destroy();
  }
}

export const pipeliningProbe: CheckProbe = {
  id: 'pipelining',
  title: 'Pipelined requests',
  description: 'Three GETs of the URL written in one packet: three complete responses must come back, or one must announce Connection: close before the rest are dropped.',
  labScenario: 'pipelined',
  limitMs: 10_000,
  async run(ctx): Promise<ProbeFinding> {
    const p = ctx.target.path;
    const r = await pipelineRound(ctx.target, [p, p, p], null, 2000 * ctx.scale);
    if (r.failure !== null) return { status: 'fail', summary: r.failure, evidence: r.evidence };
    return { status: 'pass', summary: r.note ?? '3 of 3 answered in one packet', evidence: r.evidence };
  },
};
