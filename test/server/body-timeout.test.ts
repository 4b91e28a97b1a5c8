/**
 * A request body has a timeout: once a head is complete, a client that stops sending its body
 * used to hold the connection forever. `bodyTimeout` bounds the silence between body bytes,
 * `requestTimeout` the whole request; both end with 408 (when the response has not begun) and a
 * lingering close. Time the server itself is not reading never counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, InvalidOptionError, ServerError, type ServerOptions, type StreamingHandler } from '../../src/server/index.ts';
import { RawClient, startServer, type Ending } from './helpers.ts';
import { sleep } from '../support.ts';

const hello: NonNullable<ServerOptions['handler']> = (_req, res) => void res.end('hi');

/** The connection's end, or a failure when it is still open after `ms` (the bug: open forever). */
async function endOf(c: RawClient, ms = 5000): Promise<Ending> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([c.ended, bound]);
  } finally {
    clearTimeout(timer);
    c.destroy();
  }
}

function codeOf(err: unknown): string {
  return err instanceof ServerError ? err.code : String(err);
}

/** A handler that reads the whole body, records the code it fails with, and rethrows. */
function readingBody(seen: string[]): StreamingHandler {
  return async (req, res) => {
    try {
      await req.body.text();
    } catch (err) {
      seen.push(codeOf(err));
      throw err;
    }
    void res.end('never');
  };
}

test('a body that stops arriving: 408, the handler sees HF_SERVER_BODY_TIMEOUT, the connection closes', async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, {
    bodyTimeout: 150,
    handler: readingBody(seen),
  });
  for (const head of [
    'POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc',
    'POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
  ]) {
    const c = new RawClient(server.address()!.port);
    await c.connected;
    c.write(head);
    const end = await endOf(c);
    assert.match(end.data.toString('latin1'), /^HTTP\/1\.1 408 Request Timeout\r\n[^]*connection: close/i);
    assert.equal(end.fin, true, 'a lingering close ends with FIN, not RST');
  }
  assert.deepEqual(seen, ['HF_SERVER_BODY_TIMEOUT', 'HF_SERVER_BODY_TIMEOUT']);
});

test('a handler that never reads the body still gets its client answered 408', async (t) => {
  let release: () => void = () => {};
  const server = await startServer(t, {
    bodyTimeout: 150,
    handler: () => new Promise<void>((resolve) => { release = resolve; }),
  });
  t.after(() => release());
  const c = new RawClient(server.address()!.port);
  await c.connected;
  c.write('PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123');
  const end = await endOf(c);
  assert.match(end.data.toString('latin1'), /^HTTP\/1\.1 408 /);
});

test('when the response has begun, the body stream fails and the connection closes after the response', async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, {
    bodyTimeout: 150,
    handler: async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      await res.write('started;');
      try {
        await req.body.bytes();
      } catch (err) {
        seen.push(codeOf(err));
      }
      await res.end('done');
    },
  });
  const c = new RawClient(server.address()!.port);
  await c.connected;
  c.write('POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
  const end = await endOf(c);
  const text = end.data.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  // The head went out before the timeout (saying keep-alive); the close comes after the last chunk.
  assert.match(text, /started;[^]*done\r\n0\r\n\r\n$/);
  assert.doesNotMatch(text, /408/);
  assert.equal(end.fin, true);
  assert.deepEqual(seen, ['HF_SERVER_BODY_TIMEOUT']);
});

test('requestTimeout bounds the whole request, however steadily its bytes trickle in', async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, {
    bodyTimeout: 2_000,
    requestTimeout: 300,
    handler: readingBody(seen),
  });
  const c = new RawClient(server.address()!.port);
  await c.connected;
  c.write('POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
  // One byte every 30 ms: never idle for bodyTimeout, but the whole request takes 30 s.
  const drip = setInterval(() => { if (!c.socket.destroyed) c.write('x'); }, 30);
  t.after(() => clearInterval(drip));
  const end = await endOf(c);
  clearInterval(drip);
  assert.match(end.data.toString('latin1'), /^HTTP\/1\.1 408 /);
  assert.deepEqual(seen, ['HF_SERVER_REQUEST_TIMEOUT']);

  // A head that trickles in past requestTimeout (within headerTimeout) is answered 408 too.
  const h = new RawClient(server.address()!.port);
  await h.connected;
  h.write('GET / HTTP/1.1\r\n');
  const headDrip = setInterval(() => { if (!h.socket.destroyed) h.write('X: y\r\n'); }, 30);
  t.after(() => clearInterval(headDrip));
  const headEnd = await endOf(h);
  clearInterval(headDrip);
  assert.match(headEnd.data.toString('latin1'), /^HTTP\/1\.1 408 /);
});

test('time the server is not reading does not count: backpressure and Expect: 100-continue', async (t) => {
  const server = await startServer(t, {
    bodyTimeout: 150,
    bodyHighWaterMark: 1024,
    handler: async (req, res) => {
      // The handler is busy for longer than bodyTimeout before (and while) it reads.
      await sleep(450);
      const body = await req.body.bytes();
      void res.end(`got ${body.length}`);
    },
  });
  const big = new RawClient(server.address()!.port);
  await big.connected;
  big.write(`POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n${'z'.repeat(65536)}`);
  const [r] = await big.responses(['POST'], 5000);
  assert.equal(r?.head.status, 200);
  assert.equal(r?.body.toString(), 'got 65536');
  big.destroy();

  const cont = new RawClient(server.address()!.port);
  await cont.connected;
  cont.write('POST /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
  assert.ok(await cont.waitFor((d) => d.toString('latin1').startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 5000), 'the server asks for the body');
  cont.write('abcd');
  assert.ok(await cont.waitFor((d) => d.toString('latin1').includes('got 4'), 5000), cont.data.toString('latin1'));
  cont.destroy();
});

test('bodyTimeout and requestTimeout are validated like the other options; 0 disables', () => {
  for (const [name, value] of [['bodyTimeout', -1], ['bodyTimeout', Number.NaN], ['bodyTimeout', 2 ** 31], ['requestTimeout', -5], ['requestTimeout', Infinity], ['requestTimeout', '1' as unknown as number]] as const) {
    assert.throws(
      () => createServer({ handler: hello, [name]: value }),
      (err: unknown) => err instanceof InvalidOptionError && err.option === name && err.message.startsWith(`${name} must be`),
      `${name}: ${String(value)}`,
    );
  }
  const o = createServer({ handler: hello, bodyTimeout: 0, requestTimeout: 0 }).options;
  assert.deepEqual([o.bodyTimeout, o.requestTimeout], [0, 0]);
  const d = createServer({ handler: hello }).options;
  assert.deepEqual([d.bodyTimeout, d.requestTimeout], [60_000, 300_000]);
});
