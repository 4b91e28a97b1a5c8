/**
 * The request-target reaches the backend as the client sent it: no dot-segment removal, no
 * percent-decoding or re-encoding (nginx `proxy_pass` without a URI, Go's ReverseProxy). A
 * normalising proxy lets `/public/../admin` past a backend's access rule and breaks signed URLs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/cache/index.ts';
import { rawExchange, startOrigin, startProxy } from './helpers.ts';

const TARGETS = ['/a/../b', '/%2e%2e/x', '/p;a=b?q=a%20b', '/a/./b//c', '/%2F..%2fadmin?x=%2e%2e'];

/** One request over its own connection; resolves with the status line and body. */
async function get(port: number, target: string, host = 'x'): Promise<{ status: string; body: string }> {
  const r = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return { status: r.data.slice(0, r.data.indexOf('\r\n')), body: r.data.slice(r.data.indexOf('\r\n\r\n') + 4) };
}

test('origin-form and absolute-form targets reach the backend unchanged, also behind a path prefix', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(`${req.headers.host} ${req.url}`));
  const proxy = await startProxy(t, { upstreams: [origin.url] });
  const port = Number(new URL(proxy.url).port);
  for (const target of TARGETS) {
    const r = await get(port, target);
    assert.equal(r.status, 'HTTP/1.1 200 OK', target);
    assert.equal(r.body, `x ${target}`);
  }
  // absolute-form: its authority becomes Host, its path is still forwarded as sent.
  const abs = await get(port, 'http://example.test/a/../c?d=%2e');
  assert.equal(abs.body, 'example.test /a/../c?d=%2e');
  const bare = await get(port, 'http://example.test?q=1');
  assert.equal(bare.body, 'example.test /?q=1');

  const prefixed = await startProxy(t, { upstreams: [`${origin.url}/base/`] });
  const r = await get(Number(new URL(prefixed.url).port), '/a/../b');
  assert.equal(r.body, 'x /base/a/../b');
  assert.deepEqual(origin.seen.map((s) => s.url), [...TARGETS, '/a/../c?d=%2e', '/?q=1', '/base/a/../b']);
});

test('with a cache: a target the cache key would normalise is not answered with another path\'s entry', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.setHeader('cache-control', 'max-age=60');
    res.end(`backend saw ${req.url}`);
  });
  const proxy = await startProxy(t, { upstreams: [origin.url], cache: new MemoryStore() });
  const port = Number(new URL(proxy.url).port);
  assert.equal((await get(port, '/b')).body, 'backend saw /b');
  assert.equal((await get(port, '/b')).body, 'backend saw /b');
  assert.equal(origin.seen.length, 1, 'the control is cached');
  // `new URL()` would key this as `/b`; the backend is asked for `/a/../b` and answers for it.
  assert.equal((await get(port, '/a/../b')).body, 'backend saw /a/../b');
  assert.equal((await get(port, '/%2e%2e/b')).body, 'backend saw /%2e%2e/b');
  assert.deepEqual(origin.seen.map((s) => s.url), ['/b', '/a/../b', '/%2e%2e/b']);
});
