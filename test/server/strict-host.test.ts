/**
 * The request URL a handler sees is built from the validated authority and the target, never by
 * pasting Host in front of the target. Behind a front proxy that blocks `/admin`, `GET /public`
 * with `Host: x\admin?` used to reach a fetch handler as `http://x\admin?/public`, which a URL
 * parser reads as path `/admin`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { NGINX, startNginx } from '../../src/lab/child.ts';
import { RawClient, startServer } from './helpers.ts';

async function exchange(port: number, raw: string): Promise<string> {
  const c = new RawClient(port);
  await c.connected;
  c.write(raw);
  const end = await c.ended;
  return end.data.toString('latin1');
}

test('a Host that would move the path is a 400; the fetch handler never sees it', async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, {
    fetch: (request) => {
      seen.push(new URL(request.url).pathname);
      return new Response(`path ${new URL(request.url).pathname}`);
    },
  });
  const port = server.address()!.port;
  for (const host of ['x\\admin?', 'x/admin?', 'x?', 'x#', 'x@y', 'x:80x', 'a, b', 'caf\xe9', '\xa0x']) {
    const answer = await exchange(port, `GET /public HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(host));
  }
  assert.deepEqual(seen, [], 'no request with such a Host reached the handler');
  // A fragment that a front proxy's path normalisation removed (`/admin#/../public` is `/public`
  // to it) must not reach the handler as `/admin` either.
  assert.match(await exchange(port, 'GET /admin#/../public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400 /);
  const ok = await exchange(port, 'GET /public HTTP/1.1\r\nHost: X:8080\r\nConnection: close\r\n\r\n');
  assert.match(ok, /path \/public$/);
  assert.deepEqual(seen, ['/public']);
});

test('req.url comes from the parts: Host (lower-cased), or an absolute-form target\'s authority', async (t) => {
  const urls: string[] = [];
  const server = await startServer(t, {
    handler: (req, res) => {
      urls.push(req.url);
      void res.end('ok');
    },
  });
  const port = server.address()!.port;
  await exchange(port, 'GET /a?b HTTP/1.1\r\nHost: Example.COM:81\r\nConnection: close\r\n\r\n');
  await exchange(port, 'GET http://other.test/p/../q?r HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
  await exchange(port, 'GET //evil/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
  await exchange(port, 'OPTIONS * HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n');
  await exchange(port, 'GET /z HTTP/1.0\r\n\r\n');
  assert.deepEqual(urls, [
    'http://example.com:81/a?b',
    'http://other.test/p/../q?r',
    'http://example.com//evil/x',
    'http://[::1]:8080/',
    'http://localhost/z',
  ]);
  assert.equal(new URL(urls[2]!).host, 'example.com');
});

test('behind an nginx that blocks /admin, neither a crafted Host nor a fragment reaches the handler as /admin', { skip: !existsSync(NGINX) && 'no nginx' }, async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, {
    fetch: (request) => {
      const path = new URL(request.url).pathname;
      seen.push(path);
      return new Response(path === '/admin' ? 'admin secrets' : `public ${path}`);
    },
  });
  const backend = server.address()!.port;
  const nginx = await startNginx((port) => `
  server {
    listen 127.0.0.1:${port};
    location /admin { return 403; }
    location / {
      proxy_pass http://127.0.0.1:${backend};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
    }
  }`);
  t.after(() => nginx.stop());
  const via = (raw: string): Promise<string> => exchange(nginx.port, raw);
  assert.match(await via('GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 403 /, 'the front rule holds');
  assert.match(await via('GET /public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /public \/public$/);
  for (const raw of [
    'GET /public HTTP/1.1\r\nHost: x\\admin?\r\nConnection: close\r\n\r\n',
    'GET /admin#/../public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  ]) {
    const answer = await via(raw);
    assert.doesNotMatch(answer, /admin secrets/, JSON.stringify(raw));
    assert.match(answer, /^HTTP\/1\.1 (400|403) /, answer.slice(0, 200));
  }
  assert.ok(!seen.includes('/admin'), JSON.stringify(seen));
});
