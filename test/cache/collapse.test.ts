/**
 * Request collapsing across real processes (DESIGN.md: "request collapsing within a process and
 * across processes"; issue 6: "across processes via the store (a lease row or key, with expiry, so
 * a crashed holder never blocks others for long)"). Worker processes (fixtures/collapseWorker.ts)
 * share one SQLite directory, or one Redis, in front of an origin that holds its answers until the
 * test lets them go, so that every process is provably waiting before anything is stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCache, RedisStore, SqliteStore } from '../../src/cache/index.ts';
import type { CacheStore } from '../../src/cache/index.ts';
import { get, httpNext, startOrigin, text } from './helpers.ts';
import type { Origin } from './helpers.ts';
import { REDIS_SERVER, startRedis } from './redisServer.ts';
import type { RedisServer } from './redisServer.ts';
import { until } from '../support.ts';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, 'fixtures', 'collapseWorker.ts');
const PROCESSES = 5;
/** Generous: the workers start on a shared 2-core machine. Only a failing test waits this long. */
const WAIT_MS = 20_000;

interface Answer {
  path: string;
  status: number;
  body: string;
  outcome: string;
}

/** A worker process and what it has said so far. */
interface Worker {
  child: ChildProcess;
  collapsed: number;
  answers: Answer[];
  idle: boolean;
  done: boolean;
  errors: string[];
  exited: Promise<number | null>;
}

function startWorker(config: Record<string, unknown>): Worker {
  const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const w: Worker = { child, collapsed: 0, answers: [], idle: false, done: false, errors: [], exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const e = JSON.parse(line) as { event: string; n?: number; error?: string; context?: string } & Answer;
      if (e.event === 'collapsed') w.collapsed = e.n!;
      else if (e.event === 'answer') w.answers.push({ path: e.path, status: e.status, body: e.body, outcome: e.outcome });
      else if (e.event === 'idle') w.idle = true;
      else if (e.event === 'done') w.done = true;
      else if (e.event === 'error') w.errors.push(`${e.context}: ${e.error}`);
    }
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL') w.errors.push(`exited ${code} ${signal}: ${err.slice(-2000)}`);
  });
  return w;
}

/** Kill, by PID, whichever of our workers is still running (a failed test must not leave them). */
async function stopWorkers(workers: Worker[]): Promise<void> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
}

/** Waits for `cond` across the worker processes; fails with the status of everyone. */
function waitFor(cond: () => boolean, what: () => string, ms = WAIT_MS): Promise<void> {
  return until(cond, { timeoutMs: ms, what });
}

/** An origin that holds every answer until `release()`; later requests are answered at once. */
async function gatedOrigin(answer: (path: string, conditional: string | undefined, n: number) => { status: number; headers: Record<string, string>; body: string }): Promise<Origin & { release(): void }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const origin = await startOrigin((req, res, n) => {
    const inm = req.headers['if-none-match'];
    void gate.then(() => {
      const a = answer(req.url ?? '/', typeof inm === 'string' ? inm : undefined, n);
      res.writeHead(a.status, a.headers);
      res.end(a.body);
    });
  });
  return Object.assign(origin, { release });
}

/** The two shared stores, each as: worker config, a store for the test process itself, cleanup. */
interface Shared {
  config: Record<string, unknown>;
  open(): Promise<CacheStore>;
  cleanup(): Promise<void>;
}

const redisSkip = REDIS_SERVER === undefined ? 'redis-server is not installed (apt-get install redis-server)' : false;

