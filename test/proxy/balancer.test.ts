/**
 * Several upstreams: round-robin, passive health (a failing upstream is skipped for a while, then
 * probed again by real traffic), failover of requests that were certainly not processed, and
 * the shared wait queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { directRequest, freePort, startOrigin, startProxy } from './helpers.ts';
import { sleep, until } from '../support.ts';

test('round-robin over healthy upstreams; a dead one is tried once, skipped while down, probed again after', async (t) => {
  const a = await startOrigin(t, (_req, res) => res.end('a'));
  const b = await startOrigin(t, (_req, res) => res.end('b'));
  const deadPort = await freePort();
  const proxy = await startProxy(t, {
    upstreams: [a.url, b.url, `http://127.0.0.1:${deadPort}`],
    health: { maxFails: 1, failTimeout: 400 },
  });
  const answers: string[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await directRequest(`${proxy.url}/r${i}`);
    assert.equal(r.status, 200, `request ${i} answered despite the dead upstream`);
    answers.push(r.body.toString());
  }
  assert.equal(answers.filter((x) => x === 'a').length, 6, answers.join(''));
  assert.equal(answers.filter((x) => x === 'b').length, 6, answers.join(''));
  // Strict alternation: round-robin, not "whoever is free".
  for (let i = 1; i < answers.length; i++) assert.notEqual(answers[i], answers[i - 1], answers.join(''));
  const dead = proxy.upstreams[2]!;
  assert.equal(dead.requests, 1, 'the dead upstream was tried once, then skipped');
  assert.equal(dead.failures, 1);
  assert.equal(dead.healthy, false);
  assert.equal(proxy.stats.failovers, 1);

  // After the skip window, real traffic probes it again (and it is still dead: failover again).
  await until(() => proxy.upstreams[2]!.healthy, { what: 'the dead upstream to leave its skip window' });
  for (let i = 0; i < 3; i++) assert.equal((await directRequest(`${proxy.url}/p${i}`)).status, 200);
  assert.equal(proxy.upstreams[2]!.requests, 2, 'probed once more after fail_timeout');
  assert.equal(proxy.upstreams[2]!.healthy, false);
});

test('failover: a POST that never reached a dead upstream goes to a live one, processed once', async (t) => {
  const live = await startOrigin(t, (req, res, body) => res.end(`${req.method} ${body.toString()}`));
  const deadPort = await freePort();
  const proxy = await startProxy(t, { upstreams: [`http://127.0.0.1:${deadPort}`, live.url] });
  const r = await directRequest(`${proxy.url}/form`, { method: 'POST', body: 'payload' });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'POST payload');
  assert.equal(live.seen.length, 1, 'processed exactly once');
});

test('a POST the upstream may have processed is not repeated on another upstream', async (t) => {
  // The first upstream reads the request, then drops the connection without answering.
  const dropping = await startOrigin(t, (_req, res) => res.socket?.destroy());
  const other = await startOrigin(t, (_req, res) => res.end('other'));
  const proxy = await startProxy(t, { upstreams: [dropping.url, other.url], health: { maxFails: 100 } });
  const post = await directRequest(`${proxy.url}/pay`, { method: 'POST', body: 'once' });
  assert.equal(post.status, 502);
  assert.match(post.body.toString(), /HF_SOCKET_RESET in phase headers \(the upstream may have processed it\)/);
  assert.equal(other.seen.length, 0, 'never sent to a second upstream');
  // Control: an idempotent GET with the same failure is safe to repeat elsewhere.
  const get = await directRequest(`${proxy.url}/read`);
  assert.equal(get.status, 200);
  assert.equal(get.body.toString(), 'other');
});

test('one shared queue: with concurrency 1 per upstream, a burst is spread over both and all answered', async (t) => {
  const slow = async (name: string) =>
    startOrigin(t, async (_req, res) => {
      // Slow enough answers that the burst queues: spreading it is the subject.
      await sleep(20);
      res.end(name);
    });
  const a = await slow('a');
  const b = await slow('b');
  const proxy = await startProxy(t, { upstreams: [a.url, b.url], upstreamConcurrency: 1 });
  const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => directRequest(`${proxy.url}/q${i}`)));
  assert.ok(rs.every((r) => r.status === 200));
  assert.equal(a.maxInFlight, 1);
  assert.equal(b.maxInFlight, 1);
  assert.equal(a.seen.length + b.seen.length, 10);
  assert.ok(a.seen.length > 0 && b.seen.length > 0, `a=${a.seen.length} b=${b.seen.length}`);
});

test('queue bounds: beyond queueLimit the proxy answers 503; a wait beyond the queue timeout is 503 too', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const origin = await startOrigin(t, async (_req, res) => {
    await gate;
    res.end('done');
  });
  t.after(() => release());
  const proxy = await startProxy(t, { upstreams: [origin.url], upstreamConcurrency: 1, queueLimit: 1, timeouts: { queue: 300 } });
  const first = directRequest(`${proxy.url}/1`);
  await until(() => origin.seen.length === 1, { what: 'the first request at the origin' });
  const second = directRequest(`${proxy.url}/2`); // waits in the queue
  await until(() => proxy.queued === 1, { what: 'the second request in the queue' });
  const third = await directRequest(`${proxy.url}/3`); // queue full
  assert.equal(third.status, 503);
  assert.match(third.body.toString(), /HF_PROXY_QUEUE_FULL/);
  const r2 = await second;
  assert.equal(r2.status, 503);
  assert.match(r2.body.toString(), /HF_PROXY_QUEUE_TIMEOUT/);
  release();
  assert.equal((await first).status, 200);
});
