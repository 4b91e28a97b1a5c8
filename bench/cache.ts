/**
 * Cache benchmark: fresh-hit and revalidated-hit latency and throughput for holdfast's cache
 * (memory and SQLite stores) beside undici's cache interceptor (its memory and SQLite stores) and
 * make-fetch-happen (cacache on disk), in one run against one loopback origin.
 *
 * - fresh hit: `Cache-Control: max-age=3600`; no origin traffic once warm.
 * - revalidated hit: `Cache-Control: max-age=0` + ETag; every request is a conditional request
 *   answered 304 and served from storage.
 *
 * holdfast's `next` hop is undici's `request()` over the same keep-alive Agent type undici's
 * interceptor uses, so the comparison measures the cache layers, not the transports. What that
 * costs holdfast is counted against it, not hidden: every origin exchange (each revalidation)
 * converts undici's header object into a `HeaderList` (validating each field) and reads the body
 * into bytes, as any adapter of undici to `holdfast/cache` must; the time those conversions take
 * is measured and printed ("adapter"). On the other side, undici's subject reads each answer
 * through `request()`'s body stream, where holdfast's cache hands back bytes: each subject is
 * measured from URL to status and body bytes through its public API.
 * Both caches run without request collapsing across processes (undici has none; holdfast's is
 * `collapse: 'process'` here, since the default `'store'` takes a lease in the store per miss and
 * revalidation, a cost undici does not have because it offers no such guarantee).
 * Sequential requests (one in flight): throughput = 1 / mean latency. Each cell stops at
 * REQUESTS requests or CELL_MS milliseconds, whichever comes first, so the whole run is bounded.
 *
 * `npx node bench/cache.ts` runs it alone; `npm run bench -- cache` through bench/run.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Agent, request as undiciRequest, interceptors, cacheStores } from 'undici';
import { createCache, HeaderList, MemoryStore, SqliteStore } from '../src/cache/index.ts';
import type { CacheRequest, CacheResponse, CacheStore } from '../src/cache/index.ts';

const REQUESTS = 3000;
const WARMUP = 200;
const CELL_MS = 2500;
const BODY = Buffer.alloc(4096, 'a');
const ETAG = `"${createHash('sha256').update(BODY).digest('hex').slice(0, 16)}"`;

interface Cell {
  subject: string;
  scenario: 'fresh-hit' | 'revalidated-hit';
  requests: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  reqPerSec: number;
  /** CPU time of this process per request, µs (user + system; the origin runs in this process too, the same for every subject). */
  cpuUs: number;
  originRequests: number;
  /** holdfast only: time per request spent converting between undici's and holdfast's representations, µs. */
  adapterUs?: number;
  error?: string;
}

type Get = (url: string) => Promise<{ status: number; bytes: number }>;

interface Subject {
  name: string;
  make(dir: string): Promise<{ get: Get; close(): Promise<void>; adapter?: () => { exchanges: number; ms: number } }>;
}

/** holdfast with undici's request() as the next hop. */
function holdfast(name: string, makeStore: (dir: string) => CacheStore): Subject {
  return {
    name,
    async make(dir) {
      const agent = new Agent({ connections: 4 });
      const store = makeStore(dir);
      const cache = createCache({ store, collapse: 'process' });
      const adapter = { exchanges: 0, ms: 0 };
      const next = async (req: CacheRequest): Promise<CacheResponse> => {
        let t = performance.now();
        const headers: Record<string, string> = {};
        for (const [n, v] of req.headers) headers[n] = v;
        adapter.ms += performance.now() - t;
        const r = await undiciRequest(req.url, { method: req.method, headers, dispatcher: agent });
        const body = new Uint8Array(await r.body.arrayBuffer());
        t = performance.now();
        const out: Array<[string, string]> = [];
        for (const [n, v] of Object.entries(r.headers)) {
          if (Array.isArray(v)) for (const x of v) out.push([n, x]);
          else if (v !== undefined) out.push([n, v]);
        }
        const list = new HeaderList(out);
        adapter.ms += performance.now() - t;
        adapter.exchanges++;
        return { status: r.statusCode, statusText: '', headers: list, body };
      };
      return {
        get: async (url) => {
          const res = await cache.handle({ method: 'GET', url, headers: new HeaderList() }, next);
          return { status: res.status, bytes: (res.body as Uint8Array).byteLength };
        },
        close: async () => {
          await cache.close();
          await store.close();
          await agent.close();
        },
        adapter: () => ({ ...adapter }),
      };
    },
  };
}

