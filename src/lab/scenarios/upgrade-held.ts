/**
 * Upgrade while others wait: one client upgrades its connection (a WebSocket for live reload, a
 * chat) and keeps it open; every other client must still be served. A server that serves one
 * connection at a time, or that counts the upgraded connection against a pool of request slots it
 * never gives back, stalls everyone behind the first browser tab that opened a WebSocket.
 *
 * The lab asks for `Upgrade: x-lab-echo` on `/upgrade` (the holdfast subject's application accepts
 * it and echoes bytes; other stacks answer it as a plain request, and the connection stays open
 * either way), then a GET on a second connection must be answered within the guard.
 *
 * Behind `holdfast proxy --upstream-concurrency 1` the documented consequence is different, and
 * tested with the proxy: a tunnel holds the upstream's only slot, so other requests to that
 * upstream wait for it, up to `--queue-timeout`, then get 503.
 */
import net from 'node:net';
import type { ScenarioOutcome, ServerScenario } from '../types.ts';
import { repeatRounds, within } from '../util.ts';
import { rounds } from './client-session.ts';
import { probeAnswered, withServer } from './server-running.ts';

const GUARD_MS = 3000;

/** The response head to an upgrade request on a connection left open, or null when none came. */
async function upgradeHeld(port: number): Promise<{ socket: net.Socket; status: number } | null> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true });
  socket.on('error', () => {});
  let data = '';
  const head = new Promise<number | null>((resolve) => {
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (data.includes('\r\n\r\n')) resolve(Number(/^HTTP\/1\.\d (\d{3})/.exec(data)?.[1] ?? 0));
    });
    socket.on('close', () => resolve(null));
  });
  socket.write('GET /upgrade HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: x-lab-echo\r\nConnection: Upgrade\r\n\r\n');
  const status = await within(head, GUARD_MS, () => null);
  if (status === null) {
    socket.destroy();
    return null;
  }
  return { socket, status };
}

export const upgradeWhileOthersWait: ServerScenario = {
  role: 'server',
  id: 'upgrade-held',
  title: 'Upgrade while others wait',
  seed: '004',
  description: `A connection asks for an upgrade and is held open (a tunnel if the server agreed); a GET on another connection must be answered within ${GUARD_MS / 1000} s.`,
  async run(subject, ctx): Promise<ScenarioOutcome> {
    return withServer(subject, async (server) => {
      const held: net.Socket[] = [];
      try {
        return await repeatRounds(rounds(1, ctx.repeat), ctx.signal, async () => {
          const up = await upgradeHeld(server.port);
          if (up === null) return { status: 'fail', mode: `no answer to the upgrade request within ${GUARD_MS / 1000} s` };
          held.push(up.socket);
          const r = await probeAnswered(server.port, GUARD_MS);
          return r.status === 'pass' ? { status: 'pass', mode: up.status === 101 ? 'answered beside an open tunnel' : `answered (upgrade answered ${up.status})` } : r;
        });
      } finally {
        for (const s of held) s.destroy();
      }
    });
  },
};
