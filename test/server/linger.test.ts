/**
 * Lingering close: no close ever costs the client the tail of a response (seeds/002).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RawClient, startServer, writeBody, parseResponses } from './helpers.ts';

const BIG = 50 * 1024 * 1024;

test('Connection: close with a 50 MB response read slowly arrives whole, despite unread bytes behind the request', async (t) => {
  const block = Buffer.alloc(1024 * 1024, 0x62);
  const server = await startServer(t, {
    handler: async (_req, res) => {
      res.writeHead(200, { 'Content-Length': String(BIG) });
      for (let i = 0; i < 50; i++) await res.write(block);
      await res.end();
    },
  });
  const c = new RawClient(server.port);
  // A pipelined request the server will not answer sits unread in its receive buffer when it
  // decides to close: closing without lingering would send RST and cut the response.
  // Here: 20 000 pipelined requests behind the `Connection: close` one (the server stops
  // parsing once a request is queued behind the one in flight, so most stay in the kernel).
  c.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' + 'GET /ignored HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(20_000));
  // Read slowly: about 25 MB/s in 50 ms windows, so the server's close decision comes long
  // before the last byte is read.
  let windowStart = Date.now();
  let inWindow = 0;
  c.socket.on('data', (chunk: Buffer) => {
    inWindow += chunk.length;
    if (inWindow >= 1_250_000) {
      c.socket.pause();
      const wait = Math.max(0, 50 - (Date.now() - windowStart));
      setTimeout(() => {
        windowStart = Date.now();
        inWindow = 0;
        c.socket.resume();
      }, wait);
    }
  });
  const e = await c.ended;
  assert.equal(e.error, null);
  assert.equal(e.fin, true);
  const { responses } = parseResponses(e.data, ['GET']);
  assert.equal(responses.length, 1);
  assert.equal(responses[0]!.body.length, BIG);
  assert.equal(responses[0]!.headers.get('connection'), 'close');
});

/**
 * A client shaped like python-requests: it writes the whole upload before it reads anything,
 * then reads the response. Returns whether the complete 413 arrived.
 */
async function uploadThenRead(port: number, size: number): Promise<{ whole: boolean; detail: string }> {
  const c = new RawClient(port, { paused: true });
  await c.connected;
  c.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`);
  await writeBody(c.socket, size);
  c.socket.resume();
  const e = await c.ended;
  const { responses } = parseResponses(e.data, ['POST']);
  const r = responses[0];
  const whole = r !== undefined && r.status === 413 && r.body.length === 2048;
  return { whole, detail: `${e.data.length} bytes, fin=${e.fin}, error=${e.error}` };
}

const EARLY_BODY = 'x'.repeat(2048);
const RUNS = 50;

test(`early 413 to an unread 10 MB upload reaches the client whole, ${RUNS} of ${RUNS}; node:http loses it at least once`, async (t) => {
  const server = await startServer(t, {
    handler: async (_req, res) => {
      res.writeHead(413, { 'Content-Type': 'text/plain' });
      await res.end(EARLY_BODY);
    },
  });
  let ours = 0;
  const failures: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await uploadThenRead(server.port, 10 * 1024 * 1024);
    if (r.whole) ours++;
    else failures.push(r.detail);
  }

  // The same handler on node:http, same client.
  const node = http.createServer((_req, res) => {
    res.writeHead(413, { 'Content-Type': 'text/plain', 'Content-Length': '2048', Connection: 'close' });
    res.end(EARLY_BODY);
  });
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { node.closeAllConnections(); node.close(() => resolve()); }));
  const nodePort = (node.address() as AddressInfo).port;
  let nodeWhole = 0;
  for (let i = 0; i < RUNS; i++) {
    if ((await uploadThenRead(nodePort, 10 * 1024 * 1024)).whole) nodeWhole++;
  }
  t.diagnostic(`holdfast: ${ours}/${RUNS} whole; node:http ${process.version}: ${nodeWhole}/${RUNS} whole`);
  process.stdout.write(`# early-413 holdfast ${ours}/${RUNS}, node:http ${nodeWhole}/${RUNS}\n`);
  assert.equal(ours, RUNS, failures.join('; '));
  // The contrast is asserted, not just printed: a test that passes for node:http too would not
  // show that lingering is what makes the difference. Why asserting is sound here: node:http
  // closes right after its 413 while megabytes of the upload are still unread (10 MB is more
  // than it reads before closing), and on Linux close() with unread bytes in the receive queue
  // sends RST instead of FIN (RFC 2525 §2.17); the client's kernel then drops the 413 it had
  // not read yet. Whether one run survives is a race, but the claim is only "lost at least once
  // in 50": measured here 0/50 whole, and seeds/002 measured 8/20 whole on another machine —
  // at that rate 50/50 has probability 0.4^50 ≈ 1e-20. Other kernels (the BSDs, macOS) do not
  // reset on unread data, so node:http may well pass there: only Linux asserts. If node:http
  // itself ever lingers, this fails on purpose — the comparison in issue 4 must then change.
  if (process.platform === 'linux') {
    assert.ok(nodeWhole < RUNS, `node:http ${process.version} delivered the early 413 whole ${nodeWhole}/${RUNS} times: the failure this test contrasts with did not occur`);
  }
});

test('a malformed request is answered 400 and the close lingers past the client\'s unread bytes', async (t) => {
  const server = await startServer(t, { handler: (_req, res) => void res.end('never') });
  const c = new RawClient(server.port, { paused: true });
  await c.connected;
  c.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
  await writeBody(c.socket, 4 * 1024 * 1024);
  c.socket.resume();
  const e = await c.ended;
  assert.match(e.data.toString('latin1'), /^HTTP\/1\.1 400 /);
  assert.equal(e.fin, true);
  assert.equal(e.error, null);
});
