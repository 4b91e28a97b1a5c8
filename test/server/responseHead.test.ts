/** The response writer's head goes through the wire serializer: a reason phrase is validated one way. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, get, startServer } from './helpers.ts';

test('a reason phrase with a control character is refused with the wire code, never written', async (t) => {
  const codes: unknown[] = [];
  const server = await startServer(t, {
    handler: async (_req, res) => {
      res.writeHead(200, undefined, 'O\u0001K');
      try {
        await res.end('x');
      } catch (err) {
        codes.push((err as { code?: unknown }).code);
        throw err;
      }
    },
  });
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const [r] = await c.responses(['GET']);
  // An error answer instead: the handler's mistake, so a server error.
  assert.equal(r?.status, 500, c.data.toString('latin1'));
  assert.deepEqual(codes, ['HF_WIRE_INVALID_STATUS']);
  assert.ok(!c.data.includes('O\u0001K'));
});

test('a valid custom reason phrase is sent as given', async (t) => {
  const server = await startServer(t, { handler: async (_req, res) => { res.writeHead(200, undefined, 'Fine Thanks'); await res.end('x'); } });
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.responses(['GET']);
  assert.match(c.data.toString('latin1'), /^HTTP\/1\.1 200 Fine Thanks\r\n/);
});

test('a handler that sets an invalid field value gets a 500 (its mistake, not the client\'s); the connection survives', async (t) => {
  const server = await startServer(t, {
    handler: async (req, res) => {
      if (req.path === '/bad') res.writeHead(200, { 'x-bad': 'a\u0000b' });
      await res.end('ok');
    },
  });
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write(get('/bad') + get('/ok'));
  const rs = await c.responses(['GET', 'GET']);
  assert.deepEqual(rs.map((r) => r.status), [500, 200], c.data.toString('latin1'));
  assert.ok(!c.data.includes('a\u0000b'));
});

test('a request body the client malformed is still a 400 when the handler rethrows its error', async (t) => {
  const server = await startServer(t, {
    handler: async (req, res) => {
      await res.end(`${(await req.body.bytes()).length}`);
    },
  });
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
  const [r] = await c.responses(['POST']);
  assert.equal(r?.status, 400, c.data.toString('latin1'));
});
