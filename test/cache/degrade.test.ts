/**
 * A SQLite cache whose disk fails: full (a file-size limit on a child process), or a directory
 * removed under a running cache. Requests are answered all the same, the breaker shows the
 * store's own error, and a removed directory is recreated so that the cache works again.
 * And Redis as a fleet runs it: TLS with a private CA, credentials, clear errors at connect.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeaderList, RedisStore, SqliteStore, StoreConnectionError, createCache, type BreakerStateChange, type CacheResponse } from '../../src/cache/index.ts';
import { freePort } from '../../src/lab/child.ts';
import { REDIS_SERVER, startRedis } from './redisServer.ts';

const here = dirname(fileURLToPath(import.meta.url));
const BASH = ['/bin/bash', '/usr/bin/bash'].find((p) => existsSync(p));

function temp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hf-degrade-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('sqlite, disk full (RLIMIT_FSIZE): every request answered, the process lives, the breaker opens with SQLite\'s error', { skip: BASH === undefined ? 'bash not installed' : false }, async (t) => {
  const dir = join(temp(t), 'cache');
  const COUNT = 60;
  // 256 KiB per file: room for the schema and a few 16 KiB entries, then every write fails.
  const child = spawn(BASH!, ['-c', `ulimit -f 256 && exec "$0" "$1" "$2" "$3"`, process.execPath, join(here, 'fixtures', 'fullDiskWorker.ts'), dir, String(COUNT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, `worker exited ${code}: ${err}`);
  const r = JSON.parse(out) as { answered: number; served: number; stats: { storeErrors: number; storeState: string }; changes: Array<{ to: string; error: string }> };
  assert.equal(r.answered, COUNT);
  assert.ok(r.served > 0, 'entries written before the disk filled are still served');
  assert.ok(r.stats.storeErrors > 0, JSON.stringify(r.stats));
  const opened = r.changes.find((c) => c.to === 'open');
  assert.ok(opened !== undefined, JSON.stringify(r.changes));
  assert.match(opened.error, /full|disk|I\/O|too large/i);
});

test('sqlite, cache directory removed under a running cache: answered throughout, the directory comes back and entries land in it', async (t) => {
  const dir = join(temp(t), 'cache');
  const store = new SqliteStore({ directory: dir });
  t.after(() => store.close());
  const changes: BreakerStateChange[] = [];
  const cache = createCache({ store, mode: 'shared', storeGuard: { onStateChange: (c) => changes.push(c) } });
  let origin = 0;
  const get = (path: string): Promise<CacheResponse> =>
    cache.handle({ method: 'GET', url: `http://origin.test${path}`, headers: new HeaderList() }, async () => {
      origin++;
      return { status: 200, statusText: 'OK', headers: new HeaderList([['cache-control', 'max-age=600'], ['content-length', '2']]), body: new TextEncoder().encode('ok') };
    });
  assert.equal((await get('/a')).cacheOutcome, 'miss');
  assert.equal((await get('/a')).cacheOutcome, 'hit');
  rmSync(dir, { recursive: true, force: true });
  // Requests go on; within the store's presence check the database is made again where it belongs.
  let back = false;
  for (let i = 0; i < 400 && !back; i++) {
    const r = await get(`/during/${i}`);
    assert.equal(r.status, 200);
    back = existsSync(join(dir, 'cache.sqlite'));
    if (!back) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(back, 'the cache directory and database were recreated');
  assert.equal((await get('/b')).cacheOutcome, 'miss');
  // Another process opening the directory sees what this one stores now (not an unlinked file).
  const other = new SqliteStore({ directory: dir });
  t.after(() => other.close());
  assert.equal((await other.get('http://origin.test/b')).length, 1);
  assert.equal((await get('/b')).cacheOutcome, 'hit');
  assert.equal(cache.stats.storeState, 'closed');
  assert.ok(origin > 2);
});

const OPENSSL = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));

test('redis over TLS (rediss://) with a private CA and a password: from the options or the URL; a wrong password is a clear error at connect', { skip: REDIS_SERVER === undefined || OPENSSL === undefined ? 'redis-server or openssl not installed' : false }, async (t) => {
  const dir = temp(t);
  const made = spawnSync(OPENSSL!, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1']);
  assert.equal(made.status, 0, made.stderr?.toString());
  const tlsPort = await freePort();
  const redis = await startRedis({
    args: ['--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'cert.pem'), '--tls-key-file', join(dir, 'key.pem'), '--tls-ca-cert-file', join(dir, 'cert.pem'), '--tls-auth-clients', 'no', '--requirepass', 's3cret'],
  });
  t.after(() => redis.stop());
  const ca = readFileSync(join(dir, 'cert.pem'));
  const url = `rediss://127.0.0.1:${tlsPort}`;
  const prefix = RedisStore.uniquePrefix();
  const a = await RedisStore.connect({ url, password: 's3cret', tls: { ca }, prefix });
  t.after(() => a.close());
  const cache = createCache({ store: a, mode: 'shared' });
  const next = async (): Promise<CacheResponse> => ({ status: 200, statusText: 'OK', headers: new HeaderList([['cache-control', 'max-age=60'], ['content-length', '2']]), body: new TextEncoder().encode('ok') });
  assert.equal((await cache.handle({ method: 'GET', url: 'http://origin.test/tls', headers: new HeaderList() }, next)).cacheOutcome, 'miss');
  assert.equal((await cache.handle({ method: 'GET', url: 'http://origin.test/tls', headers: new HeaderList() }, next)).cacheOutcome, 'hit');
  // Credentials in the URL: another process sees the same entry.
  const b = await RedisStore.connect({ url: `rediss://default:s3cret@127.0.0.1:${tlsPort}`, tls: { ca }, prefix });
  t.after(() => b.close());
  assert.equal((await b.get('http://origin.test/tls')).length, 1);
  await assert.rejects(RedisStore.connect({ url, password: 'wrong', tls: { ca }, prefix }), (err: Error) => {
    assert.ok(err instanceof StoreConnectionError);
    assert.match(err.message, /cannot connect to Redis at 127\.0\.0\.1:\d+: .*(WRONGPASS|invalid|password)/i);
    return true;
  });
  // Without the CA, the server's certificate is refused: a clear error, not a hang.
  await assert.rejects(RedisStore.connect({ url, password: 's3cret', prefix }), /certificate/i);
});

const REDIS_CLI = ['/usr/bin/redis-cli', '/usr/local/bin/redis-cli'].find((p) => existsSync(p));

test('redis cluster (three real redis-server nodes): entries on every node, hits, leases', { skip: REDIS_SERVER === undefined || REDIS_CLI === undefined ? 'redis-server or redis-cli not installed' : false }, async (t) => {
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const node = await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] });
    t.after(() => node.stop());
    nodes.push(node);
  }
  const made = spawnSync(REDIS_CLI!, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
  assert.equal(made.status, 0, made.stdout?.toString() + made.stderr?.toString());
  // Wait until every node agrees the cluster is up (bounded).
  for (let i = 0; i < 100; i++) {
    const states = nodes.map((n) => spawnSync(REDIS_CLI!, ['-p', String(n.port), 'cluster', 'info']).stdout.toString());
    if (states.every((s) => s.includes('cluster_state:ok'))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const store = await RedisStore.connect({ clusterNodes: [nodes[0]!.url], prefix: RedisStore.uniquePrefix() });
  t.after(() => store.close());
  const cache = createCache({ store, mode: 'shared' });
  const next = async (): Promise<CacheResponse> => ({ status: 200, statusText: 'OK', headers: new HeaderList([['cache-control', 'max-age=60'], ['content-length', '2']]), body: new TextEncoder().encode('ok') });
  const paths = Array.from({ length: 12 }, (_, i) => `/c/${i}`);
  for (const p of paths) assert.equal((await cache.handle({ method: 'GET', url: `http://origin.test${p}`, headers: new HeaderList() }, next)).cacheOutcome, 'miss');
  for (const p of paths) assert.equal((await cache.handle({ method: 'GET', url: `http://origin.test${p}`, headers: new HeaderList() }, next)).cacheOutcome, 'hit');
  // The keys are spread over the nodes (each node holds some), so the routing is exercised.
  const counts = nodes.map((n) => Number(spawnSync(REDIS_CLI!, ['-p', String(n.port), 'dbsize']).stdout.toString().trim()));
  assert.ok(counts.filter((c) => c > 0).length >= 2, `keys per node: ${counts.join(', ')}`);
  assert.equal(await store.acquireLease('l', 'a', 10_000), true);
  assert.equal(await store.acquireLease('l', 'b', 10_000), false);
  assert.equal(cache.stats.storeErrors, 0);
});

test('redis sentinel: the store follows a failover; requests answered throughout, hits again on the new primary', { skip: REDIS_SERVER === undefined || REDIS_CLI === undefined ? 'redis-server or redis-cli not installed' : false }, async (t) => {
  const primary = await startRedis();
  t.after(() => primary.stop());
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  t.after(() => replica.stop());
  // One sentinel, quorum 1, quick to declare the primary down.
  const dir = temp(t);
  const sentinelPort = await freePort();
  writeFileSync(join(dir, 'sentinel.conf'), [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor main 127.0.0.1 ${primary.port} 1`, 'sentinel down-after-milliseconds main 500', 'sentinel failover-timeout main 5000', ''].join('\n'));
  const sentinel = spawn(REDIS_SERVER!, [join(dir, 'sentinel.conf'), '--sentinel'], { stdio: 'ignore' });
  t.after(() => void sentinel.kill('SIGKILL'));
  const cli = (port: number, ...args: string[]): string => spawnSync(REDIS_CLI!, ['-p', String(port), ...args]).stdout?.toString() ?? '';
  let primaryPort = '';
  for (let i = 0; i < 100 && !primaryPort.includes(String(primary.port)); i++) {
    primaryPort = cli(sentinelPort, 'sentinel', 'get-master-addr-by-name', 'main');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.match(primaryPort, new RegExp(String(primary.port)));
  const changes: BreakerStateChange[] = [];
  const store = await RedisStore.connect({ sentinel: { name: 'main', nodes: [`127.0.0.1:${sentinelPort}`] }, prefix: RedisStore.uniquePrefix(), commandTimeoutMs: 300, connectTimeoutMs: 500 });
  t.after(() => store.close());
  const cache = createCache({ store, mode: 'shared', storeGuard: { timeoutMs: 300, failureThreshold: 3, coolDownMs: 200, onStateChange: (c) => changes.push(c) } });
  const next = async (): Promise<CacheResponse> => ({ status: 200, statusText: 'OK', headers: new HeaderList([['cache-control', 'max-age=60'], ['content-length', '2']]), body: new TextEncoder().encode('ok') });
  const get = (p: string): Promise<CacheResponse> => cache.handle({ method: 'GET', url: `http://origin.test${p}`, headers: new HeaderList() }, next);
  assert.equal((await get('/s')).cacheOutcome, 'miss');
  assert.equal((await get('/s')).cacheOutcome, 'hit');
  await primary.stop();
  // Until the sentinel promotes the replica: answered, from the origin.
  let promoted = false;
  for (let i = 0; i < 300 && !promoted; i++) {
    assert.equal((await get(`/during/${i}`)).status, 200);
    promoted = cli(sentinelPort, 'sentinel', 'get-master-addr-by-name', 'main').includes(String(replica.port));
    if (!promoted) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(promoted, 'the sentinel promoted the replica');
  let hit = false;
  for (let i = 0; i < 200 && !hit; i++) {
    await get('/after');
    hit = (await get('/after')).cacheOutcome === 'hit';
    if (!hit) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(hit, `hits again on the new primary; breaker: ${JSON.stringify(changes.map((c) => c.to))}`);
});
