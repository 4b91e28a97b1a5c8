/**
 * CPU and allocation per forwarded request of `createProxy` (no cache), measured in one process so
 * that a busy machine disturbs it less than a wall-clock benchmark: a raw `net` backend answering
 * a fixed 46-byte response, the proxy in front of it, and 50 raw keep-alive client connections.
 * The backend and the clients cost the same whichever proxy runs, so a difference between two
 * source trees is the proxy's. Reports `process.cpuUsage()` per request after a warm-up, and the
 * bytes allocated per request (the inspector's sampling heap profiler, keeping collected objects).
 *
 *   node bench/proxy-cpu.ts [source tree]      (default: this checkout; or: npm run bench -- proxy-cpu)
 *
 * Compare two commits by exporting the old one (`git archive <commit> | tar -x -C /tmp/old`,
 * with a `node_modules` link) and alternating runs of both trees. `HOLDFAST_BENCH_WARMUP`
 * (default 15 000) and `HOLDFAST_BENCH_REQUESTS` (default 15 000) set the request counts.
 */
import { createServer, connect, type AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CONNECTIONS = 50;
const BODY = 'hello from the backend, a small response body\n';
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n' +
  `Content-Length: ${BODY.length}\r\nDate: Wed, 02 Dec 2026 06:00:00 GMT\r\nKeep-Alive: timeout=60\r\n\r\n${BODY}`,
);

interface ProxyLike {
  listen(port: number, host: string): Promise<AddressInfo>;
  close(options: { timeout: number }): Promise<void>;
}

interface HeapNode {
  selfSize: number;
  children: HeapNode[];
}

/**
 * Sends `n` requests over the client connections, each waiting for its response. A connection
 * the proxy closes (it answers `Connection: close` after its per-connection request limit) is
 * replaced by a new one, which sends the request that was waiting again.
 */
function drive(port: number, request: Buffer, n: number): Promise<void> {
  return new Promise((done) => {
    let sent = 0;
    let answered = 0;
    const open = (resend: boolean): void => {
      const s = connect(port, '127.0.0.1');
      s.setNoDelay(true);
      let waiting = false;
      let pending = '';
      const next = (): void => {
        if (sent < n) {
          sent++;
          waiting = true;
          s.write(request);
        } else {
          s.end();
        }
      };
      s.on('connect', () => {
        if (resend) {
          waiting = true;
          s.write(request);
        } else {
          next();
        }
      });
      s.on('data', (d: Buffer) => {
        pending += d.toString('latin1');
        let at: number;
        while ((at = pending.indexOf(BODY)) !== -1) {
          pending = pending.slice(at + BODY.length);
          waiting = false;
          if (++answered === n) done();
          next();
        }
      });
      s.on('close', () => {
        if (waiting) open(true);
      });
      s.on('error', () => {});
    };
    for (let c = 0; c < CONNECTIONS; c++) open(false);
  });
}

/** Measures one source tree (default: this checkout); prints a line and returns the figures. */
export async function run(): Promise<unknown> {
  const arg = import.meta.main ? process.argv[2] : undefined;
  const tree = resolve(arg ?? fileURLToPath(new URL('..', import.meta.url)));
  const mod = (await import(pathToFileURL(`${tree}/src/proxy/index.ts`).href)) as { createProxy(o: { upstreams: string[] }): ProxyLike };
  const backend = createServer((s) => {
    s.setNoDelay(true);
    let pending = '';
    s.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      let at: number;
      while ((at = pending.indexOf('\r\n\r\n')) !== -1) {
        pending = pending.slice(at + 4);
        s.write(RESPONSE);
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const proxy = mod.createProxy({ upstreams: [`http://127.0.0.1:${(backend.address() as AddressInfo).port}`] });
  const { port } = await proxy.listen(0, '127.0.0.1');
  const request = Buffer.from(`GET /plain HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n`);
  const warmup = Number(process.env['HOLDFAST_BENCH_WARMUP'] ?? 15_000);
  const n = Number(process.env['HOLDFAST_BENCH_REQUESTS'] ?? 15_000);
  await drive(port, request, warmup);

  const before = process.cpuUsage();
  const started = performance.now();
  await drive(port, request, n);
  const cpu = process.cpuUsage(before);
  const seconds = (performance.now() - started) / 1000;

  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
  const sampled = 5_000;
  await drive(port, request, sampled);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  let bytes = 0;
  const walk = (node: HeapNode): void => {
    bytes += node.selfSize;
    for (const c of node.children) walk(c);
  };
  walk(profile.head);

  process.stdout.write(
    `${tree}: CPU ${((cpu.user + cpu.system) / n).toFixed(1)} µs/request (user ${(cpu.user / n).toFixed(1)}, system ${(cpu.system / n).toFixed(1)}), ` +
    `${(n / seconds).toFixed(0)} req/s, ${(bytes / sampled / 1024).toFixed(1)} KiB allocated/request\n`,
  );
  await proxy.close({ timeout: 100 });
  backend.close();
  return { tree, cpuMicrosPerRequest: (cpu.user + cpu.system) / n, requestsPerSecond: n / seconds, bytesPerRequest: bytes / sampled };
}

if (import.meta.main) {
  await run();
  // The client sockets of the last run may still be closing.
  process.exit(0);
}
