/**
 * The `target` request option: the request line carries the caller's request-target byte for
 * byte (no dot-segment removal or re-encoding by `new URL()`), while the URL picks the origin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, InvalidRequestError, type Interceptor } from '../../src/client/index.ts';
import { scriptedPeer, ok } from '../support.ts';

/** Answers every request with its request line; records the heads. */
async function linePeer() {
  const heads: string[] = [];
  const peer = await scriptedPeer(async (socket, reader) => {
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      heads.push(r.head);
      socket.write(ok(r.head.split('\r\n')[0]));
    }
  });
  return { peer, heads };
}

test('target: the request line is sent byte for byte; the URL only chooses the origin', async (t) => {
  const { peer, heads } = await linePeer();
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });

  // Teeth: through the URL alone, the path is normalised before it reaches the wire.
  const viaUrl = await agent.request(`${peer.url}/a/../b?x=%2e%2e`);
  assert.equal(await viaUrl.body.text(), 'GET /b?x=%2e%2e HTTP/1.1');

  const res = await agent.request(`${peer.url}/ignored`, { target: '/a/../b?x=%2e%2e' });
  assert.equal(await res.body.text(), 'GET /a/../b?x=%2e%2e HTTP/1.1');
  assert.match(heads.at(-1)!, new RegExp(`\\r\\nhost: 127\\.0\\.0\\.1:${peer.port}(\\r\\n|$)`, 'i'));

  for (const target of ['/%2e%2e/x', '/p;a=b?q=a%20b', '//double//slash', '/a/./b/']) {
    const r = await agent.request(peer.url, { method: 'POST', body: 'x', target });
    assert.equal(await r.body.text(), `POST ${target} HTTP/1.1`);
  }
  assert.equal(peer.connections, 1, 'same origin, same pool');
});

test('target: passes through interceptors that copy the request', async (t) => {
  const { peer } = await linePeer();
  let seen: string | undefined;
  const copying: Interceptor = (next) => (req) => {
    seen = req.target;
    return next({ ...req, headers: req.headers.clone() });
  };
  const agent = new Agent({ interceptors: [copying] });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const res = await agent.request(`${peer.url}/x`, { target: '/%2E%2E/y' });
  assert.equal(seen, '/%2E%2E/y');
  assert.equal(await res.body.text(), 'GET /%2E%2E/y HTTP/1.1');
});

test('target: whitespace, controls, non-ASCII and non-origin-form are refused before connecting', async (t) => {
  const { peer } = await linePeer();
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  for (const target of ['', 'a', '*', 'http://evil.test/x', '/a b', '/a\tb', '/a\r\nX-Injected: 1', '/a\nb', '/\u0000', '/é']) {
    await assert.rejects(agent.request(peer.url, { target }), (err: unknown) => {
      assert.ok(err instanceof InvalidRequestError, `${JSON.stringify(target)}: ${String(err)}`);
      assert.equal(err.mayHaveBeenProcessed, false);
      return true;
    });
  }
  assert.equal(peer.connections, 0, 'nothing was sent');
});

test('Transfer-Encoding padded with U+00A0 is refused: only SP and HTAB are optional whitespace', async (t) => {
  const { peer } = await linePeer();
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  // Taken as `chunked`, the body would be framed in chunks under a field a server reads otherwise.
  for (const te of ['chunked\u00a0', '\u00a0chunked']) {
    await assert.rejects(agent.request(peer.url, { method: 'POST', body: 'x', headers: { 'transfer-encoding': te } }), (err: unknown) => {
      assert.ok(err instanceof InvalidRequestError, `${JSON.stringify(te)}: ${String(err)}`);
      return true;
    });
  }
  assert.equal(peer.connections, 0, 'nothing was sent');
  // Control: SP and HTAB padding is optional whitespace.
  const res = await agent.request(peer.url, { method: 'POST', body: 'x', headers: { 'transfer-encoding': ' chunked\t' } });
  assert.equal(res.status, 200);
  await res.body.text();
});

test('a URL reaches the wire as the URL parser reads it, whether or not it takes the shortcut', async (t) => {
  // Most URLs skip `new URL()` (their origin is parsed once, their path taken as written); the
  // rest go through the parser. Both must send what `new URL(url)` gives, path by path, and the
  // Host of the origin.
  const { peer, heads } = await linePeer();
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const paths = [
    '/plain', '/a/b/c?x=1&y=2', '/', '', '?q=1', '/a/../b', '/a/./b', '/%2e%2e/x', '/caf\u00e9', '/a b', "/it's?q='",
    '/p;a=b?q=a%20b', '/x#fragment', '/x?', '//double', '/a\\b', '/x?y=%zz', '/~user/_-.!$&()*+,;=:@',
  ];
  for (let i = 0; i < paths.length; i++) {
    const url = `${peer.url}${paths[i]}`;
    const u = new URL(url);
    const res = await agent.request(url);
    assert.equal(await res.body.text(), `GET ${u.pathname}${u.search} HTTP/1.1`, url);
    assert.match(heads.at(-1)!, new RegExp(`\\r\\nhost: 127\\.0\\.0\\.1:${peer.port}(\\r\\n|$)`, 'i'), url);
  }
  // The same origin spelt in capitals is the same server, and its Host as the parser writes it.
  const upper = await agent.request(`${peer.url.replace('http', 'HTTP')}/Q`);
  assert.equal(await upper.body.text(), 'GET /Q HTTP/1.1');
});
