/**
 * Strict-parsing rejections (request smuggling, limits) answered with the right status, then a
 * lingering close — and the handler never sees the bad request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startServer } from './helpers.ts';

const cases: [name: string, raw: string, status: number][] = [
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['differing duplicate Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400],
  ['invalid Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc', 400],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n', 400],
  ['bare LF', 'GET / HTTP/1.1\nHost: x\n\n', 400],
  ['bare CR in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n', 400],
  ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n', 400],
  ['bad token in a field name', 'GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n', 400],
  ['malformed request-line', 'GET  / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['missing Host', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
  ['Transfer-Encoding not ending in chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
  ['unsupported transfer coding', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
  ['oversized chunk size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n', 400],
  ['invalid chunk', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
  ['request-line too long', `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
  ['head too large', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17000)}\r\n\r\n`, 431],
  ['too many fields', `GET / HTTP/1.1\r\nHost: x\r\n${'X-A: 1\r\n'.repeat(201)}\r\n`, 431],
  ['HTTP/2.0 on HTTP/1 framing', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505],
  ['body larger than maxBodySize (Content-Length)', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n', 413],
  ['body larger than maxBodySize (chunked)', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${'a'.repeat(2048)}\r\n`, 413],
];

for (const [name, raw, status] of cases) {
  test(`${name} → ${status} and close`, async (t) => {
    const seen: string[] = [];
    const server = await startServer(t, {
      maxBodySize: 1000,
      handler: async (req, res) => {
        seen.push(req.method);
        // Reads the body, as a handler would; a body error fails the read.
        await req.body.bytes();
        await res.end('handled');
      },
    });
    const c = new RawClient(server.port);
    c.write(raw);
    const e = await c.ended;
    const text = e.data.toString('latin1');
    assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `), text.slice(0, 80));
    assert.match(text, /\r\nConnection: close\r\n/);
    assert.doesNotMatch(text, /handled/);
    assert.equal(e.fin, true, 'a clean FIN');
    assert.equal(e.error, null);
    // Chunked bodies are only found bad while being read, so only those reach a handler.
    if (!/chunk/.test(name)) assert.deepEqual(seen, []);
  });
}

test('a bad request behind a good pipelined one: the good one is answered first', async (t) => {
  const server = await startServer(t, { handler: async (_req, res) => void (await res.end('good')) });
  const c = new RawClient(server.port);
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n');
  const e = await c.ended;
  const text = e.data.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 OK[\s\S]*good(HTTP\/1\.1 400 )/);
  assert.equal(e.fin, true);
});
