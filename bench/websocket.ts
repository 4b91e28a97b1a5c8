/**
 * WebSocket through the holdfast proxy: echo round trips of a small message (sequential, one
 * connection) and the time to echo one 16 MiB message, straight to a `ws` backend and through the
 * proxy's tunnel. Client, proxy and backend share this process (one event loop), so the figures
 * bound the tunnel's cost from above; the ratio is what to compare between runs.
 *
 * Run alone: `npx node bench/websocket.ts` (or `npm run bench -- websocket`). About 10 s.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { createProxy } from '../src/proxy/index.ts';

const ROUND_TRIPS = 5000;
const BIG = 16 * 1024 * 1024;
const BIG_RUNS = 5;

async function measure(url: string): Promise<{ roundTripsPerSecond: number; bigEchoMs: number }> {
  const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
  await once(ws, 'open');
  const next = (): Promise<unknown> => once(ws, 'message');
  const small = Buffer.alloc(32, 0x61);
  let started = performance.now();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const got = next();
    ws.send(small);
    await got;
  }
  const roundTripsPerSecond = Math.round(ROUND_TRIPS / ((performance.now() - started) / 1000));
  const big = Buffer.alloc(BIG, 0x62);
  const times: number[] = [];
  for (let i = 0; i < BIG_RUNS; i++) {
    started = performance.now();
    const got = next();
    ws.send(big);
    await got;
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  ws.close();
  await once(ws, 'close');
  return { roundTripsPerSecond, bigEchoMs: Math.round(times[Math.floor(times.length / 2)]!) };
}

export async function run(): Promise<unknown> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 64 * 1024 * 1024 });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
  const backend = `127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const proxy = createProxy({ upstreams: [`http://${backend}`] });
  await proxy.listen(0, '127.0.0.1');
  try {
    const direct = await measure(`ws://${backend}/`);
    const proxied = await measure(`${proxy.url.replace('http', 'ws')}/`);
    const rows = [
      ['', 'round trips/s (32 B)', `16 MiB echo (median of ${BIG_RUNS}, ms)`],
      ['direct to ws', String(direct.roundTripsPerSecond), String(direct.bigEchoMs)],
      ['through holdfast proxy', String(proxied.roundTripsPerSecond), String(proxied.bigEchoMs)],
    ];
    for (const r of rows) process.stdout.write(`${r[0]!.padEnd(24)} ${r[1]!.padStart(22)} ${r[2]!.padStart(34)}\n`);
    return { direct, proxied };
  } finally {
    await proxy.close({ timeout: 1000 });
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