const sharedStores: Array<{ name: string; skip: string | false; make(): Promise<Shared> }> = [
  {
    name: 'SQLite',
    skip: false,
    async make() {
      const dir = mkdtempSync(join(tmpdir(), 'hf-collapse-'));
      return { config: { kind: 'sqlite', dir }, open: async () => new SqliteStore({ directory: dir }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'Redis',
    skip: redisSkip,
    async make() {
      const redis: RedisServer = await startRedis();
      const prefix = RedisStore.uniquePrefix();
      return { config: { kind: 'redis', redisUrl: redis.url, prefix }, open: () => RedisStore.connect({ url: redis.url, prefix }), cleanup: () => redis.stop() };
    },
  },
];

const sum = (ws: Worker[], f: (w: Worker) => number) => ws.reduce((n, w) => n + f(w), 0);
const status = (origin: Origin, ws: Worker[]) =>
  `origin saw ${origin.requests.length} (${origin.requests.map((r) => r.path).join(' ')}); collapsed ${ws.map((w) => w.collapsed)}; answers ${ws.map((w) => w.answers.length)}; idle ${ws.map((w) => w.idle)}; errors ${ws.flatMap((w) => w.errors).join(' | ')}`;

for (const shared of sharedStores) {
  test(`collapsing across ${PROCESSES} processes on one ${shared.name} store: concurrent misses make one origin request per key`, { skip: shared.skip }, async () => {
    const paths = ['/a', '/b', '/c'];
    const origin = await gatedOrigin((path, _inm, n) => ({ status: 200, headers: { 'cache-control': 'max-age=100' }, body: `${path} #${n}` }));
    const s = await shared.make();
    const workers: Worker[] = [];
    try {
      for (let i = 0; i < PROCESSES; i++) workers.push(startWorker({ ...s.config, origin: origin.url, paths, leaseTtlMs: 30_000, leaseWaitMs: 30_000 }));
      // Before the origin answers anything: one request per key reached it, and every other
      // (process, key) pair is waiting on the lease of the process that sent it. Stop early if
      // the origin sees more than that: collapsing has failed.
      const expectedWaiters = (PROCESSES - 1) * paths.length;
      await waitFor(
        () => origin.requests.length > paths.length || (origin.requests.length === paths.length && sum(workers, (w) => w.collapsed) === expectedWaiters),
        () => status(origin, workers),
      );
      origin.release();
      await waitFor(() => workers.every((w) => w.done), () => status(origin, workers));
      assert.deepEqual(workers.flatMap((w) => w.errors), []);
      assert.deepEqual(origin.requests.map((r) => r.path).sort(), paths, status(origin, workers));
      for (const path of paths) {
        const answers = workers.map((w) => w.answers.find((a) => a.path === path)!);
        // Everyone got the one response the origin sent for this key: one miss, the rest hits.
        assert.deepEqual(new Set(answers.map((a) => `${a.status} ${a.body}`)).size, 1, JSON.stringify(answers));
        assert.equal(answers[0]!.status, 200);
        assert.deepEqual(answers.map((a) => a.outcome).sort(), [...Array<string>(PROCESSES - 1).fill('hit'), 'miss']);
      }
    } finally {
      await stopWorkers(workers);
      await origin.close();
      await s.cleanup();
    }
  });

  test(`collapsing across processes on one ${shared.name} store: when the lease holder is SIGKILLed mid-request, the others go ahead once its lease expires`, { skip: shared.skip }, async () => {
    // Long enough for all the workers to start and find the lease taken; short enough to wait for.
    const LEASE_TTL_MS = 3_000;
    const origin = await gatedOrigin((path, _inm, n) => ({ status: 200, headers: { 'cache-control': 'max-age=100' }, body: `${path} #${n}` }));
    const s = await shared.make();
    const workers: Worker[] = [];
    // leaseWaitMs far above the TTL: only the lease's expiry can let the waiters go in time.
    const config = { ...s.config, origin: origin.url, paths: ['/k'], leaseTtlMs: LEASE_TTL_MS, leaseWaitMs: 60_000 };
    try {
      for (let i = 0; i < PROCESSES; i++) workers.push(startWorker(config));
      let leaseTakenBy = 0;
      await waitFor(
        () => {
          if (leaseTakenBy === 0 && origin.requests.length > 0) leaseTakenBy = Date.now();
          return origin.requests.length > 1 || (origin.requests.length === 1 && workers.filter((w) => w.collapsed >= 1).length === PROCESSES - 1);
        },
        () => status(origin, workers),
      );
      assert.equal(origin.requests.length, 1, status(origin, workers));
      // The one process not waiting holds the lease (taken just before it sent its request, so
      // it ends at most TTL after leaseTakenBy) and is in the middle of that request.
      const holder = workers.find((w) => w.collapsed === 0)!;
      const waiters = workers.filter((w) => w !== holder);
      holder.child.kill('SIGKILL');
      await holder.exited;
      // The dead holder's request is answered into a closed socket; later ones at once.
      origin.release();
      await waitFor(() => waiters.every((w) => w.done), () => status(origin, workers), LEASE_TTL_MS + 8_000);
      const elapsed = Date.now() - leaseTakenBy;
      assert.deepEqual(workers.flatMap((w) => w.errors), []);
      // One of the waiters took the expired lease and fetched; the others waited for it again
      // and were served what it stored.
      assert.equal(origin.requests.length, 2, status(origin, workers));
      const answers = waiters.map((w) => w.answers[0]!);
      assert.ok(answers.every((a) => a.status === 200 && a.body === '/k #1'), JSON.stringify(answers));
      assert.deepEqual(answers.map((a) => a.outcome).sort(), [...Array<string>(PROCESSES - 2).fill('hit'), 'miss']);
      // They were held back by the dead holder's lease (leaseTakenBy was seen a few ms after the
      // lease was taken), and not blocked for much longer than its TTL.
      assert.ok(elapsed >= LEASE_TTL_MS - 500 && elapsed < LEASE_TTL_MS + 8_000, `took ${elapsed} ms`);
    } finally {
      await stopWorkers(workers);
      await origin.close();
      await s.cleanup();
    }
  });

  test(`stale-while-revalidate across ${PROCESSES} processes on one ${shared.name} store: one background revalidation, not one per process (RFC 5861 §3)`, { skip: shared.skip }, async () => {
    // The first answer is stored already stale (Age 30 > max-age 1) but within
    // stale-while-revalidate. Conditional requests (the revalidations) are held until the test
    // lets them go; the 304 makes the response fresh for 100 s.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const origin = await startOrigin((req, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        void gate.then(() => {
          res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=100' });
          res.end();
        });
      } else {
        res.writeHead(200, { etag: '"v1"', 'cache-control': 'max-age=1, stale-while-revalidate=600', age: '30' });
        res.end('v1 body');
      }
    });
    const conditional = () => origin.requests.filter((r) => r.headers['if-none-match'] !== undefined).length;
    const s = await shared.make();
    const workers: Worker[] = [];
    const store = await s.open();
    const next = httpNext();
    try {
      const local = createCache({ store, collapse: false });
      assert.equal((await local.handle(get(`${origin.url}/s`), next)).cacheOutcome, 'miss');
      for (let i = 0; i < PROCESSES; i++) workers.push(startWorker({ ...s.config, origin: origin.url, paths: ['/s'], leaseTtlMs: 30_000, leaseWaitMs: 30_000 }));
      // Every process answers stale at once; all but the one holding the revalidation lease are
      // then idle, while that one's revalidation is held at the origin. Stop early if a second
      // revalidation arrives.
      await waitFor(
        () => conditional() > 1 || (workers.every((w) => w.answers.length === 1) && workers.filter((w) => w.idle).length === PROCESSES - 1 && conditional() === 1),
        () => status(origin, workers),
      );
      release();
      await waitFor(() => workers.every((w) => w.done), () => status(origin, workers));
      assert.deepEqual(workers.flatMap((w) => w.errors), []);
      assert.equal(conditional(), 1, status(origin, workers));
      for (const w of workers) assert.deepEqual(w.answers, [{ path: '/s', status: 200, body: 'v1 body', outcome: 'stale' }]);
      // The one revalidation freshened the shared entry for everyone.
      const after = await local.handle(get(`${origin.url}/s`), next);
      assert.equal(after.cacheOutcome, 'hit');
      assert.equal(await text(after), 'v1 body');
      assert.equal(origin.requests.length, 2);
    } finally {
      await stopWorkers(workers);
      next.agent.destroy();
      await store.close();
      await origin.close();
      await s.cleanup();
    }
  });
}
