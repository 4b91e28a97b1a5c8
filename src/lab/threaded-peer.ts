/**
 * A peer on its own thread (a worker with its own event loop), for scenarios where timing is the
 * point: an in-process peer would share the client's event loop, and the loop's ordering, not the
 * network, would decide the race.
 *
 * The worker runs an idle-timeout server: it answers every request with a small body and no
 * Keep-Alive hint, and `idleMs` after each response it closes the connection as Apache does —
 * half-close (FIN), then read and discard. A request that crosses that FIN is never answered.
 */
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';

// Plain JavaScript evaluated in the worker: it must not depend on how the lab itself is loaded.
const WORKER_SOURCE = String.raw`
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const idleMs = workerData.idleMs;
const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  let timer = null;
  let closing = false;
  let buffered = '';
  socket.on('error', () => {});
  socket.on('end', () => { socket.destroy(); });
  socket.on('data', (chunk) => {
    if (closing) return; // lingering: read and discard
    buffered += chunk.toString('latin1');
    let end;
    while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
      buffered = buffered.slice(end + 4);
      if (timer !== null) clearTimeout(timer);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      timer = setTimeout(() => {
        closing = true;
        socket.end();
        setTimeout(() => socket.destroy(), 2000).unref();
      }, idleMs);
    }
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => { if (m === 'close') { server.close(); process.exit(0); } });
`;

/** An idle-timeout server on its own thread. */
export class ThreadedIdlePeer {
  readonly port: number;
  private readonly worker: Worker;

  private constructor(worker: Worker, port: number) {
    this.worker = worker;
    this.port = port;
  }

  static async start(idleMs: number): Promise<ThreadedIdlePeer> {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { idleMs } });
    const [msg] = (await once(worker, 'message')) as [{ port: number }];
    return new ThreadedIdlePeer(worker, msg.port);
  }

  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
