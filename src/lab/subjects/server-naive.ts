/**
 * The naive server: a straw man that proves server scenarios have teeth. It serves one connection
 * at a time (others wait in line), parses one request per read (pipelined requests after the first
 * are lost), closes idle connections after the idle timeout without a Keep-Alive hint, and every
 * close is immediate — `destroy()` right after writing, no lingering, no drain, no graceful shutdown.
 * An upgraded connection (`/upgrade`, `Upgrade: x-lab-echo`) echoes bytes and keeps the one slot.
 */
import net from 'node:net';
import type { RunningServer, ServerSubject } from '../types.ts';
import { filler } from '../util.ts';
import { EARLY_BODY_LENGTH, route } from './server-app.ts';

function response(status: number, body: Buffer, close: boolean): Buffer {
  const head = `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Error'}\r\nContent-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

export const naiveServer: ServerSubject = {
  role: 'server',
  id: 'naive-server',
  label: 'naive server (lab straw man)',
  family: 'naive',
  available: async () => true,
  async start(options): Promise<RunningServer> {
    const waiting: net.Socket[] = [];
    const all = new Set<net.Socket>();
    let busy = false;
    const next = (): void => {
      busy = false;
      const s = waiting.shift();
      if (s !== undefined) serve(s);
    };
    const serve = (socket: net.Socket): void => {
      busy = true;
      let idle: NodeJS.Timeout | null = null;
      const armIdle = (): void => {
        if (idle !== null) clearTimeout(idle);
        idle = setTimeout(() => socket.destroy(), options.idleTimeoutMs);
      };
      socket.on('close', () => {
        if (idle !== null) clearTimeout(idle);
        all.delete(socket);
        next();
      });
      socket.on('data', (chunk: Buffer) => {
        if (idle !== null) clearTimeout(idle);
        // Naive: the first line of this read is the request; anything after the head is ignored.
        const text = chunk.toString('latin1');
        if (!text.includes('\r\n\r\n')) return;
        const [method = 'GET', target = '/'] = text.split(' ', 2);
        const close = /\r\nconnection:\s*close/i.test(text.slice(0, text.indexOf('\r\n\r\n')));
        if (target === '/upgrade' && /\r\nupgrade:\s*x-lab-echo/i.test(text)) {
          // Naive: the upgraded connection keeps the one slot for as long as it is open.
          socket.removeAllListeners('data');
          socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-lab-echo\r\nConnection: Upgrade\r\n\r\n');
          socket.pipe(socket);
          return;
        }
        const r = route(method, target);
        const send = (status: number, body: Buffer, closeNow: boolean): void => {
          socket.write(response(status, body, closeNow));
          if (closeNow) socket.destroy();
          else armIdle();
        };
        if (r.kind === 'hello') send(200, Buffer.from('hello\n'), close);
        else if (r.kind === 'big') send(200, filler(r.bytes), close);
        else if (r.kind === 'slow') setTimeout(() => { if (!socket.destroyed) send(200, Buffer.from('slow\n'), close); }, r.ms);
        else if (r.kind === 'early') send(413, filler(EARLY_BODY_LENGTH, 0x65), true);
        else send(404, Buffer.alloc(0), close);
      });
      socket.on('error', () => { /* the client went away */ });
      socket.resume();
    };
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      all.add(socket);
      if (busy) waiting.push(socket);
      else serve(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const kill = async (): Promise<void> => {
      server.close();
      for (const s of all) s.destroy();
    };
    return { host: '127.0.0.1', port, shutdown: kill, stop: kill };
  },
};
