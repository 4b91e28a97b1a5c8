/**
 * holdfast's server running the standard application as a fetch handler, its keep-alive timeout
 * set to the lab's idle timeout (the advertised value; the real close comes `keepAliveGrace`
 * later); graceful shutdown is `server.close()`.
 */
import { serve, type UpgradeHook } from '../../server/index.ts';
import type { RunningServer, ServerSubject } from '../types.ts';
import { filler, sleep } from '../util.ts';
import { EARLY_BODY_LENGTH, route } from './server-app.ts';

async function app(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const r = route(request.method, url.pathname);
  switch (r.kind) {
    case 'hello': return new Response('hello\n', { headers: { 'content-type': 'text/plain' } });
    case 'big': return new Response(filler(r.bytes));
    case 'slow':
      await sleep(r.ms);
      return new Response('slow\n');
    // Answer without reading the upload: what an upload-size check does.
    case 'early': return new Response(filler(EARLY_BODY_LENGTH, 0x65), { status: 413 });
    default: return new Response(null, { status: 404 });
  }
}

/** `/upgrade` with `Upgrade: x-lab-echo`: a tunnel that echoes every byte (the upgrade-held scenario). */
const echoUpgrade: UpgradeHook = (req, socket, head) => {
  if (req.url !== '/upgrade' || !req.protocols.includes('x-lab-echo')) return false;
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-lab-echo\r\nConnection: Upgrade\r\n\r\n');
  if (head.length > 0) socket.write(head);
  socket.pipe(socket);
  return true;
};

export const holdfastServer: ServerSubject = {
  role: 'server',
  id: 'holdfast-server',
  label: 'holdfast serve() (fetch handler)',
  family: 'holdfast',
  available: async () => true,
  async start(options): Promise<RunningServer> {
    const server = await serve({ fetch: app, upgrade: echoUpgrade, port: 0, hostname: '127.0.0.1', keepAliveTimeout: options.idleTimeoutMs, onError: () => undefined });
    return {
      host: '127.0.0.1',
      port: server.port,
      shutdown: () => server.close({ timeout: 5000 }),
      stop: () => server.close({ timeout: 0 }),
    };
  },
};
