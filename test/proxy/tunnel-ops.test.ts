/**
 * Tunnels as the operator sees them: a WebSocket through the front door is one access log line,
 * written when the tunnel closes (status 101, bytes sent to the client, the time until the close,
 * and the bytes from the client and the close reason), and it shows in the metrics while open
 * (gauge) and once closed (count by reason, bytes by direction), added up across worker processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { until } from '../support.ts';
import { createProxy } from '../../src/proxy/index.ts';
import { ProxyFront } from '../../src/proxy/front.ts';
import { RouteTable } from '../../src/proxy/routes.ts';
import { AccessLog, formatCombined, formatJson, type AccessRecord } from '../../src/proxy/accessLog.ts';
import { renderPrometheus } from '../../src/proxy/metrics.ts';

/** An access log that keeps its records instead of writing them. */
class RecordingLog extends AccessLog {
  readonly records: AccessRecord[] = [];
  constructor() {
    super('-', 'json');
  }
  override write(record: AccessRecord): void {
    this.records.push(record);
  }
}

async function echoBackend(t: import('node:test').TestContext): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  t.after(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  }));
  return `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

async function startFront(t: import('node:test').TestContext, upstream: string): Promise<{ front: ProxyFront; log: RecordingLog; url: string }> {
  const log = new RecordingLog();
  const front = new ProxyFront({ routes: new RouteTable([{ name: 'live', host: null, pathPrefix: '/', proxy: createProxy({ upstreams: [upstream] }) }]), accessLog: log });
  const address = await front.server.listen(0, '127.0.0.1');
  t.after(() => front.close({ timeout: 0 }));
  return { front, log, url: `ws://127.0.0.1:${address.port}` };
}

/** The value of one sample in Prometheus text, or undefined. */
function sample(text: string, key: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.slice(key.length + 1));
}

