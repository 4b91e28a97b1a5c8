/**
 * Crash safety (DESIGN.md: "no torn entries after kill -9"): writers are SIGKILLed mid-write,
 * repeatedly; afterwards every entry reads back whole (its body matches the hash written beside
 * it) or not at all, and no corrupt entry is ever met.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore, RedisStore } from '../../src/cache/index.ts';
import type { CacheStore } from '../../src/cache/index.ts';
import { REDIS_SERVER, startRedis } from './redisServer.ts';

const here = dirname(fileURLToPath(import.meta.url));
const WRITER = join(here, 'fixtures', 'crashWriter.ts');
const ROUNDS = 6;
const WRITERS = 2;

/** Start a writer and SIGKILL it once it has completed `after` writes (so it is mid-way through the next). */
function killMidWrite(config: Record<string, unknown>, after: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let err = '';
    let killed = false;
    child.stdout.on('data', (d: Buffer) => {
      lines += d.toString().split('\n').length - 1;
      if (!killed && lines >= after) {
        killed = true;
        process.kill(child.pid!, 'SIGKILL');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(lines) : reject(new Error(`writer exited without being killed: ${err.slice(-2000)}`))));
  });
}

async function verify(store: CacheStore, corrupt: () => number): Promise<number> {
  let whole = 0;
  for (let k = 0; k < 10; k++) {
    for (const e of await store.get(`http://crash.test/k${k}`)) {
      const sha = e.headers.first('x-sha');
      assert.equal(createHash('sha256').update(e.body).digest('hex'), sha, `torn entry ${e.key} ${e.variant}`);
      whole++;
    }
  }
  assert.equal(corrupt(), 0, 'a corrupt entry was found');
  return whole;
}

async function rounds(config: Record<string, unknown>): Promise<number> {
  let writes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const done = await Promise.all(Array.from({ length: WRITERS }, (_, w) => killMidWrite({ ...config, seed: round * WRITERS + w }, 1 + ((round + w) % 4))));
    writes += done.reduce((a, b) => a + b, 0);
  }
  return writes;
}

test('crash safety: SQLite writers SIGKILLed mid-write leave every entry whole or absent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-crash-sqlite-'));
  try {
    const writes = await rounds({ kind: 'sqlite', dir });
    let corrupt = 0;
    const store = new SqliteStore({ directory: dir, onCorrupt: () => corrupt++ });
    const whole = await verify(store, () => corrupt);
    t.diagnostic(`${ROUNDS * WRITERS} writers killed after ${writes} completed writes; ${whole} entries read back whole`);
    assert.ok(whole > 0);
    const db = new DatabaseSync(store.path);
    assert.equal((db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
    // The byte total kept by triggers survived the kills exactly.
    const sum = (db.prepare('SELECT COALESCE(SUM(size), 0) AS s FROM hf_heads').get() as { s: number }).s;
    assert.equal(store.bytes, sum);
    // No body outlived its head, and no head lost its body.
    const orphans = db.prepare('SELECT (SELECT COUNT(*) FROM hf_bodies WHERE n NOT IN (SELECT n FROM hf_heads)) + (SELECT COUNT(*) FROM hf_heads WHERE n NOT IN (SELECT n FROM hf_bodies)) AS n').get() as { n: number };
    assert.equal(orphans.n, 0);
    db.close();
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('crash safety: Redis writers SIGKILLed mid-write leave every entry whole or absent', { skip: REDIS_SERVER === undefined ? 'redis-server is not installed (apt-get install redis-server)' : false }, async (t) => {
  const redis = await startRedis();
  try {
    const prefix = `crash:${randomUUID()}:`;
    const writes = await rounds({ kind: 'redis', redisUrl: redis.url, prefix });
    let corrupt = 0;
    const store = await RedisStore.connect({ url: redis.url, prefix, onCorrupt: () => corrupt++ });
    const whole = await verify(store, () => corrupt);
    t.diagnostic(`${ROUNDS * WRITERS} writers killed after ${writes} completed writes; ${whole} entries read back whole`);
    assert.ok(whole > 0);
    await store.close();
  } finally {
    await redis.stop();
  }
});
