/**
 * A response body cut short by the server closing the connection: a short Content-Length body,
 * or a chunked body without its last chunk. Handing such a body to the caller as complete is a
 * silent data corruption; the client must report an error.
 */
import type { ClientScenario, ScenarioOutcome } from '../types.ts';
import { ScriptedPeer } from '../peer.ts';
import { Tally, filler, outcomeLabel } from '../util.ts';
import { guarded, rounds, withSession } from './client-session.ts';

const DECLARED = 1_000_000;
const SENT = 500_000;

export const truncatedContentLength: ClientScenario = {
  role: 'client',
  id: 'truncated-content-length',
  title: 'Truncated Content-Length body',
  seed: '002',
  description: `The peer declares Content-Length: ${DECLARED}, sends ${SENT} bytes and closes; the client must report an error, not a ${SENT}-byte body.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    const peer = await ScriptedPeer.start({
      onRequest: (conn) => {
        conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${DECLARED}\r\n\r\n`);
        conn.write(filler(SENT));
        conn.fin();
      },
    });
    return runTruncation(subject, ctx.repeat, ctx.signal, peer, (len) => `truncated at ${len} of ${DECLARED} accepted`);
  },
};

export const unterminatedChunked: ClientScenario = {
  role: 'client',
  id: 'unterminated-chunked',
  title: 'Unterminated chunked body',
  seed: '002',
  description: 'The peer sends a chunked body of 4 × 64 KiB chunks and closes without the last (zero) chunk; the client must report an error.',
  async run(subject, ctx): Promise<ScenarioOutcome> {
    const chunk = filler(65536);
    const peer = await ScriptedPeer.start({
      onRequest: (conn) => {
        conn.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (let i = 0; i < 4; i++) conn.write(Buffer.concat([Buffer.from('10000\r\n'), chunk, Buffer.from('\r\n')]));
        conn.fin();
      },
    });
    return runTruncation(subject, ctx.repeat, ctx.signal, peer, (len) => `unterminated ${len} bytes accepted`);
  },
};

async function runTruncation(
  subject: import('../types.ts').ClientSubject,
  repeat: number,
  signal: AbortSignal,
  peer: ScriptedPeer,
  accepted: (len: number) => string,
): Promise<ScenarioOutcome> {
  const tally = new Tally();
  try {
    await withSession(subject, {}, async (session) => {
      const n = rounds(3, repeat);
      for (let i = 0; i < n && !signal.aborted; i++) {
        const o = await guarded(session, { method: 'GET', url: peer.url(`/${i}`) });
        if (o.kind === 'error') tally.pass(o.code);
        else if (o.kind === 'response') tally.fail(accepted(o.bodyLength));
        else tally.fail(outcomeLabel(o));
      }
    });
  } finally {
    await peer.close();
  }
  return tally.outcome();
}
