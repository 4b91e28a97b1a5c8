/**
 * What a Redis outage costs requests through `holdfast proxy`'s cache: latency per request (p50,
 * p99, max) and failed requests, in phases — Redis healthy; Redis answering 2 s late (above the
 * 500 ms default store timeout) through holdfast's FaultProxy; Redis killed; Redis restarted (and
 * how long until the first cache hit). Sequential requests, a loopback origin answering at once.
 *
 * `node bench/degrade.ts` (needs redis-server).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedisStore, createCache } from '../src/cache/index.ts';
import { createProxy } from '../src/proxy/index.ts';
import { FaultProxy } from '../src/lab/fault-proxy.ts';
import { startRedis, type RedisServer } from '../test/cache/redisServer.ts';

const PER_PHASE = 200;

const origin = http.createServer((req, res) => {
  res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' });
  res.end(`body of ${req.url}`);
});
await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
let redis: RedisServer = await startRedis();
const faults = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: redis.port } });
const store = await RedisStore.connect({ url: `redis://127.0.0.1:${faults.port}`, prefix: RedisStore.uniquePrefix() });
const cache = createCache({ store, mode: 'shared' });
const proxy = createProxy({ upstreams: [`http://127.0.0.1:${(origin.address() as AddressInfo).port}`], cache });
await proxy.listen(0, '127.0.0.1');

async function once(path: string): Promise<{ ms: number; ok: boolean; hit: boolean }> {
  const started = performance.now();
  try {
    const res = await fetch(`${proxy.url}${path}`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return { ms: performance.now() - started, ok: res.status === 200 && text === `body of ${path}`, hit: (res.headers.get('cache-status') ?? '').includes('hit') };
  } catch {
    return { ms: performance.now() - started, ok: false, hit: false };
  }
}

async function phase(name: string, paths: (i: number) => string): Promise<void> {
  const ms: number[] = [];
  let failed = 0;
  let hits = 0;
  for (let i = 0; i < PER_PHASE; i++) {
    const r = await once(paths(i));
    ms.push(r.ms);
    if (!r.ok) failed++;
    if (r.hit) hits++;
  }
  ms.sort((a, b) => a - b);
  const at = (q: number): string => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(1);
  console.log(`${name.padEnd(34)} p50 ${at(0.5).padStart(7)} ms  p99 ${at(0.99).padStart(7)} ms  max ${ms.at(-1)!.toFixed(1).padStart(7)} ms  failed ${failed}  hits ${hits}  breaker ${cache.stats.storeState}`);
}

async function untilHit(path: string): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < 2000; i++) {
    if ((await once(path)).hit) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return NaN;
}

const mixed = (label: string) => (i: number): string => (i % 2 === 0 ? `/hot/${i % 10}` : `/${label}/${i}`);
await phase('redis healthy', mixed('healthy'));
faults.addToxic({ type: 'latency', stream: 'downstream', attributes: { latency: 2000 } });
await phase('redis 2 s late (store timeout 500)', mixed('late'));
faults.reset();
console.log(`first hit after the latency ends     ${(await untilHit('/hot/0')).toFixed(0)} ms`);
const port = redis.port;
await redis.stop();
await phase('redis killed', mixed('killed'));
for (let i = 0; i < 50; i++) {
  try {
    redis = await startRedis({ port });
    break;
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
console.log(`first hit after redis restarts       ${(await untilHit('/after')).toFixed(0)} ms`);
await phase('redis back', mixed('back'));
console.log(`store stats: ${JSON.stringify({ storeErrors: cache.stats.storeErrors, storeTimeouts: cache.stats.storeTimeouts, storeSkipped: cache.stats.storeSkipped, guard: cache.storeGuard?.stats })}`);

await proxy.close({ timeout: 1000 });
await store.close();
await faults.close();
await redis.stop();
origin.close();
