/**
 * Upload streaming with request buffering off (`bufferRequests: 0`): a large upload to a backend
 * that is not reading stalls the client — the proxy holds no more of it than socket buffers and
 * one body high-water mark — and once the backend reads, every byte arrives in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { startOrigin, startProxy } from './helpers.ts';
import { closed, sleep } from '../support.ts';

/** The largest buffer (bytes) the kernel may give one TCP socket for `kind` (tcp_rmem / tcp_wmem max). */
function tcpBufferMax(kind: 'rmem' | 'wmem', fallback: number): number {
  try {
    const max = Number(readFileSync(`/proc/sys/net/ipv4/tcp_${kind}`, 'utf8').trim().split(/\s+/)[2]);
    return Number.isFinite(max) && max > 0 ? max : fallback;
  } catch {
    return fallback;
  }
}

test('bufferRequests 0: a large upload to a backend that does not read is held back, then streamed whole', async (t) => {
  // Bytes that may legitimately sit between the client and a backend that reads nothing: the
  // kernel buffers of two connections (a send and a receive buffer each, autotuned at most to
  // these maxima) plus what the proxy and node:http keep in memory (a few high-water marks).
  const inFlightBound = 2 * (tcpBufferMax('rmem', 6 << 20) + tcpBufferMax('wmem', 4 << 20)) + (4 << 20);
  // The upload is several times that, so a proxy that buffers it cannot pass for one that does not.
  const size = Math.max(128 << 20, 3 * inFlightBound);
  let reading = false;
  let startReading: () => void = () => {};
  const canRead = new Promise<void>((resolve) => (startReading = resolve));
  const origin = await startOrigin(
    t,
    async (req, res) => {
      // Not a byte is read until the test says so: node:http stops reading the socket once its
      // small buffer is full, so the backend's side of the connection fills up and stops.
      req.pause();
      await canRead;
      reading = true;
      const hash = createHash('sha256');
      let n = 0;
      for await (const chunk of req) {
        hash.update(chunk as Buffer);
        n += (chunk as Buffer).length;
      }
      res.end(`${n} ${hash.digest('hex')}`);
    },
    { readBody: false },
  );
  // maxBodySize: the server's default (128 MiB) would answer this upload 413.
  const proxy = await startProxy(t, { upstreams: [origin.url], bufferRequests: 0, server: { maxBodySize: Infinity, onError: () => {} } });

  const s = net.connect(Number(new URL(proxy.url).port), '127.0.0.1');
  t.after(() => s.destroy());
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  let answer = '';
  s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  const socketClosed = closed(s);
  s.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);

  // The client writes as fast as the connection takes it (one chunk queued at a time), counting
  // the bytes the kernel has accepted from it.
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
  const expected = createHash('sha256');
  let accepted = 0;
  let queued = 0;
  const writer = (async () => {
    while (queued < size) {
      const part = size - queued >= chunk.length ? chunk : chunk.subarray(0, size - queued);
      queued += part.length;
      expected.update(part);
      const n = part.length;
      const more = s.write(part, () => (accepted += n));
      if (!more) await new Promise<void>((resolve) => s.once('drain', resolve));
    }
  })();

  // Wait until the client is stalled: no progress for 500 ms (bounded; a stall is the absence of
  // progress over time, so this waits on the clock).
  let last = -1;
  for (let i = 0; i < 60 && accepted !== last; i++) {
    last = accepted;
    await sleep(500);
  }
  assert.equal(reading, false);
  assert.equal(accepted, last, 'the upload stalled while the backend did not read');
  t.diagnostic(`stalled after ${(accepted / 2 ** 20).toFixed(1)} MiB of ${(size / 2 ** 20).toFixed(0)} MiB (bound ${(inFlightBound / 2 ** 20).toFixed(0)} MiB)`);
  assert.ok(accepted <= inFlightBound, `${accepted} bytes of the upload were taken in while the backend read nothing (bound ${inFlightBound})`);

  startReading();
  await writer;
  await socketClosed;
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.equal(answer.slice(answer.indexOf('\r\n\r\n') + 4), `${size} ${expected.digest('hex')}`, 'every byte arrived, in order');
});
