/**
 * The connection state machine over raw sockets: preconnects, timeouts, keep-alive rules,
 * pipelining, body draining, 100-continue, HEAD, framing of unknown lengths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startServer, get, writeBody, parseResponses } from './helpers.ts';
import { sleep } from '../support.ts';
import type { ServerRequest, ResponseWriter } from '../../src/server/index.ts';

const hello = (_req: ServerRequest, res: ResponseWriter): void => {
  void res.end('hello');
};

test('50 silent preconnects do not delay a real request, and are closed silently at the header timeout', async (t) => {
  const server = await startServer(t, { handler: hello, headersTimeout: 1500 });
  const idle: RawClient[] = [];
  for (let i = 0; i < 50; i++) idle.push(new RawClient(server.port));
  await Promise.all(idle.map((c) => c.connected));
  const client = new RawClient(server.port);
  client.write(get('/'));
  const [res] = await client.responses(['GET'], 1000);
  assert.equal(res?.status, 200);
  // Answered while every preconnect is still open and silent.
  for (const c of idle) {
    assert.equal(c.socket.destroyed || c.fin, false);
    assert.equal(c.received, 0);
  }
  client.destroy();
  const endings = await Promise.all(idle.map((c) => c.ended));
  for (const e of endings) {
    assert.equal(e.data.length, 0, 'no unsolicited bytes (no 408)');
    assert.equal(e.fin, true, 'closed with FIN');
    assert.equal(e.error, null);
  }
});

test('a connection that sent part of a head gets 408 at the header timeout', async (t) => {
  const server = await startServer(t, { handler: hello, headersTimeout: 300 });
  const c = new RawClient(server.port);
  c.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const e = await c.ended;
  assert.match(e.data.toString('latin1'), /^HTTP\/1\.1 408 /);
  assert.equal(e.fin, true);
});

test('keep-alive: a next request that sends part of its head gets 408 at the header timeout, a whole one none', async (t) => {
  // The header and request timers of a request start only when its first read does not hold the
  // whole head; this checks the partial head on a kept-alive connection still gets them.
  const server = await startServer(t, { handler: hello, headersTimeout: 300, keepAliveTimeout: 10_000 });
  const c = new RawClient(server.port);
  c.write(get('/'));
  const [first] = await c.responses(['GET']);
  assert.equal(first?.status, 200);
  await sleep(400); // idle past the header timeout: a complete head started no timer to fire
  c.write(get('/'));
  const [second] = await c.responses(['GET']);
  assert.equal(second?.status, 200);
  c.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const e = await c.ended;
  assert.match(e.data.toString('latin1'), /HTTP\/1\.1 408 /);
  assert.equal(e.fin, true);
});

test('keep-alive: advertised timeout, real close later; the idle close is a clean FIN', async (t) => {
  const server = await startServer(t, { handler: hello, keepAliveTimeout: 1000, keepAliveGrace: 700 });
  const c = new RawClient(server.port);
  c.write(get('/'));
  const [res] = await c.responses(['GET']);
  const answeredAt = Date.now();
  assert.equal(res?.headers.get('keep-alive'), 'timeout=1');
  assert.equal(res?.headers.get('connection'), undefined);
  const e = await c.ended;
  // Timers never fire early, so this lower bound is deterministic.
  assert.ok(Date.now() - answeredAt >= 1650, `closed after ${Date.now() - answeredAt} ms`);
  assert.equal(e.fin, true);
});

test('max requests per connection: the last response says Connection: close', async (t) => {
  const server = await startServer(t, { handler: hello, maxRequestsPerConnection: 3 });
  const c = new RawClient(server.port);
  c.write(get('/') + get('/') + get('/') + get('/'));
  const e = await c.ended;
  const { responses } = parseResponses(e.data, ['GET', 'GET', 'GET']);
  assert.equal(responses.length, 3);
  assert.equal(responses[0]!.headers.get('connection'), undefined);
  assert.equal(responses[2]!.headers.get('connection'), 'close');
  assert.equal(e.fin, true);
});

test('Connection: close is answered with Connection: close and a FIN', async (t) => {
  const server = await startServer(t, { handler: hello });
  const c = new RawClient(server.port);
  c.write(get('/', 'Connection: close\r\n'));
  const e = await c.ended;
  const { responses } = parseResponses(e.data, ['GET']);
  assert.equal(responses[0]?.headers.get('connection'), 'close');
  assert.equal(responses[0]?.body.toString(), 'hello');
  assert.equal(e.fin, true);
});

test('HTTP/1.0: closes by default, keeps alive on request; unknown length is close-delimited', async (t) => {
  const server = await startServer(t, {
    handler: async (req, res) => {
      if (req.path === '/stream') {
        await res.write('part1,');
        await res.write('part2');
        return;
      }
      await res.end('ten');
    },
  });
  const a = new RawClient(server.port);
  a.write('GET / HTTP/1.0\r\n\r\n');
  const ea = await a.ended;
  assert.match(ea.data.toString('latin1'), /Connection: close/);
  const b = new RawClient(server.port);
  b.write('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const [rb] = await b.responses(['GET']);
  assert.equal(rb?.headers.get('connection'), 'keep-alive');
  assert.equal(rb?.headers.get('keep-alive'), 'timeout=5');
  b.write('GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const eb = await b.ended;
  const text = eb.data.toString('latin1');
  const second = text.slice(text.indexOf('HTTP/1.1 200', 10));
  assert.doesNotMatch(second, /Transfer-Encoding/i);
  assert.match(second, /Connection: close/);
  assert.ok(second.endsWith('\r\n\r\npart1,part2'));
});

test('HTTP/1.1 unknown length is chunked, with trailers', async (t) => {
  const server = await startServer(t, {
    handler: async (_req, res) => {
      res.writeHead(200, { Trailer: 'x-sum' });
      await res.write('a');
      await res.write('bc');
      await res.end(null, { 'x-sum': '3' });
    },
  });
  const c = new RawClient(server.port);
  c.write(get('/'));
  await c.waitFor((d) => d.includes('0\r\nx-sum: 3\r\n\r\n'));
  const text = c.data.toString('latin1');
  assert.match(text, /Transfer-Encoding: chunked/);
  assert.ok(text.endsWith('1\r\na\r\n2\r\nbc\r\n0\r\nx-sum: 3\r\n\r\n'), text);
  c.destroy();
});

test('HEAD gets the GET headers and no body', async (t) => {
  const server = await startServer(t, { fetch: () => new Response('twelve bytes') });
  const c = new RawClient(server.port);
  c.write('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n' + get('/'));
  const rs = await c.responses(['HEAD', 'GET']);
  assert.equal(rs[0]?.headers.get('content-length'), '12');
  assert.equal(rs[0]?.body.length, 0);
  assert.equal(rs[1]?.body.toString(), 'twelve bytes');
  c.destroy();
});

test('pipelined requests are answered in order, even when later ones finish first', async (t) => {
  const server = await startServer(t, {
    handler: async (req, res) => {
      const n = Number(req.path.slice(1));
      // Staggered completion times are the subject: whichever handlers the server runs at once,
      // the later ones finish first, and the answers must still go out in request order.
      await sleep((5 - n) * 20);
      await res.end(`r${n}`);
    },
  });
  const c = new RawClient(server.port);
  c.write(get('/1') + `POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc` + get('/3') + get('/4'));
  const rs = await c.responses(['GET', 'POST', 'GET', 'GET']);
  assert.deepEqual(rs.map((r) => r.body.toString()), ['r1', 'r2', 'r3', 'r4']);
  c.destroy();
});

test('an unread 100 KiB body is drained and the connection reused', async (t) => {
  let calls = 0;
  const server = await startServer(t, {
    handler: async (_req, res) => {
      calls++;
      await res.end('no thanks');
    },
  });
  const c = new RawClient(server.port);
  c.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${100 * 1024}\r\n\r\n`);
  await writeBody(c.socket, 100 * 1024);
  c.write(get('/next'));
  const rs = await c.responses(['POST', 'GET']);
  assert.equal(rs.length, 2);
  assert.equal(rs[0]!.headers.get('connection'), undefined, 'kept alive');
  assert.equal(rs[1]!.body.toString(), 'no thanks');
  assert.equal(calls, 2);
  assert.equal(c.fin, false);
  c.destroy();
});

test('an unread body past the drain bound: Connection: close, then a lingering close', async (t) => {
  const server = await startServer(t, { handler: hello });
  const c = new RawClient(server.port);
  c.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * 1024}\r\n\r\n`);
  await writeBody(c.socket, 1024 * 1024);
  const e = await c.ended;
  const { responses } = parseResponses(e.data, ['POST']);
  assert.equal(responses[0]?.headers.get('connection'), 'close');
  assert.equal(e.fin, true);
  assert.equal(e.error, null);
});

test('unread chunked body past the drain bound closes after the response', async (t) => {
  const server = await startServer(t, { handler: hello, maxDrainBytes: 1000 });
  const c = new RawClient(server.port);
  c.write(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const [r] = await c.responses(['POST']);
  assert.equal(r?.status, 200);
  for (let i = 0; i < 5 && !c.fin; i++) c.write(`400\r\n${'a'.repeat(1024)}\r\n`);
  const e = await c.ended;
  assert.equal(e.fin, true);
});

test('Expect: 100-continue: 100 only when the handler reads; unread → final answer and close', async (t) => {
  const server = await startServer(t, {
    handler: async (req, res) => {
      if (req.path === '/read') {
        await res.end(`got ${(await req.body.text()).length}`);
        return;
      }
      res.writeHead(401);
      await res.end('denied');
    },
  });
  const a = new RawClient(server.port);
  a.write('POST /read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
  assert.ok(await a.waitFor((d) => d.toString('latin1') === 'HTTP/1.1 100 Continue\r\n\r\n'));
  a.write('hello');
  assert.ok(await a.waitFor((d) => d.toString('latin1').endsWith('got 5')));
  a.destroy();

  const b = new RawClient(server.port);
  b.write('POST /deny HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n');
  const e = await b.ended;
  const text = e.data.toString('latin1');
  assert.doesNotMatch(text, /100 Continue/);
  assert.match(text, /^HTTP\/1\.1 401 /);
  assert.match(text, /Connection: close/);
});

test('an unknown expectation is answered 417', async (t) => {
  let called = false;
  const server = await startServer(t, {
    handler: (_req, res) => {
      called = true;
      void res.end();
    },
  });
  const c = new RawClient(server.port);
  c.write('GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n');
  const [r] = await c.responses(['GET']);
  assert.equal(r?.status, 417);
  assert.equal(called, false);
  c.destroy();
});

test('a handler that throws gets a 500 and the connection survives; one that fails mid-body is cut', async (t) => {
  const server = await startServer(t, {
    handler: async (req, res) => {
      if (req.path === '/throw') throw new Error('boom');
      if (req.path === '/mid') {
        res.writeHead(200, { 'Content-Length': '10' });
        await res.write('12345');
        throw new Error('boom');
      }
      await res.end('ok');
    },
  });
  const c = new RawClient(server.port);
  c.write(get('/throw') + get('/ok'));
  const rs = await c.responses(['GET', 'GET']);
  assert.equal(rs[0]?.status, 500);
  assert.equal(rs[1]?.body.toString(), 'ok');
  c.destroy();
  const d = new RawClient(server.port);
  d.write(get('/mid'));
  const e = await d.ended;
  const { responses, error } = parseResponses(e.data, ['GET']);
  assert.equal(responses.length, 0, 'never a complete response');
  assert.equal(error, null);
  assert.ok(e.data.toString('latin1').endsWith('12345'));
  assert.equal(e.fin, true);
});

test('request body streams with backpressure: the server stops reading when the handler does not', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let total = 0;
  const server = await startServer(t, {
    bodyHighWaterMark: 64 * 1024,
    handler: async (req, res) => {
      await gate;
      for await (const chunk of req.body) total += chunk.length;
      await res.end(String(total));
    },
  });
  const size = 32 * 1024 * 1024;
  const c = new RawClient(server.port);
  c.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
  const writing = writeBody(c.socket, size);
  // The client's writes block: the server is not buffering 32 MiB.
  await c.waitFor(() => c.socket.writableLength > 0, 2000);
  // Time is the subject here: the writes stay blocked while the handler does not read.
  await sleep(200);
  assert.ok(c.socket.writableLength > 0, 'client is backpressured');
  release();
  await writing;
  const [r] = await c.responses(['POST'], 10000);
  assert.equal(r?.body.toString(), String(size));
  c.destroy();
});
