/**
 * The seed-003 race (DESIGN.md failure 4) as a test: 8 processes share one store; requests rotate
 * Accept-Encoding against an origin whose responses Vary on it and whose ETags (a hash of the
 * body) change over time; callers never send If-None-Match. Zero 304s may reach callers, every
 * body must match its ETag and the variant asked for, zero errors. The control group — the seed's
 * own algorithm over a one-variant-per-URL store — must leak, or the test has no teeth.
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

interface Tally {
  requests: number;
  status304: number;
  otherStatus: number;
  etagMismatch: number;
  wrongVariant: number;
  errors: number;
  outcomes: Record<string, number>;
  samples: string[];
}

/** Origin: Vary: Accept-Encoding, ETag = hash of body (so one per variant), bodies change every 40 requests per path. */
async function raceOrigin(): Promise<Origin & { sent304: () => number }> {
  const perPath = new Map<string, number>();
  let sent304 = 0;
  const origin = await startOrigin((req, res) => {
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
      res.writeHead(304, headers);
      res.end();
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
  const total: Tally = { requests: 0, status304: 0, otherStatus: 0, etagMismatch: 0, wrongVariant: 0, errors: 0, outcomes: {}, samples: [] };
  for (const r of results) {
    for (const k of ['requests', 'status304', 'otherStatus', 'etagMismatch', 'wrongVariant', 'errors'] as const) total[k] += r[k];
    for (const [k, v] of Object.entries(r.outcomes)) total.outcomes[k] = (total.outcomes[k] ?? 0) + v;
    total.samples.push(...r.samples);
  }
  return total;
}

function assertClean(t: Tally, origin304s: number): void {
  assert.equal(t.requests, PROCESSES * PER_PROCESS);
  assert.deepEqual(
    { status304: t.status304, otherStatus: t.otherStatus, etagMismatch: t.etagMismatch, wrongVariant: t.wrongVariant, errors: t.errors },
    { status304: 0, otherStatus: 0, etagMismatch: 0, wrongVariant: 0, errors: 0 },
    t.samples.join('\n'),
  );
  // The race was actually run: the origin answered many conditional requests with 304.
  assert.ok(origin304s > 0 && (t.outcomes['revalidated'] ?? 0) > 0, `no revalidations happened: ${JSON.stringify(t.outcomes)}`);
}

test('seed 003: 8 processes sharing one SQLite store never leak a 304 (RFC 9111 §4.1, §4.3.4)', async () => {
  const origin = await raceOrigin();
  const dir = mkdtempSync(join(tmpdir(), 'hf-race-sqlite-'));
  try {
    const t = await runWorkers({ kind: 'sqlite', dir, origin: origin.url });
    assertClean(t, origin.sent304());
  } finally {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('seed 003: 8 processes sharing one Redis store never leak a 304 (RFC 9111 §4.1, §4.3.4)', { skip: REDIS_SERVER === undefined ? 'redis-server is not installed (apt-get install redis-server)' : false }, async () => {
  const origin = await raceOrigin();
  const redis = await startRedis();
  try {
    const t = await runWorkers({ kind: 'redis', redisUrl: redis.url, prefix: `race:${randomUUID()}:`, origin: origin.url });
    assertClean(t, origin.sent304());
  } finally {
    await origin.close();
    await redis.stop();
  }
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
