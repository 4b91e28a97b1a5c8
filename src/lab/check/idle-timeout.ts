/**
 * Seed 000 from the server's side: when does the server close an idle keep-alive connection, and
 * does it tell clients first? No server can answer a request that crosses its FIN; what it can do
 * is advertise `Keep-Alive: timeout=N` and close later than that, so that clients that honour
 * the hint retire the connection first. The lab's `request-at-idle-timeout` scenario runs this
 * same measurement against the servers it starts.
 */
import type { CheckProbe, Endpoint, ProbeFinding } from './types.ts';
import type { RawResult } from '../raw-client.ts';
import { sleep } from '../util.ts';
import { connect } from './connections.ts';
import { describeIdle, watchIdle } from './idle-watch.ts';

/**
 * A client's idle clock starts when it receives a response, the server's when it sends it: a
 * request sent just before the advertised timeout reaches the server up to one round trip after
 * it. A server that closes within this margin of its own hint leaves no room for network delay.
 */
export const IDLE_MARGIN_MS = 100;
/** Common clients (Node, requests, browsers) ask for keep-alive explicitly; Apache only then sends its hint. */
const KEEP_ALIVE = { Connection: 'keep-alive' };

/** `Keep-Alive: timeout=N` of a response, in seconds. */
export function hintSeconds(r: RawResult): number | null {
  if (r.kind !== 'response') return null;
  const ka = r.response.headers.get('keep-alive');
  const m = ka === undefined ? null : /timeout[ \t]*=[ \t]*(\d+)/i.exec(ka);
  return m === null ? null : Number(m[1]);
}

/** Sends a GET on a fresh connection `delays[i]` ms after a first answered GET; counts lost requests. */
async function sweep(ep: Endpoint, path: string, delays: number[], guardMs: number): Promise<{ lost: number; sent: number }> {
  const results = await Promise.all(delays.map(async (delay) => {
    const conn = await connect(ep);
    try {
      conn.request('GET', path, KEEP_ALIVE);
      const first = await conn.nextResponse(guardMs);
      if (first.kind !== 'response') return 'lost';
      await sleep(Math.max(0, delay));
      if (conn.endedBy !== null) return 'seen-closed';
      conn.request('GET', path, KEEP_ALIVE);
      const second = await conn.nextResponse(guardMs);
      return second.kind === 'response' ? 'answered' : 'lost';
    } finally {
      conn.destroy();
    }
  }));
  return { lost: results.filter((r) => r === 'lost').length, sent: results.filter((r) => r !== 'seen-closed').length };
}

export interface IdleTimeoutOptions {
  path: string;
  /** How long to watch an idle connection for its close. */
  observeMs: number;
  /** Bound on each response. */
  guardMs: number;
}

/**
 * One measurement: the hint, the real idle close (time, FIN or RST, bytes written first), and
 * requests sent at the real close instant and just before the hint.
 */
export async function measureIdleTimeout(ep: Endpoint, o: IdleTimeoutOptions): Promise<ProbeFinding> {
  const evidence: string[] = [];
  const conn = await connect(ep);
  let hint: number | null;
  let closedAt: number | null;
  let rst = false;
  let wrote = false;
  try {
    conn.request('GET', o.path, KEEP_ALIVE);
    const r = await conn.nextResponse(o.guardMs);
    if (r.kind !== 'response') return { status: 'fail', summary: `first request: ${r.kind === 'hung' ? 'no answer' : r.how}`, evidence };
    hint = hintSeconds(r);
    evidence.push(`GET ${o.path} → ${r.response.status}; Keep-Alive: ${r.response.headers.get('keep-alive') ?? '(none)'}; Connection: ${r.response.headers.get('connection') ?? '(none)'}`);
    if (r.response.headers.get('connection')?.toLowerCase() === 'close') return { status: 'n/a', summary: 'closes after every response: no idle connection to race', evidence };
    const idle = await watchIdle(conn, o.observeMs);
    evidence.push(`idle connection: ${describeIdle(idle, o.observeMs)}`);
    closedAt = idle.closedAfterMs;
    rst = idle.how !== null && idle.how !== 'fin' && idle.how !== 'closed';
    wrote = idle.unsolicited > 0;
  } finally {
    conn.destroy();
  }
  const hintText = hint === null ? 'no Keep-Alive hint' : `hint timeout=${hint}`;
  if (closedAt === null) {
    return { status: 'pass', summary: `kept an idle connection open ≥ ${(o.observeMs / 1000).toFixed(1)} s (${hintText})`, evidence };
  }
  const at = closedAt;
  const edge = hint === null ? null : hint * 1000;
  // Both sweeps at once: each takes as long as the idle timeout itself.
  const [atClose, beforeHint] = await Promise.all([
    sweep(ep, o.path, [at - 20, at - 10, at - 5, at - 2, at, at + 2], o.guardMs),
    edge === null || at < edge ? null : sweep(ep, o.path, [edge - 40, edge - 20, edge - 10, edge - 5, edge - 2], o.guardMs),
  ]);
  const seen = 6 - atClose.sent;
  evidence.push(`requests sent at the real close instant (${at - 20}..${at + 2} ms after a response): lost ${atClose.lost} of ${atClose.sent}${seen > 0 ? ` (${seen} more saw the close before sending)` : ''}`);
  if (hint === null || edge === null) return { status: 'fail', summary: `no Keep-Alive hint; closes idle connections after ${at} ms${atClose.sent > 0 ? `, lost ${atClose.lost}/${atClose.sent} requests sent then` : ''}`, evidence };
  if (beforeHint === null) return { status: 'fail', summary: `closes idle connections after ${at} ms, before its own hint timeout=${hint}`, evidence };
  evidence.push(`requests sent just before the hint (${edge - 40}..${edge - 2} ms): lost ${beforeHint.lost} of ${beforeHint.sent}`);
  if (at < edge + IDLE_MARGIN_MS) {
    return { status: 'fail', summary: `hint timeout=${hint} but closes after ${at} ms: no margin for network delay${beforeHint.lost > 0 ? `; lost ${beforeHint.lost}/${beforeHint.sent}` : ''}`, evidence };
  }
  if (beforeHint.lost > 0) return { status: 'fail', summary: `lost ${beforeHint.lost}/${beforeHint.sent} requests sent just before hint timeout=${hint}`, evidence };
  if (wrote) return { status: 'warn', summary: `hint timeout=${hint}, closes after ${at} ms, but writes to the idle connection first`, evidence };
  if (rst) return { status: 'warn', summary: `hint timeout=${hint}, closes after ${at} ms, with an RST (a client may lose a response in flight)`, evidence };
  return { status: 'pass', summary: `hint timeout=${hint}, closes after ${at} ms (FIN)`, evidence };
}

export const idleTimeoutProbe: CheckProbe = {
  id: 'idle-timeout',
  title: 'Idle timeout: hint, real close, request at the close',
  description: 'GET with Connection: keep-alive, then idle: is a Keep-Alive: timeout=N hint advertised, when and how (FIN/RST) is the idle connection closed, is the close ≥ 100 ms after the hint, are requests sent at the real close instant and just before the hint answered? Pass = hint and margin and no loss before the hint, or the connection kept open for the whole watch.',
  labScenario: 'request-at-idle-timeout',
  limitMs: 25_000,
  run: (ctx) => measureIdleTimeout(ctx.target, { path: ctx.target.path, observeMs: 8000 * ctx.scale, guardMs: 3000 * ctx.scale }),
};
