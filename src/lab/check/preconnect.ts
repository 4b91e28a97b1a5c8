/**
 * Seed 004: a browser opens spare connections and sends nothing on them (preconnects), then sends
 * its real request on another connection. A server that serves one connection at a time waits on
 * a silent one and the real request hangs. Then: how long does the server keep a silent
 * connection, and does it write anything (a 408) before closing it? A browser that later sends
 * its request on that connection reads those bytes as the answer.
 */
import type { CheckProbe, ProbeFinding } from './types.ts';
import type { RawConnection } from '../raw-client.ts';
import { sleep } from '../util.ts';
import { answeredMeanwhile } from './answered.ts';
import { connect } from './connections.ts';
import { describeIdle, watchIdle } from './idle-watch.ts';

/** Silent connections held open: what a browser opens for one page. */
const SILENT = 2;

export const preconnectProbe: CheckProbe = {
  id: 'preconnect',
  title: 'Idle preconnects, then a real request',
  description: `${SILENT} connections are opened and left silent; a GET on a third must be answered within 3 s. Then the silent connections are watched (8 s): a server that writes to one (an unsolicited 408) gets a warning.`,
  labScenario: 'preconnect',
  limitMs: 15_000,
  async run(ctx): Promise<ProbeFinding> {
    const t = ctx.target;
    const silent: RawConnection[] = [];
    try {
      for (let i = 0; i < SILENT; i++) silent.push(await connect(t));
      const opened = performance.now();
      // Let the server accept the silent ones before the real request connects.
      await sleep(20);
      const real = await answeredMeanwhile(t, t.path, 3000 * ctx.scale);
      const evidence = [`${SILENT} silent connections open`, ...real.evidence];
      if (real.status !== 'pass') return { status: 'fail', summary: `real request not answered while ${SILENT} connections were silent: ${real.summary}`, evidence };
      // Times in the evidence count from the opening of the silent connections, not from the watch.
      const since = Math.round(performance.now() - opened);
      const watchMs = Math.max(0, 8000 * ctx.scale - since);
      const seen = await Promise.all(silent.map((c) => watchIdle(c, watchMs)));
      const fromOpening = (ms: number | null): number | null => (ms === null ? null : ms + since);
      for (const [i, o] of seen.entries()) {
        evidence.push(`silent connection ${i + 1}: ${describeIdle({ ...o, closedAfterMs: fromOpening(o.closedAfterMs), wroteAfterMs: fromOpening(o.wroteAfterMs) }, watchMs + since)} from its opening`);
      }
      const wrote = seen.find((o) => o.unsolicited > 0);
      if (wrote !== undefined) return { status: 'warn', summary: `${real.summary}, but writes "${wrote.firstLine}" to a silent connection`, evidence };
      return { status: 'pass', summary: real.summary, evidence };
    } finally {
      for (const c of silent) c.destroy();
    }
  },
};