function undiciCache(name: string, makeStore: (dir: string) => unknown): Subject {
  return {
    name,
    async make(dir) {
      const base = new Agent({ connections: 4 });
      const store = makeStore(dir) as Parameters<typeof interceptors.cache>[0] extends infer O ? (O extends { store?: infer S } ? S : never) : never;
      const dispatcher = base.compose(interceptors.cache({ store }));
      return {
        get: async (url) => {
          const r = await undiciRequest(url, { dispatcher });
          const bytes = (await r.body.arrayBuffer()).byteLength;
          return { status: r.statusCode, bytes };
        },
        close: async () => {
          await base.close();
          (store as { close?: () => void }).close?.();
        },
      };
    },
  };
}

const makeFetchHappen: Subject = {
  name: 'make-fetch-happen (cacache)',
  async make(dir) {
    // No type declarations ship with make-fetch-happen; import it by a computed name, typed here.
    const specifier = 'make-fetch-happen';
    const mod = (await import(specifier)) as unknown as { default: { defaults(o: object): (url: string, o?: object) => Promise<{ status: number; arrayBuffer(): Promise<ArrayBuffer> }> } };
    const fetch = mod.default.defaults({ cachePath: dir, cache: 'default', retry: false });
    return {
      get: async (url) => {
        const r = await fetch(url);
        const bytes = (await r.arrayBuffer()).byteLength;
        return { status: r.status, bytes };
      },
      close: async () => {},
    };
  },
};

const SUBJECTS: Subject[] = [
  holdfast('holdfast memory', () => new MemoryStore()),
  holdfast('holdfast sqlite', (dir) => new SqliteStore({ directory: dir })),
  undiciCache('undici memory', () => new cacheStores.MemoryCacheStore()),
  undiciCache('undici sqlite', (dir) => new cacheStores.SqliteCacheStore({ location: join(dir, 'undici.sqlite') })),
  makeFetchHappen,
];