test('a closed WebSocket is one access log line (combined and JSON) and counts in the metrics', async (t) => {
  const backend = await echoBackend(t);
  const { front, log, url } = await startFront(t, backend);
  const ws = new WebSocket(`${url}/chat?room=1`, { headers: { 'user-agent': 'tunnel-test', 'x-request-id': 'tunnel-1' } });
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.send(Buffer.alloc(3000, 1));
  await once(ws, 'message');

  // Open: in the gauge, not yet in the log (its line waits for the close, as nginx's does).
  await until(() => front.metrics.snapshot([], 0)['holdfast_proxy_tunnels_open']?.samples['holdfast_proxy_tunnels_open{route="live"}'] === 1, { what: 'the open tunnel in the gauge' });
  assert.equal(log.records.length, 0);

  ws.close(1000);
  await once(ws, 'close');
  await until(() => log.records.length === 1, { what: 'the tunnel\'s access log line' });
  const r = log.records[0]!;
  assert.equal(r.status, 101);
  assert.equal(r.requestId, 'tunnel-1');
  assert.equal(r.route, 'live');
  assert.equal(r.upstream, backend);
  assert.ok(r.upstreamMs !== null, 'the time to the upstream\'s 101');
  assert.ok(r.tunnel, 'the record carries the tunnel');
  assert.equal(r.tunnel.reason, 'closed');
  // The message and the close frame each way, with frame headers (and the client's masks).
  assert.ok(r.tunnel.bytesFromClient >= 3000 && r.tunnel.bytesFromClient < 3100, String(r.tunnel.bytesFromClient));
  assert.ok(r.tunnel.bytesFromUpstream >= 3000 && r.tunnel.bytesFromUpstream < 3100, String(r.tunnel.bytesFromUpstream));
  assert.equal(r.bytes, r.tunnel.bytesFromUpstream, 'bytes: what the client was sent through the tunnel');
  assert.ok(r.durationMs >= r.tunnel.durationMs, 'the request lasts until the tunnel closes');

  const combined = formatCombined(r);
  assert.match(combined, new RegExp(`"GET /chat\\?room=1 HTTP/1\\.1" 101 ${r.tunnel.bytesFromUpstream} "-" "tunnel-test" "tunnel-1" \\d+\\.\\d{3} - tunnel=closed from_client=${r.tunnel.bytesFromClient}\\n$`));
  const json = JSON.parse(formatJson(r)) as Record<string, unknown>;
  assert.equal(json['status'], 101);
  assert.equal(json['bytes'], r.tunnel.bytesFromUpstream);
  assert.deepEqual(Object.keys(json['tunnel'] as object), ['protocol', 'bytes_from_client', 'bytes_from_upstream', 'duration_ms', 'reason']);
  assert.deepEqual({ ...(json['tunnel'] as object), duration_ms: 0 }, {
    protocol: 'websocket', bytes_from_client: r.tunnel.bytesFromClient, bytes_from_upstream: r.tunnel.bytesFromUpstream, duration_ms: 0, reason: 'closed',
  });
  // A plain request's JSON line has no tunnel object.
  assert.equal('tunnel' in (JSON.parse(formatJson({ ...r, status: 200, tunnel: null })) as object), false);

  // Two workers with the same history: every tunnel series adds up.
  const one = renderPrometheus([front.snapshot()]);
  const two = renderPrometheus([front.snapshot(), front.snapshot()]);
  assert.equal(sample(one, 'holdfast_proxy_tunnels_open{route="live"}'), 0);
  assert.equal(sample(one, 'holdfast_proxy_tunnels_closed_total{route="live",reason="closed"}'), 1);
  assert.equal(sample(two, 'holdfast_proxy_tunnels_closed_total{route="live",reason="closed"}'), 2);
  assert.equal(sample(one, 'holdfast_proxy_tunnel_bytes_total{route="live",direction="from_client"}'), r.tunnel.bytesFromClient);
  assert.equal(sample(one, 'holdfast_proxy_tunnel_bytes_total{route="live",direction="from_upstream"}'), r.tunnel.bytesFromUpstream);
  assert.equal(sample(two, 'holdfast_proxy_tunnel_bytes_total{route="live",direction="from_upstream"}'), 2 * r.tunnel.bytesFromUpstream);
  assert.ok((sample(one, 'holdfast_proxy_tunnel_seconds_total{route="live"}') ?? 0) > 0);
  assert.match(one, /# TYPE holdfast_proxy_tunnels_open gauge\n/);
  assert.match(one, /# TYPE holdfast_proxy_tunnels_closed_total counter\n/);
  assert.match(one, /# TYPE holdfast_proxy_tunnel_bytes_total counter\n/);
  // The 101 also counts as an answered request, as before.
  assert.equal(sample(one, 'holdfast_proxy_requests_total{route="live",code="1xx"}'), 1);
});

test('closing the front door writes the line of a tunnel it cut before resolving', async (t) => {
  const { front, log, url } = await startFront(t, await echoBackend(t));
  const ws = new WebSocket(`${url}/live`);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.send('x');
  await once(ws, 'message');
  await front.close({ timeout: 0 });
  assert.equal(log.records.length, 1, 'the cut tunnel was logged before close() resolved');
  assert.equal(log.records[0]!.status, 101);
  assert.notEqual(log.records[0]!.tunnel?.reason, undefined);
});

test('an access log drops lines written after its close instead of sending them to stdout', async (t) => {
  const log = new AccessLog('-', 'combined');
  await log.close();
  const write = t.mock.method(process.stdout, 'write', () => true);
  try {
    log.write({ time: 0, client: '127.0.0.1', method: 'GET', target: '/', versionMinor: 1, status: 101, bytes: 0, durationMs: 0, route: null, upstream: null, upstreamMs: null, retries: 0, cache: null, requestId: null, referer: null, userAgent: null });
  } finally {
    write.mock.restore();
  }
  assert.equal(write.mock.callCount(), 0);
});
