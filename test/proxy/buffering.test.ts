/**
 * Buffering in both directions, against Python's single-threaded HTTPServer behind
 * `upstreamConcurrency: 1`: a slow upload is read whole by the proxy before it takes the backend,
 * and a slow reader's response is read ahead, so neither occupies the backend while another
 * client waits. Controls with buffering turned off show the backend being held.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { backendLog, directRequest, startPython, startProxy } from './helpers.ts';
import { nextEvent, until } from '../support.ts';
import type { ReverseProxyOptions } from '../../src/proxy/index.ts';

/** Opens a POST with Content-Length 2000 and sends only half of the body. */
async function stalledUpload(t: TestContext, port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  t.after(() => s.destroy());
  await new Promise<void>((resolve) => s.once('connect', resolve));
  s.write(`POST /echo?slow-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n${'u'.repeat(1000)}`);
  return s;
}

async function uploadCase(t: TestContext, options: Partial<ReverseProxyOptions>): Promise<{ status: number; body: string; backendSawUpload: boolean }> {
  const backend = await startPython(t);
  const proxy = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1, timeouts: { queue: 800 }, ...options });
  const headRead = nextEvent<{ request: { url: string } }>('holdfast:server:request:start', (m) => m.request.url.endsWith('/echo?slow-upload'));
  const upload = await stalledUpload(t, Number(new URL(proxy.url).port));
  // The proxy has the upload's head; unbuffered, it takes the backend's one slot with it at once.
  await headRead;
  if (options.bufferRequests === 0) await until(() => proxy.upstreams[0]!.active > 0, { what: 'the upload to take the backend' });
  const other = await directRequest(`${proxy.url}/echo?other`);
  upload.destroy();
  await until(() => proxy.upstreams[0]!.active === 0, { what: 'the backend slot to be free' });
  const log = await backendLog(backend);
  return { status: other.status, body: other.body.toString(), backendSawUpload: log.some((e) => e.target === '/echo?slow-upload') };
}

test('request buffering: a stalled upload never reaches the backend, and the backend serves others', async (t) => {
  const r = await uploadCase(t, {});
  assert.equal(r.status, 200, r.body);
  assert.equal(r.backendSawUpload, false, 'an incomplete request never reached the backend');
});

test('control: with request buffering off, the stalled upload holds the single backend slot', async (t) => {
  const r = await uploadCase(t, { bufferRequests: 0 });
  assert.equal(r.status, 503, r.body);
  assert.match(r.body, /HF_PROXY_QUEUE_TIMEOUT/);
});

async function slowReaderCase(t: TestContext, options: Partial<ReverseProxyOptions>): Promise<{ status: number; body: string; readerGot: number; size: number }> {
  const backend = await startPython(t);
  const proxy = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1, timeouts: { queue: 800 }, ...options });
  const size = 8 * 1024 * 1024;
  const s = net.connect(Number(new URL(proxy.url).port), '127.0.0.1');
  s.on('error', () => {});
  t.after(() => s.destroy());
  let got = 0;
  s.on('data', (d: Buffer) => {
    got += d.length;
    s.pause(); // a reader that takes one chunk and then stops reading
  });
  s.write(`GET /big?n=${size} HTTP/1.1\r\nHost: x\r\n\r\n`);
  await until(() => got > 0, { what: 'the first bytes of the response' });
  const other = await directRequest(`${proxy.url}/echo?while-slow-reader`);
  // Now read everything: the slow reader still gets its whole response.
  s.removeAllListeners('data');
  s.on('data', (d: Buffer) => (got += d.length));
  s.resume();
  await until(() => got >= size, { what: () => `the whole response (${got} of ${size} bytes)` });
  return { status: other.status, body: other.body.toString(), readerGot: got, size };
}

test('response read-ahead: a slow reader does not hold the backend (responses within the bound)', async (t) => {
  const r = await slowReaderCase(t, { bufferResponses: 16 * 1024 * 1024 });
  assert.equal(r.status, 200, r.body);
  assert.ok(r.readerGot > r.size, `the slow reader got its whole response (${r.readerGot})`);
});

test('control: without read-ahead, the slow reader holds the single backend slot', async (t) => {
  const r = await slowReaderCase(t, { bufferResponses: 1 });
  assert.equal(r.status, 503, r.body);
  assert.ok(r.readerGot > r.size, `the slow reader still got its whole response (${r.readerGot})`);
});