async function startOrigin(): Promise<{ url: string; count: () => number; close(): Promise<void> }> {
  let count = 0;
  const server = http.createServer((req, res) => {
    count++;
    const fresh = req.url?.startsWith('/fresh') === true;
    const headers = { 'cache-control': fresh ? 'max-age=3600' : 'max-age=0', etag: ETAG, 'content-type': 'application/octet-stream' };
    if (!fresh && req.headers['if-none-match'] === ETAG) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(BODY.length) });
    res.end(BODY);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => count,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function measure(subject: Subject, scenario: Cell['scenario'], origin: { url: string; count: () => number }): Promise<Cell> {
  const dir = mkdtempSync(join(tmpdir(), 'hf-bench-cache-'));
  const url = `${origin.url}/${scenario === 'fresh-hit' ? 'fresh' : 'reval'}/${subject.name.replace(/\W+/g, '-')}`;
  const inst = await subject.make(dir);
  try {
    for (let i = 0; i < WARMUP; i++) {
      const r = await inst.get(url);
      if (r.status !== 200 || r.bytes !== BODY.length) throw new Error(`bad response: ${r.status} ${r.bytes} bytes`);
    }
    const before = origin.count();
    const adapterBefore = inst.adapter?.();
    const lat: number[] = [];
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < REQUESTS && performance.now() - start < CELL_MS; i++) {
      const t = process.hrtime.bigint();
      const r = await inst.get(url);
      lat.push(Number(process.hrtime.bigint() - t) / 1000);
      if (r.status !== 200 || r.bytes !== BODY.length) throw new Error(`bad response: ${r.status} ${r.bytes} bytes`);
    }
    const elapsed = performance.now() - start;
    const used = process.cpuUsage(cpu);
    const adapterAfter = inst.adapter?.();
    const adapterUs = adapterBefore === undefined || adapterAfter === undefined ? undefined : Math.round(((adapterAfter.ms - adapterBefore.ms) * 1000) / lat.length);
    const sorted = [...lat].sort((a, b) => a - b);
    return {
      subject: subject.name,
      scenario,
      requests: lat.length,
      meanUs: Math.round(lat.reduce((a, b) => a + b, 0) / lat.length),
      p50Us: Math.round(percentile(sorted, 50)),
      p99Us: Math.round(percentile(sorted, 99)),
      reqPerSec: Math.round((lat.length / elapsed) * 1000),
      cpuUs: Math.round((used.user + used.system) / lat.length),
      originRequests: origin.count() - before,
      ...(adapterUs === undefined ? {} : { adapterUs }),
    };
  } catch (err) {
    return { subject: subject.name, scenario, requests: 0, meanUs: 0, p50Us: 0, p99Us: 0, reqPerSec: 0, cpuUs: 0, originRequests: 0, error: String((err as Error).message ?? err) };
  } finally {
    await inst.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The median of some numbers (0 when there are none). */
function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * Run the benchmark; prints a table and returns JSON-able results. Environment (to keep a run
 * short on a shared machine): `CACHE_BENCH_SCENARIOS` (comma-separated: fresh-hit,
 * revalidated-hit), `CACHE_BENCH_SUBJECTS` (comma-separated substrings of subject names),
 * `CACHE_BENCH_ROUNDS` (default 1: subjects alternate within each round; each figure is the
 * median over the rounds).
 */
export async function run(): Promise<object> {
  const scenarios = (process.env.CACHE_BENCH_SCENARIOS ?? 'fresh-hit,revalidated-hit').split(',').filter((x): x is Cell['scenario'] => x === 'fresh-hit' || x === 'revalidated-hit');
  const wanted = process.env.CACHE_BENCH_SUBJECTS?.split(',');
  const subjects = wanted === undefined ? SUBJECTS : SUBJECTS.filter((s) => wanted.some((w) => s.name.includes(w)));
  const rounds = Math.max(1, Number(process.env.CACHE_BENCH_ROUNDS ?? 1) || 1);
  const origin = await startOrigin();
  const all: Cell[] = [];
  try {
    for (const scenario of scenarios) {
      for (let round = 0; round < rounds; round++) {
        for (const subject of subjects) all.push(await measure(subject, scenario, origin));
      }
    }
  } finally {
    await origin.close();
  }
  const cells: Cell[] = [];
  for (const scenario of scenarios) {
    for (const subject of subjects) {
      const mine = all.filter((c) => c.scenario === scenario && c.subject === subject.name);
      const failed = mine.find((c) => c.error !== undefined);
      if (failed !== undefined) {
        cells.push(failed);
        continue;
      }
      const m = (f: (c: Cell) => number) => median(mine.map(f));
      const adapterUs = mine[0]?.adapterUs === undefined ? {} : { adapterUs: m((c) => c.adapterUs ?? 0) };
      cells.push({ subject: subject.name, scenario, requests: m((c) => c.requests), meanUs: m((c) => c.meanUs), p50Us: m((c) => c.p50Us), p99Us: m((c) => c.p99Us), reqPerSec: m((c) => c.reqPerSec), cpuUs: m((c) => c.cpuUs), originRequests: m((c) => c.originRequests), ...adapterUs });
    }
  }
  const lines: string[] = [];
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  for (const scenario of scenarios) {
    const rows = cells.filter((c) => c.scenario === scenario);
    const hf = rows.find((c) => c.subject === 'holdfast memory');
    lines.push('', `${scenario} (sequential, 4 KiB body${rounds > 1 ? `, median of ${rounds} alternating rounds` : ''})`);
    lines.push(`${'subject'.padEnd(30)}${pad('req/s', 9)}${pad('mean µs', 9)}${pad('p50 µs', 9)}${pad('p99 µs', 9)}${pad('cpu µs', 9)}${pad('origin', 8)}${pad('hf-mem ×', 10)}${pad('adapter', 9)}`);
    for (const c of rows) {
      if (c.error !== undefined) {
        lines.push(`${c.subject.padEnd(30)} error: ${c.error}`);
        continue;
      }
      const ratio = hf !== undefined && c.reqPerSec > 0 ? (hf.reqPerSec / c.reqPerSec).toFixed(2) : '-';
      lines.push(`${c.subject.padEnd(30)}${pad(c.reqPerSec, 9)}${pad(c.meanUs, 9)}${pad(c.p50Us, 9)}${pad(c.p99Us, 9)}${pad(c.cpuUs, 9)}${pad(c.originRequests, 8)}${pad(ratio, 10)}${pad(c.adapterUs ?? '', 9)}`);
    }
  }
  lines.push('', '"hf-mem ×" = holdfast-memory throughput ÷ this subject\'s (>1: holdfast memory is faster). "origin" = origin requests during the timed part.');
  lines.push('"adapter" = µs per request holdfast spent converting undici\'s headers to a HeaderList and back (included in its figures).');
  lines.push('"cpu µs" = this process\'s CPU time per request (the loopback origin runs in it too, alike for every subject); steadier than wall time on a busy machine.');
  process.stdout.write(`${lines.join('\n')}\n`);
  return { node: process.version, bodyBytes: BODY.length, rounds, cells };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await run();
}
