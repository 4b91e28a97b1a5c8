/**
 * Graceful shutdown under load: no in-flight request dropped, no socket left open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, sleep, parseResponses } from './helpers.ts';
import { createServer } from '../../src/server/index.ts';

test('graceful shutdown under load drops no in-flight request and leaves no socket open', async () => {
  let started = 0;
  const server = createServer({
    onError: () => {},
    handler: async (req, res) => {
      started++;
      const delay = Number(new URL(req.url).searchParams.get('d'));
      await sleep(delay);
      await res.end(`done ${delay}`);
    },
  });
  await server.listen(0, '127.0.0.1');
  const port = server.port;
  const clients: RawClient[] = [];
  // 40 busy keep-alive connections (requests of varied duration), 20 idle after one request,
  // 20 never-used preconnects.
  for (let i = 0; i < 40; i++) {
    const c = new RawClient(port);
    c.write(`GET /?d=${50 + (i % 10) * 30} HTTP/1.1\r\nHost: x\r\n\r\n`);
    clients.push(c);
  }
  const idle: RawClient[] = [];
  for (let i = 0; i < 20; i++) {
    const c = new RawClient(port);
    c.write('GET /?d=0 HTTP/1.1\r\nHost: x\r\n\r\n');
    idle.push(c);
  }
  await Promise.all(idle.map((c) => c.responses(['GET'])));
  const pre: RawClient[] = [];
  for (let i = 0; i < 20; i++) pre.push(new RawClient(port));
  await Promise.all(pre.map((c) => c.connected));
  // Connected on the client side is not yet accepted by the server: connections still in the
  // kernel's accept queue when the listener closes are reset by the kernel (they carried no byte).
  for (let i = 0; i < 2000 && (server.connectionStates()["new"] ?? 0) < 20; i++) await sleep(5);
  assert.equal(server.connectionStates()['new'], 20);
  // Wait until every busy request reached its handler.
  for (let i = 0; i < 2000 && started < 60; i++) await sleep(5);
  assert.equal(started, 60);

  const closed = server.close({ timeout: 5000 });
  // A new connection is refused once shutdown has begun.
  const late = new RawClient(port);
  const lateEnd = await late.ended;
  assert.equal(lateEnd.data.length, 0);

  await closed;
  assert.equal(server.connectionCount, 0);
  assert.equal(server.netServer.listening, false);

  const busy = await Promise.all(clients.map((c) => c.ended));
  for (const e of busy) {
    const { responses } = parseResponses(e.data, ['GET']);
    assert.equal(responses.length, 1, 'every in-flight request answered');
    assert.match(responses[0]!.body.toString(), /^done \d+$/);
    assert.equal(responses[0]!.headers.get('connection'), 'close');
    assert.equal(e.fin, true);
    assert.equal(e.error, null);
  }
  for (const e of await Promise.all(idle.map((c) => c.ended))) {
    assert.equal(e.fin, true);
    assert.equal(parseResponses(e.data, ['GET']).responses.length, 1, 'nothing after the one response');
  }
  for (const e of await Promise.all(pre.map((c) => c.ended))) {
    assert.equal(e.data.length, 0);
    assert.equal(e.fin, true);
  }
});

test('close() force-closes a connection still busy at the deadline', async () => {
  const server = createServer({ onError: () => {}, handler: () => new Promise<void>(() => {}) });
  await server.listen(0, '127.0.0.1');
  const c = new RawClient(server.port);
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  for (let i = 0; i < 200 && server.connectionStates()['handling'] !== 1; i++) await sleep(5);
  await server.close({ timeout: 200 });
  assert.equal(server.connectionCount, 0);
  const e = await c.ended;
  assert.equal(e.data.length, 0);
});
