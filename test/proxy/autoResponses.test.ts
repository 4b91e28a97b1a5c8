/**
 * The responses the front door's server sends without the proxy's handler (a malformed head, a
 * head too large, a body over the limit, a request that stalled) are in the access log like every
 * other response, as nginx logs its own 400s and 408s: status, client, bytes, duration, a request
 * id, and the method and target when the head was parsed ('-' otherwise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccessLog } from '../../src/proxy/accessLog.ts';
import { ProxyFront } from '../../src/proxy/front.ts';
import { RouteTable } from '../../src/proxy/routes.ts';
import { createProxy } from '../../src/proxy/index.ts';
import { freePort, rawExchange, startOrigin, tempDir } from './helpers.ts';
import { runProxyCli } from './frontDoor.ts';

/** Raw requests the server answers itself, each with the status it answers with. */
const REFUSED: { name: string; bytes: string; status: number }[] = [
  { name: 'malformed field line', bytes: 'GET /bad HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n', status: 400 },
  { name: 'head over 16 KiB', bytes: `GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431 },
  { name: 'body over the limit', bytes: 'POST /upload HTTP/1.1\r\nHost: x\r\nUser-Agent: raw-client\r\nX-Request-Id: upload-1\r\nContent-Length: 999999999999\r\n\r\n', status: 413 },
];

for (const format of ['combined', 'json'] as const) {
  test(`holdfast proxy --access-log (${format}): the server's own 400, 431 and 413 answers are logged`, async (t) => {
    const origin = await startOrigin(t, (_req, res) => res.end('ok'));
    const dir = tempDir(t, 'hf-proxy-auto-');
    const log = join(dir, 'access.log');
    const p = runProxyCli(t, ['--upstream', origin.url, '--listen', `127.0.0.1:${await freePort()}`, '--access-log', log, '--log-format', format]);
    const url = new URL((await p.waitFor(/listening on (http:\/\/[\d.]+:\d+)/))[1]!);
    for (const r of REFUSED) {
      const { data } = await rawExchange(Number(url.port), r.bytes);
      assert.match(data, new RegExp(`^HTTP/1\\.1 ${r.status} `), r.name);
    }
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(lines.length, REFUSED.length, lines.join('\n'));
    if (format === 'combined') {
      const date = String.raw`\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\]`;
      const id = '"[0-9a-f-]{36}"';
      assert.match(lines[0]!, new RegExp(String.raw`^127\.0\.0\.1 - - ${date} "-" 400 16 "-" "-" ${id} \d+\.\d{3} -$`));
      assert.match(lines[1]!, new RegExp(String.raw`^127\.0\.0\.1 - - ${date} "-" 431 36 "-" "-" ${id} \d+\.\d{3} -$`));
      assert.match(lines[2]!, new RegExp(String.raw`^127\.0\.0\.1 - - ${date} "POST /upload HTTP/1\.1" 413 22 "-" "raw-client" "upload-1" \d+\.\d{3} -$`));
    } else {
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const expected = [
        { method: '-', target: '-', status: 400, bytes: 16, user_agent: null },
        { method: '-', target: '-', status: 431, bytes: 36, user_agent: null },
        { method: 'POST', target: '/upload', status: 413, bytes: 22, user_agent: 'raw-client', request_id: 'upload-1' },
      ];
      records.forEach((rec, i) => {
        const want = expected[i]!;
        for (const [k, v] of Object.entries(want)) assert.deepEqual(rec[k], v, `${k} of line ${i + 1}`);
        assert.equal(rec['client'], '127.0.0.1');
        assert.equal(typeof rec['duration_ms'], 'number');
        assert.ok(!Number.isNaN(Date.parse(String(rec['time']))));
        assert.equal(rec['upstream'], null);
        if (want.request_id === undefined) assert.match(String(rec['request_id']), /^[0-9a-f-]{36}$/);
      });
    }
  });
}

test('a request head that stalls is answered 408 and logged, with the time it was given', async (t) => {
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const dir = tempDir(t, 'hf-proxy-408-');
  const path = join(dir, 'access.log');
  writeFileSync(path, '');
  const accessLog = new AccessLog(path, 'json');
  const routes = new RouteTable([{ name: 'default', host: null, pathPrefix: '/', proxy: createProxy({ upstreams: [origin.url] }) }]);
  const front = new ProxyFront({ routes, accessLog, server: { headersTimeout: 300, onError: () => {} } });
  await front.server.listen(0, '127.0.0.1');
  t.after(() => front.close({ timeout: 500 }));
  const { data } = await rawExchange(front.server.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n', 5000);
  assert.match(data, /^HTTP\/1\.1 408 /);
  await front.close({ timeout: 500 });
  await accessLog.close();
  const records = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(records.length, 1);
  assert.equal(records[0]!['status'], 408);
  assert.equal(records[0]!['method'], '-');
  assert.equal(records[0]!['bytes'], '408 Request Timeout\n'.length);
  // Timed from the head's first byte to the 408, so about the headers timeout (not 0).
  assert.ok(Number(records[0]!['duration_ms']) >= 250, String(records[0]!['duration_ms']));
  assert.deepEqual(front.snapshot()['holdfast_proxy_requests_total']?.samples, { 'holdfast_proxy_requests_total{route="",code="4xx"}': 1 });
});
