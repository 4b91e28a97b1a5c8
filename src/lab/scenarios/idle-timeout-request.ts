/**
 * Seed 000 from the server's side: a request sent exactly as the server's idle timeout fires.
 * No server can answer a request that crosses its FIN; what a server can do is advertise
 * `Keep-Alive: timeout=N` and close later than that, so that clients that honour the hint retire
 * the connection first. The lab measures when the server really closes an idle connection, then
 * sends requests at that moment (no hint) or just before the advertised timeout (hint). With
 * `--repeat`, every round measures and sweeps again on the same server.
 */
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { RawConnection, type RawResult } from '../raw-client.ts';
import { repeatRounds, sleep } from '../util.ts';
import { rounds } from './client-session.ts';
import { withServer } from './server-running.ts';

const OBSERVE_MS = 3000;
/**
 * A client's idle clock starts when it receives a response, the server's when it sends it: a
 * request sent just before the advertised timeout reaches the server up to one round trip after
 * it. A server that closes within this margin of its own hint leaves no room for network delay.
 */
const MARGIN_MS = 100;
/** Common clients (Node, requests, browsers) ask for keep-alive explicitly; Apache only then sends its hint. */
const KEEP_ALIVE = { Connection: 'keep-alive' };

function hintSeconds(r: RawResult): number | null {
  if (r.kind !== 'response') return null;
  const ka = r.response.headers.get('keep-alive');
  const m = ka === undefined ? null : /timeout\s*=\s*(\d+)/i.exec(ka);
  return m === null ? null : Number(m[1]);
}

/** Sends a GET on a fresh connection `delays[i]` ms after a first answered GET; counts lost requests. */
async function sweep(port: number, delays: number[]): Promise<{ lost: number; sent: number }> {
  const results = await Promise.all(delays.map(async (delay) => {
    const conn = await RawConnection.open(port);
    try {
      conn.request('GET', '/', KEEP_ALIVE);
      const first = await conn.nextResponse(3000);
      if (first.kind !== 'response') return 'lost';
      await sleep(delay);
      if (conn.endedBy !== null) return 'seen-closed';
      conn.request('GET', '/', KEEP_ALIVE);
      const second = await conn.nextResponse(3000);
      return second.kind === 'response' ? 'answered' : 'lost';
    } finally {
      conn.destroy();
    }
  }));
  return { lost: results.filter((r) => r === 'lost').length, sent: results.filter((r) => r !== 'seen-closed').length };
}

export const idleTimeoutRequest: ServerScenario = {
  role: 'server',
  id: 'request-at-idle-timeout',
  title: 'Request sent as the idle timeout fires',
  seed: '000',
  description: 'The lab measures when an idle keep-alive connection is closed and compares it with the Keep-Alive hint; pass = the server advertises a timeout and closes at least 100 ms after it (or keeps idle connections ≥ 3 s), and requests sent just before it are answered.',
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, (server) => repeatRounds(rounds(1, ctx.repeat), ctx.signal, () => measureAndSweep(server.port)));
  },
};

/** One round: when does the server close an idle connection, against its hint; requests sent then. */
async function measureAndSweep(port: number): Promise<ScenarioOutcome> {
  const probe = await RawConnection.open(port);
  let closedAt: number | null = null;
  let hint: number | null = null;
  try {
    probe.request('GET', '/', KEEP_ALIVE);
    const r = await probe.nextResponse(3000);
    if (r.kind !== 'response') return { status: 'fail', mode: `first request: ${r.kind}` };
    hint = hintSeconds(r);
    if (r.response.headers.get('connection')?.toLowerCase() === 'close') return { status: 'n/a', mode: 'closes after every response' };
    const t0 = performance.now();
    if (await probe.closed(OBSERVE_MS)) closedAt = Math.round(performance.now() - t0);
  } finally {
    probe.destroy();
  }
  if (closedAt === null) return { status: 'pass', mode: `kept idle connection open ≥ ${OBSERVE_MS / 1000} s${hint === null ? '' : ` (hint ${hint} s)`}` };
  if (hint === null) {
    const at = closedAt;
    const s = await sweep(port, [at - 3, at - 2, at - 1, at, at + 1, at + 2]);
    return { status: 'fail', mode: `no Keep-Alive hint, closes idle at ${at} ms; lost ${s.lost}/${s.sent} sent then` };
  }
  const edge = hint * 1000;
  if (closedAt < edge) return { status: 'fail', mode: `closes idle at ${closedAt} ms, before its hint timeout=${hint}` };
  const s = await sweep(port, [edge - 40, edge - 20, edge - 10, edge - 5, edge - 2]);
  if (closedAt < edge + MARGIN_MS) {
    return { status: 'fail', mode: `hint timeout=${hint} but closes at ${closedAt} ms: no margin for network delay${s.lost > 0 ? `; lost ${s.lost}/${s.sent}` : ''}` };
  }
  if (s.lost > 0) return { status: 'fail', mode: `lost ${s.lost}/${s.sent} sent just before hint timeout=${hint}` };
  return { status: 'pass', mode: `hint timeout=${hint}, closes at ${closedAt} ms` };
}
