/**
 * The seed-003 race (DESIGN.md failure 4) as a test: 8 processes share one store; requests rotate
 * Accept-Encoding against an origin whose responses Vary on it and whose ETags (a hash of the
 * body) change over time; callers never send If-None-Match. Zero 304s may reach callers, every
 * body must match its ETag and the variant asked for, zero errors.
 *
 * A store that keeps variants side by side closes only half of the seed's window: the variant a
 * 304 refers to can still be removed by another process between the conditional request and the
 * 304 (invalidation by an unsafe method, eviction). So the SQLite and Redis arms run under that
 * pressure — the origin holds every 304 back a few ms, workers POST (invalidating every variant of
 * the URL) now and then, and the SQLite store is small enough to evict — and must show that the
 * window was really hit (`revalidatedDisplaced` > 0) while nothing leaked. The control groups —
 * the seed's own algorithm over a one-variant-per-URL store, and over the real SqliteStore under
 * the same pressure — must leak, or the tests have no teeth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOrigin } from './helpers.ts';
import type { Origin } from './helpers.ts';
import { REDIS_SERVER, startRedis } from './redisServer.ts';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, 'fixtures', 'raceWorker.ts');
const PROCESSES = 8;
const PER_PROCESS = 120;
/** How long the origin holds back each 304: the window in which other processes change the store. */
const DELAY_304_MS = 4;
/** Pressure: every 6th GET of each worker is followed by an invalidating POST to that URL. */
const INVALIDATE_EVERY = 6;
/** Pressure: the SQLite store holds about half of the 15 variants (3 paths x 5 encodings), so writes evict. */
const SQLITE_MAX_BYTES = 8_000;

interface Tally {
  requests: number;
  invalidations: number;
  status304: number;
  otherStatus: number;
  etagMismatch: number;
  wrongVariant: number;
  errors: number;
  outcomes: Record<string, number>;
  samples: string[];
  stats: Record<string, number>;
}

/**
 * Origin: Vary: Accept-Encoding, ETag = hash of body (so one per variant), bodies change every 40
 * requests per path; 304s held back `delay304Ms`; POSTs succeed with 204 (and so invalidate).
 */
async function raceOrigin(delay304Ms = 0): Promise<Origin & { sent304: () => number }> {
  const perPath = new Map<string, number>();
  let sent304 = 0;
  const origin = await startOrigin((req, res) => {
    if (req.method === 'POST') {
      res.writeHead(204);
      res.end();
      return;
    }
    const path = req.url ?? '/';
    const n = perPath.get(path) ?? 0;
    perPath.set(path, n + 1);
    const version = Math.floor(n / 40);
    const ae = (req.headers['accept-encoding'] ?? '-').toLowerCase();
    const body = `${path} v${version} ae=${ae}; ${'x'.repeat(200 + ((version * 37) % 300))}`;
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    // /r/2 may be served fresh for a second (so variant selection is exercised without the
    // origin's help); the others must be revalidated every time (the seed's 304 path).
    const headers = { 'cache-control': path === '/r/2' ? 'max-age=1' : 'max-age=0', etag, vary: 'Accept-Encoding' };
    if (req.headers['if-none-match'] === etag) {
      sent304++;
      const send = () => {
        res.writeHead(304, headers);
        res.end();
      };
      if (delay304Ms > 0) setTimeout(send, delay304Ms);
      else send();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': 'text/plain' });
    res.end(body);
  });
  return Object.assign(origin, { sent304: () => sent304 });
}

async function runWorkers(config: Record<string, unknown>): Promise<Tally> {
  const results = await Promise.all(
    Array.from({ length: PROCESSES }, (_, worker) =>
      new Promise<Tally>((resolve, reject) => {
        const child = spawn(process.execPath, [WORKER, JSON.stringify({ ...config, count: PER_PROCESS, worker })], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => {
          const line = out.trim().split('\n').pop() ?? '';
          try {
            resolve(JSON.parse(line) as Tally);
          } catch {
            reject(new Error(`worker ${worker} exited ${code}: ${err.slice(-2000)}`));
          }
        });
      }),
    ),
  );
  const total: Tally = { requests: 0, invalidations: 0, status304: 0, otherStatus: 0, etagMismatch: 0, wrongVariant: 0, errors: 0, outcomes: {}, samples: [], stats: {} };
  for (const r of results) {
    for (const k of ['requests', 'invalidations', 'status304', 'otherStatus', 'etagMismatch', 'wrongVariant', 'errors'] as const) total[k] += r[k];
    for (const [k, v] of Object.entries(r.outcomes)) total.outcomes[k] = (total.outcomes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.stats)) total.stats[k] = (total.stats[k] ?? 0) + v;
    total.samples.push(...r.samples);
  }
  return total;
}

