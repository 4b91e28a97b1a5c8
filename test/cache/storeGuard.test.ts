/**
 * StoreGuard's state machine with a store that fails on command and a clock moved by hand:
 * closed → open after the threshold, skipped (no call reaches the store) while open, one probe
 * after the cool-down, closed when it succeeds; a store that never answers costs one timeout per
 * call. breakerLog writes one line per opening and closing, with the real message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList, MemoryStore, StoreGuard, createCache, StoreTimeoutError, StoreUnavailableError, breakerLog, describeError, type BreakerStateChange, type CacheStore } from '../../src/cache/index.ts';

function flakyStore(): { store: CacheStore; calls: () => number; mode: { now: 'ok' | 'fail' | 'hang' } } {
  const inner = new MemoryStore();
  const mode: { now: 'ok' | 'fail' | 'hang' } = { now: 'ok' };
  let calls = 0;
  const wrap = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => (...a: A): Promise<R> => {
    calls++;
    if (mode.now === 'fail') return Promise.reject(new Error('connection refused by the test'));
    if (mode.now === 'hang') return new Promise<R>(() => {});
    return fn(...a);
  };
  const store: CacheStore = {
    get: wrap((k: string) => inner.get(k)),
    put: wrap((e: Parameters<CacheStore['put']>[0]) => inner.put(e)),
    freshen: wrap((e: Parameters<CacheStore['freshen']>[0]) => inner.freshen(e)),
    delete: wrap((k: string) => inner.delete(k)),
    acquireLease: wrap((n: string, o: string, t: number) => inner.acquireLease(n, o, t)),
    releaseLease: wrap((n: string, o: string) => inner.releaseLease(n, o)),
    close: () => inner.close(),
  };
  return { store, calls: () => calls, mode };
}

test('StoreGuard: opens after the threshold, skips while open, probes once after the cool-down, closes on success', async () => {
  const f = flakyStore();
  let now = 0;
  const changes: BreakerStateChange[] = [];
  const guard = new StoreGuard(f.store, { failureThreshold: 3, coolDownMs: 1000, timeoutMs: 1000, now: () => now, onStateChange: (c) => changes.push(c) });
  assert.deepEqual(await guard.get('k'), []);
  f.mode.now = 'fail';
  for (let i = 0; i < 3; i++) await assert.rejects(guard.get('k'), /connection refused by the test/);
  assert.equal(guard.state, 'open');
  assert.equal(changes.length, 1);
  assert.match(describeError(changes[0]!.error), /connection refused by the test/);
  const before = f.calls();
  for (let i = 0; i < 10; i++) await assert.rejects(guard.get('k'), StoreUnavailableError);
  assert.equal(f.calls(), before, 'no call reaches the store while the breaker is open');
  assert.equal(guard.stats.skipped, 10);
  now += 1000;
  f.mode.now = 'ok';
  // The probe and a concurrent call: only the probe reaches the store.
  const [probe, other] = await Promise.allSettled([guard.get('k'), guard.get('k')]);
  assert.equal(probe.status, 'fulfilled');
  assert.equal(other.status, 'rejected');
  assert.equal(f.calls(), before + 1);
  assert.equal(guard.state, 'closed');
  assert.deepEqual(changes.map((c) => c.to), ['open', 'half-open', 'closed']);
});

test('StoreGuard: a failed probe re-opens at once; a store whose writes all fail (reads work) still opens', async () => {
  const f = flakyStore();
  let now = 0;
  const guard = new StoreGuard(f.store, { failureThreshold: 2, coolDownMs: 100, now: () => now });
  f.mode.now = 'fail';
  await assert.rejects(guard.get('k'));
  await assert.rejects(guard.get('k'));
  now += 100;
  await assert.rejects(guard.get('k'), /refused/);
  assert.equal(guard.state, 'open');
  // Alternating success and failure (get works, put fails): opens within the window.
  now += 100;
  f.mode.now = 'ok';
  await guard.get('k');
  assert.equal(guard.state, 'closed');
  for (let i = 0; i < 4 && guard.state === 'closed'; i++) {
    f.mode.now = 'ok';
    await guard.get('k').catch(() => {});
    f.mode.now = 'fail';
    await guard.get('k').catch(() => {});
  }
  assert.equal(guard.state, 'open');
});

test('StoreGuard: a store that never answers costs one timeout per call, then nothing', async () => {
  const f = flakyStore();
  const guard = new StoreGuard(f.store, { failureThreshold: 2, timeoutMs: 20, coolDownMs: 60_000 });
  f.mode.now = 'hang';
  await assert.rejects(guard.get('k'), StoreTimeoutError);
  await assert.rejects(guard.acquireLease('l', 'o', 1000), /cache store lease timed out after 20 ms/);
  await assert.rejects(guard.get('k'), StoreUnavailableError);
  assert.deepEqual({ state: guard.state, timeouts: guard.stats.timeouts, skipped: guard.stats.skipped }, { state: 'open', timeouts: 2, skipped: 1 });
});

test('breakerLog: the opening with its message, the closing; repeated re-openings left out and counted', () => {
  const lines: string[] = [];
  let now = 0;
  const log = breakerLog((l) => lines.push(l), { intervalMs: 60_000, now: () => now });
  const refused = new AggregateError([Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })], '');
  log({ from: 'closed', to: 'open', error: refused, failures: 5 });
  for (let i = 0; i < 5; i++) {
    log({ from: 'open', to: 'half-open', error: undefined, failures: 0 });
    log({ from: 'half-open', to: 'open', error: refused, failures: 6 });
  }
  log({ from: 'open', to: 'half-open', error: undefined, failures: 0 });
  log({ from: 'half-open', to: 'closed', error: undefined, failures: 0 });
  assert.deepEqual(lines, [
    'cache store failing, cache bypassed (circuit breaker open after 5 failures): connect ECONNREFUSED 127.0.0.1:6379',
    'cache store recovered: circuit breaker closed (5 more state changes not logged)',
  ]);
  // The same message again within the interval (a flapping store): nothing; after it, a line.
  log({ from: 'closed', to: 'open', error: refused, failures: 5 });
  log({ from: 'half-open', to: 'closed', error: undefined, failures: 0 });
  assert.equal(lines.length, 2);
  now += 60_000;
  log({ from: 'closed', to: 'open', error: refused, failures: 5 });
  assert.equal(lines.length, 3);
});

test('describeError: never an empty message', () => {
  assert.equal(describeError(new AggregateError([new Error('a'), new Error('b')], '')), 'a; b');
  class TimeoutError extends Error {}
  assert.equal(describeError(new TimeoutError()), 'TimeoutError');
  assert.equal(describeError(Object.assign(new Error('boom'), { code: 'EX' })), 'EX boom');
});

test('a request waiting for another process\'s lease stops waiting when the store stops answering, and goes to the origin', { timeout: 20_000 }, async () => {
  const f = flakyStore();
  // Another process holds the fetch lease for a minute, and would wait out a minute-long lease wait.
  assert.equal(await f.store.acquireLease('fetch http://origin.test/held', 'other-process', 60_000), true);
  const cache = createCache({ store: f.store, mode: 'shared', leaseTtlMs: 60_000, leaseWaitMs: 60_000, storeGuard: { timeoutMs: 50, failureThreshold: 2, coolDownMs: 60_000 } });
  let originCalls = 0;
  const pending = cache.handle({ method: 'GET', url: 'http://origin.test/held', headers: new HeaderList() }, async () => {
    originCalls++;
    return { status: 200, statusText: 'OK', headers: new HeaderList([['cache-control', 'max-age=60'], ['content-length', '2']]), body: new TextEncoder().encode('ok') };
  });
  // Let it start waiting (it polls the lease), then the store stops answering.
  for (let i = 0; i < 1000 && cache.stats.collapsed === 0; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(cache.stats.collapsed, 1, 'the request is waiting for the lease');
  f.mode.now = 'hang';
  const res = await pending;
  assert.equal(res.status, 200);
  assert.equal(originCalls, 1);
  assert.ok(cache.stats.storeTimeouts >= 1);
});
