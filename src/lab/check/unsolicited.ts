/**
 * Unsolicited bytes on idle connections (seed 000): some servers write a `408 Request Timeout`
 * when their read timeout fires on a connection with no request in progress — after a response,
 * or on a connection that never carried one. A client that sends its next request on it reads
 * the stale 408 as that request's answer; closing silently is what the race needs instead.
 */
import type { CheckProbe, ProbeFinding } from './types.ts';
import { rawLabel } from '../raw-client.ts';
import { connect } from './connections.ts';
import { describeIdle, watchIdle } from './idle-watch.ts';

export const unsolicitedProbe: CheckProbe = {
  id: 'unsolicited',
  title: 'Unsolicited bytes on idle connections',
  description: 'Two connections are left idle for 8 s: one after an answered GET, one that never carried a request. Pass = the server writes nothing on either (closing them is fine).',
  labScenario: null,
  limitMs: 15_000,
  async run(ctx): Promise<ProbeFinding> {
    const t = ctx.target;
    const watchMs = 8000 * ctx.scale;
    const used = await connect(t);
    const fresh = await connect(t);
    try {
      // Both watches run at once: the never-used one from now, the other from its response.
      const freshWatch = watchIdle(fresh, watchMs);
      used.request('GET', t.path, { Connection: 'keep-alive' });
      const r = await used.nextResponse(3000 * ctx.scale);
      if (r.kind !== 'response') {
        const freshSeen = await freshWatch;
        const evidence = [`GET ${t.path}: ${rawLabel(r)}`, `never-used connection: ${describeIdle(freshSeen, watchMs)}`];
        // A one-connection-at-a-time server answers only once the other one is gone.
        return freshSeen.unsolicited > 0
          ? { status: 'fail', summary: `writes "${freshSeen.firstLine}" to a never-used connection`, evidence }
          : { status: 'n/a', summary: `GET ${t.path} was not answered while another connection was open (see preconnect)`, evidence };
      }
      const close = r.response.headers.get('connection')?.toLowerCase() === 'close';
      const [usedSeen, freshSeen] = await Promise.all([watchIdle(used, watchMs), freshWatch]);
      const evidence = [
        `connection idle after GET ${t.path} → ${r.response.status}${close ? ' (Connection: close)' : ''}: ${describeIdle(usedSeen, watchMs)}`,
        `never-used connection: ${describeIdle(freshSeen, watchMs)}`,
      ];
      const wrote = [usedSeen, freshSeen].find((o) => o.unsolicited > 0);
      if (wrote !== undefined) return { status: 'fail', summary: `writes "${wrote.firstLine}" to an idle ${wrote === usedSeen ? 'keep-alive' : 'never-used'} connection`, evidence };
      return { status: 'pass', summary: 'writes nothing on idle connections', evidence };
    } finally {
      used.destroy();
      fresh.destroy();
    }
  },
};