function assertClean(t: Tally, origin304s: number, underPressure = false): void {
  assert.equal(t.requests, PROCESSES * PER_PROCESS);
  assert.deepEqual(
    { status304: t.status304, otherStatus: t.otherStatus, etagMismatch: t.etagMismatch, wrongVariant: t.wrongVariant, errors: t.errors },
    { status304: 0, otherStatus: 0, etagMismatch: 0, wrongVariant: 0, errors: 0 },
    t.samples.join('\n'),
  );
  // The race was actually run: the origin answered many conditional requests with 304.
  assert.ok(origin304s > 0 && (t.outcomes['revalidated'] ?? 0) > 0, `no revalidations happened: ${JSON.stringify(t.outcomes)}`);
  if (underPressure) {
    assert.ok(t.invalidations > 0, 'no invalidations were sent');
    // The seed's window was really hit: 304s arrived for responses other processes had removed
    // or replaced meanwhile; the held copy answered them.
    assert.ok((t.stats['revalidatedDisplaced'] ?? 0) > 0, `the store never changed under a revalidation: ${JSON.stringify(t.stats)}`);
  }
}

/** The SQLite arms' configuration: one shared directory, small enough to evict, invalidations. */
const sqlitePressure = (dir: string, origin: Origin) => ({ dir, origin: origin.url, maxBytes: SQLITE_MAX_BYTES, invalidateEvery: INVALIDATE_EVERY });

test('seed 003: 8 processes sharing one SQLite store never leak a 304, even as the revalidated variant is evicted or invalidated meanwhile (RFC 9111 §4.1, §4.3.4)', async (ctx) => {
  const origin = await raceOrigin(DELAY_304_MS);
  const dir = mkdtempSync(join(tmpdir(), 'hf-race-sqlite-'));
  try {
    const t = await runWorkers({ kind: 'sqlite', ...sqlitePressure(dir, origin) });
    ctx.diagnostic(`sqlite: ${t.invalidations} invalidations; outcomes ${JSON.stringify(t.outcomes)}; stats ${JSON.stringify(t.stats)}`);
    assertClean(t, origin.sent304(), true);
  } finally {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('seed 003: 8 processes sharing one Redis store never leak a 304, even as the revalidated variant is invalidated meanwhile (RFC 9111 §4.1, §4.3.4)', { skip: REDIS_SERVER === undefined ? 'redis-server is not installed (apt-get install redis-server)' : false }, async (ctx) => {
  const origin = await raceOrigin(DELAY_304_MS);
  const redis = await startRedis();
  try {
    const t = await runWorkers({ kind: 'redis', redisUrl: redis.url, prefix: `race:${randomUUID()}:`, origin: origin.url, invalidateEvery: INVALIDATE_EVERY });
    ctx.diagnostic(`redis: ${t.invalidations} invalidations; outcomes ${JSON.stringify(t.outcomes)}; stats ${JSON.stringify(t.stats)}`);
    assertClean(t, origin.sent304(), true);
  } finally {
    await origin.close();
    await redis.stop();
  }
});

test('seed 003 control: the seed algorithm over the real SqliteStore (variants side by side) DOES leak 304s under that pressure', async (ctx) => {
  // Without this, the two tests above could pass merely because the pressure never removed a
  // variant at the wrong moment. Same origin, same store, same configuration; only the algorithm
  // differs (naive.ts: re-read after the 304, raw 304 when nothing is found).
  let leaked = 0;
  const tallies: Tally[] = [];
  for (let round = 0; round < 3 && leaked === 0; round++) {
    const origin = await raceOrigin(DELAY_304_MS);
    const dir = mkdtempSync(join(tmpdir(), 'hf-race-naive-sqlite-'));
    try {
      const t = await runWorkers({ kind: 'naive-sqlite', ...sqlitePressure(dir, origin) });
      tallies.push(t);
      ctx.diagnostic(`naive over SqliteStore round ${round}: ${t.status304} leaked 304s of ${t.requests}; ${t.invalidations} invalidations; ${origin.sent304()} origin 304s`);
      leaked += t.status304;
      assert.equal(t.errors, 0, t.samples.join('\n'));
    } finally {
      await origin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.ok(leaked > 0, `the seed algorithm over SqliteStore did not leak in 3 rounds: ${JSON.stringify(tallies.map((t) => t.outcomes))}`);
});

test('seed 003 control: the seed algorithm over a one-variant-per-URL store DOES leak 304s; holdfast over the same store does not', async (ctx) => {
  // Control group: the naive algorithm must leak, or the tests above prove nothing.
  let leaked = 0;
  const tallies: Tally[] = [];
  for (let round = 0; round < 3 && leaked === 0; round++) {
    const origin = await raceOrigin();
    const dir = mkdtempSync(join(tmpdir(), 'hf-race-naive-'));
    try {
      const t = await runWorkers({ kind: 'naive', dir, origin: origin.url });
      tallies.push(t);
      ctx.diagnostic(`naive round ${round}: ${t.status304} leaked 304s of ${t.requests}; outcomes ${JSON.stringify(t.outcomes)}`);
      leaked += t.status304;
    } finally {
      await origin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.ok(leaked > 0, `the naive cache did not leak in 3 rounds: ${JSON.stringify(tallies.map((t) => t.outcomes))}`);
  // Same naive store, holdfast's cache layer: the held response answers the 304, so nothing leaks
  // even though the store itself keeps only one variant per URL.
  const origin = await raceOrigin();
  const dir = mkdtempSync(join(tmpdir(), 'hf-race-naive-store-'));
  try {
    const t = await runWorkers({ kind: 'holdfast-naive-store', dir, origin: origin.url });
    assertClean(t, origin.sent304());
  } finally {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
