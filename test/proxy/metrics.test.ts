/** The proxy's counters: what a request adds, and what a snapshot and the exposition text show. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics, renderPrometheus, LATENCY_BUCKETS } from '../../src/proxy/metrics.ts';
import type { AccessRecord } from '../../src/proxy/accessLog.ts';

function record(over: Partial<AccessRecord>): AccessRecord {
  return {
    time: 0, client: '127.0.0.1', method: 'GET', target: '/', versionMinor: 1, status: 200, bytes: 0, durationMs: 1,
    route: 'r', upstream: null, upstreamMs: null, retries: 0, cache: null, requestId: null, referer: null, userAgent: null,
    ...over,
  };
}

test('requests are counted by route and status class', () => {
  const m = new ProxyMetrics();
  for (const [route, status] of [['a', 200], ['a', 204], ['a', 404], ['b', 502], [null, 400]] as const) {
    m.requestStarted();
    m.requestEnded(record({ route, status }));
  }
  assert.deepEqual(m.snapshot([], 0)['holdfast_proxy_requests_total']?.samples, {
    'holdfast_proxy_requests_total{route="a",code="2xx"}': 2,
    'holdfast_proxy_requests_total{route="a",code="4xx"}': 1,
    'holdfast_proxy_requests_total{route="b",code="5xx"}': 1,
    'holdfast_proxy_requests_total{route="",code="4xx"}': 1,
  });
  assert.equal(m.snapshot([], 0)['holdfast_proxy_in_flight_requests']?.samples['holdfast_proxy_in_flight_requests'], 0);
});

test('the upstream latency histogram has cumulative buckets, all present, a bound counting as inside', () => {
  const m = new ProxyMetrics();
  const u = 'http://127.0.0.1:1';
  // 3 ms, exactly 10 ms (inside le=0.01), 30 ms, 3 s, 20 s (only +Inf).
  for (const ms of [3, 10, 30, 3000, 20_000]) m.requestEnded(record({ upstream: u, upstreamMs: ms }));
  const samples = m.snapshot([], 0)['holdfast_proxy_upstream_response_seconds']!.samples;
  const bucket = (le: string): number | undefined => samples[`holdfast_proxy_upstream_response_seconds_bucket{upstream="${u}",le="${le}"}`];
  const expected = [1, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 5];
  const les = [...LATENCY_BUCKETS.map(String), '+Inf'];
  assert.deepEqual(les.map((le) => [le, bucket(le)]), les.map((le, i) => [le, expected[i]]));
  assert.equal(samples[`holdfast_proxy_upstream_response_seconds_count{upstream="${u}"}`], 5);
  assert.ok(Math.abs(samples[`holdfast_proxy_upstream_response_seconds_sum{upstream="${u}"}`]! - 23.043) < 1e-9);
  // The exposition text lists a histogram's buckets in order, then its sum and count.
  const text = renderPrometheus([m.snapshot([], 0)]);
  const lines = text.split('\n').filter((l) => l.startsWith('holdfast_proxy_upstream_response_seconds'));
  assert.equal(lines.length, LATENCY_BUCKETS.length + 3);
  assert.match(lines[0]!, /_bucket\{upstream="[^"]+",le="0\.005"\} 1$/);
  assert.match(lines.at(-2)!, /_sum\{/);
  assert.match(lines.at(-1)!, /_count\{upstream="[^"]+"\} 5$/);
});

test('snapshots of two processes add up', () => {
  const a = new ProxyMetrics();
  const b = new ProxyMetrics();
  a.requestEnded(record({ upstream: 'u', upstreamMs: 1 }));
  b.requestEnded(record({ upstream: 'u', upstreamMs: 1 }));
  const text = renderPrometheus([a.snapshot([], 0), b.snapshot([], 0)]);
  assert.match(text, /^holdfast_proxy_requests_total\{route="r",code="2xx"\} 2$/m);
  assert.match(text, /^holdfast_proxy_upstream_response_seconds_bucket\{upstream="u",le="0\.005"\} 2$/m);
});
