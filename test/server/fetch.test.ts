/**
 * The fetch-handler path: a Hono app unchanged, lazy Request semantics, streaming Responses,
 * LightResponse, HTTPS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Hono } from 'hono';
import { RawClient, startServer, parseResponses } from './helpers.ts';
import { LightResponse, NativeResponse, serve } from '../../src/server/index.ts';

test('a Hono app runs unchanged: routes, params, JSON, bodies, headers, 404', async (t) => {
  const app = new Hono();
  app.get('/', (c) => c.text('root'));
  app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), q: c.req.query('q') ?? null, ua: c.req.header('user-agent') ?? null }));
  app.post('/echo', async (c) => c.json({ got: await c.req.json() }, 201));
  app.get('/redirect', (c) => c.redirect('/'));
  const server = await startServer(t, { fetch: app.fetch });
  const base = server.url;
  assert.equal(await (await fetch(`${base}/`)).text(), 'root');
  const u = await fetch(`${base}/users/42?q=x`, { headers: { 'user-agent': 'test-agent' } });
  assert.deepEqual(await u.json(), { id: '42', q: 'x', ua: 'test-agent' });
  const e = await fetch(`${base}/echo`, { method: 'POST', body: JSON.stringify({ a: [1, 2] }), headers: { 'content-type': 'application/json' } });
  assert.equal(e.status, 201);
  assert.deepEqual(await e.json(), { got: { a: [1, 2] } });
  const r = await fetch(`${base}/redirect`, { redirect: 'manual' });
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), '/');
  assert.equal((await fetch(`${base}/nope`)).status, 404);
});

test('the lazy Request behaves as a Request: instanceof, headers, signal, clone, body once', async (t) => {
  const server = await startServer(t, {
    fetch: async (req) => {
      const checks = {
        isRequest: req instanceof Request,
        method: req.method,
        path: new URL(req.url).pathname,
        header: req.headers.get('x-a'),
        aborted: req.signal.aborted,
        cloneText: await req.clone().text(),
        text: await req.text(),
        usedAfter: req.bodyUsed,
      };
      return Response.json(checks);
    },
  });
  const res = await fetch(`${server.url}/p?q=1`, { method: 'PUT', body: 'payload', headers: { 'x-a': 'b' } });
  assert.deepEqual(await res.json(), { isRequest: true, method: 'PUT', path: '/p', header: 'b', aborted: false, cloneText: 'payload', text: 'payload', usedAfter: true });
});

test('a streaming Response is sent chunked as it is produced; a byte Response gets a Content-Length', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const server = await startServer(t, {
    fetch: (req) => {
      if (new URL(req.url).pathname === '/bytes') return new Response(new Uint8Array([1, 2, 3]));
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode('first;'));
          await gate;
          controller.enqueue(new TextEncoder().encode('second'));
          controller.close();
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/plain' } });
    },
  });
  const c = new RawClient(server.port);
  c.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
  // The first chunk arrives while the producer is still blocked.
  assert.ok(await c.waitFor((d) => d.includes('first;')));
  assert.match(c.data.toString('latin1'), /Transfer-Encoding: chunked/);
  release();
  const [r] = await c.responses(['GET']);
  assert.equal(r?.body.toString(), 'first;second');
  c.write('GET /bytes HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.waitFor((d) => parseResponses(d, ['GET', 'GET']).responses.length === 2);
  const rs = parseResponses(c.data, ['GET', 'GET']).responses;
  assert.equal(rs[1]?.headers.get('content-length'), '3');
  c.destroy();
});

test('LightResponse: instanceof Response, fast path on the wire, full Response behaviour when read', async (t) => {
  const lr = new LightResponse('hi', { status: 201, headers: { 'x-k': 'v' } });
  assert.ok(lr instanceof NativeResponse);
  assert.equal(lr.status, 201);
  assert.equal(await lr.clone().text(), 'hi');
  assert.equal(lr.headers.get('x-k'), 'v');
  const server = await startServer(t, {
    fetch: () => new LightResponse('light body', { status: 202, headers: [['x-k', 'v']] }),
  });
  const c = new RawClient(server.port);
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const [r] = await c.responses(['GET']);
  assert.equal(r?.status, 202);
  assert.equal(r?.headers.get('content-length'), '10');
  assert.equal(r?.headers.get('content-type'), 'text/plain;charset=UTF-8');
  assert.equal(r?.headers.get('x-k'), 'v');
  assert.equal(r?.body.toString(), 'light body');
  c.destroy();
});

test('HTTPS: serve({ tls }) answers over TLS and closes with a lingering close', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hf-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const server = await serve({
    hostname: '127.0.0.1',
    tls: { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) },
    fetch: (req) => new Response(`secure ${new URL(req.url).protocol}`),
  });
  t.after(() => server.close({ timeout: 500 }));
  assert.match(server.url, /^https:/);
  const socket = tls.connect({ port: server.port, host: '127.0.0.1', rejectUnauthorized: false });
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise<void>((resolve) => socket.on('end', () => { socket.end(); resolve(); }));
  await new Promise<void>((resolve) => socket.once('secureConnect', resolve));
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await ended;
  const { responses } = parseResponses(Buffer.concat(chunks), ['GET']);
  assert.equal(responses[0]?.body.toString(), 'secure https:');
  assert.equal(responses[0]?.headers.get('connection'), 'close');
});
