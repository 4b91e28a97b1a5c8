/**
 * The proxy's per-phase upstream timeouts, each against an upstream that stalls in that phase:
 * connect (a listener whose accept queue is full, so SYNs go unanswered) → 504 saying so; body
 * (the upstream stops mid-body) → the client sees a cut-off message, never a clean end.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { blackHole, directRequest, rawExchange, startOrigin, startProxy } from './helpers.ts';

test('connect timeout: an upstream that never completes the handshake is answered 504 with the reason', async (t) => {
  const port = await blackHole(t);
  const errors: unknown[] = [];
  const proxy = await startProxy(t, { upstreams: [`http://127.0.0.1:${port}`], timeouts: { connect: 400 }, onError: (err) => errors.push(err) });
  const started = performance.now();
  const r = await directRequest(`${proxy.url}/x`, { timeoutMs: 10_000 });
  const took = performance.now() - started;
  assert.equal(r.status, 504);
  assert.match(r.body.toString(), /HF_CONNECT_TIMEOUT in phase connect/);
  assert.doesNotMatch(r.body.toString(), /may have processed/, 'nothing was sent: the upstream cannot have processed it');
  // Bounded by the connect timeout, not by the kernel's SYN retries (over a minute).
  assert.ok(took >= 390 && took < 5_000, `answered after ${took.toFixed(0)} ms`);
  assert.equal(proxy.stats.upstreamErrors, 1);
  assert.ok(errors.some((e) => (e as { code?: unknown }).code === 'HF_CONNECT_TIMEOUT'));
});

/** An origin that sends a head and part of the body, then stalls (neither more bytes nor a close). */
async function stallingOrigin(t: TestContext, headers: Record<string, string>) {
  return startOrigin(t, (_req, res) => {
    res.writeHead(200, headers);
    res.write('s'.repeat(1000));
    // Never ends; closed by the origin's t.after.
  });
}

test('body timeout: an upstream stalling mid-body (Content-Length) gives the client fewer bytes than announced and a close', async (t) => {
  const origin = await stallingOrigin(t, { 'content-length': '100000' });
  const errors: unknown[] = [];
  const proxy = await startProxy(t, { upstreams: [origin.url], timeouts: { body: 300 }, onError: (err) => errors.push(err) });
  const started = performance.now();
  // rawExchange resolves when the proxy closes, or after 5 s without data (closed: false).
  const r = await rawExchange(Number(new URL(proxy.url).port), 'GET /cl HTTP/1.1\r\nHost: x\r\n\r\n', 5_000);
  const took = performance.now() - started;
  assert.equal(r.closed, true, 'the proxy closes the connection once the upstream body stalls');
  assert.ok(took < 4_000, `closed after ${took.toFixed(0)} ms`);
  assert.match(r.data, /^HTTP\/1\.1 200 /);
  assert.match(r.data, /content-length: 100000/i);
  const body = r.data.slice(r.data.indexOf('\r\n\r\n') + 4);
  assert.equal(body.length, 1000, 'the bytes that came, and no more');
  assert.equal(proxy.stats.truncated, 1);
  assert.ok(errors.some((e) => (e as { code?: unknown }).code === 'HF_BODY_TIMEOUT'), 'reported as a body timeout');
});

test('body timeout: an upstream stalling mid-body (chunked) never gives the client the last chunk', async (t) => {
  const origin = await stallingOrigin(t, {});
  const errors: unknown[] = [];
  const proxy = await startProxy(t, { upstreams: [origin.url], timeouts: { body: 300 }, onError: (err) => errors.push(err) });
  const r = await rawExchange(Number(new URL(proxy.url).port), 'GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n', 5_000);
  assert.match(r.data, /^HTTP\/1\.1 200 /);
  assert.match(r.data, /transfer-encoding: chunked/i);
  assert.ok(r.data.includes('s'.repeat(1000)), 'the bytes that came were passed on');
  // The zero-size chunk is what says "complete" in chunked framing: it must never be sent.
  assert.ok(!r.data.endsWith('\r\n0\r\n\r\n'), `a clean end reached the client: ${JSON.stringify(r.data.slice(-40))}`);
  assert.equal(r.closed, true, 'the proxy closes the connection once the upstream body stalls');
  assert.equal(proxy.stats.truncated, 1);
  assert.ok(errors.some((e) => (e as { code?: unknown }).code === 'HF_BODY_TIMEOUT'));
});
