/**
 * Slowloris: one client sends its request head one byte per second. Other clients must be served
 * meanwhile; a server with one connection at a time (or a small pool the drippers fill) is not.
 */
import type { CheckProbe, Endpoint, ProbeFinding } from './types.ts';
import type { RawConnection } from '../raw-client.ts';
import { answeredMeanwhile } from './answered.ts';
import { connect } from './connections.ts';

/**
 * Opens a connection that drips a request head, one byte per `everyMs`, and never finishes it.
 * Stop the drip with `stop()` (it also destroys the connection).
 */
export async function drip(ep: Endpoint, path: string, everyMs: number): Promise<{ conn: RawConnection; stop(): void }> {
  const head = `GET ${path} HTTP/1.1\r\nHost: ${ep.authority}\r\nX-Slow: ${'a'.repeat(100)}`;
  const conn = await connect(ep);
  conn.socket.write(head.slice(0, 4));
  let i = 4;
  const timer = setInterval(() => {
    if (i < head.length && !conn.socket.destroyed) conn.socket.write(head[i++]!);
  }, everyMs);
  return { conn, stop: () => { clearInterval(timer); conn.destroy(); } };
}

export const slowlorisProbe: CheckProbe = {
  id: 'slowloris',
  title: 'Slowloris does not block others',
  description: 'One connection drips "GET / HTTP/1.1..." one byte per second; a normal GET on another connection must be answered within 3 s.',
  labScenario: 'slowloris',
  limitMs: 8000,
  async run(ctx): Promise<ProbeFinding> {
    const t = ctx.target;
    const slow = await drip(t, t.path, 1000);
    try {
      await new Promise((r) => setTimeout(r, 50));
      const real = await answeredMeanwhile(t, t.path, 3000 * ctx.scale);
      const evidence = ['one connection dripping its request head, one byte per second', ...real.evidence];
      if (slow.conn.endedBy !== null) evidence.push(`the server closed the dripping connection (${slow.conn.endedBy})`);
      if (real.status !== 'pass') return { status: 'fail', summary: `not answered while one connection drips its head: ${real.summary}`, evidence };
      return { status: 'pass', summary: real.summary, evidence };
    } finally {
      slow.stop();
    }
  },
};
