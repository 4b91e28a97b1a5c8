/**
 * A real Hono app — its response helpers, streaming helpers and the middleware that reads,
 * rewrites or clones responses — answers byte for byte the same on a fetch server with the
 * platform's `Response` (`lightResponse: false`) and at the defaults (LightResponse installed).
 * Hono's own test suite is not in its npm package, so this app exercises what it ships instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { etag } from 'hono/etag';
import { compress } from 'hono/compress';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { poweredBy } from 'hono/powered-by';
import { prettyJSON } from 'hono/pretty-json';
import { setCookie } from 'hono/cookie';
import { stream, streamText, streamSSE } from 'hono/streaming';
import { RawClient, startServer } from './helpers.ts';
import { LightResponse, NativeResponse } from '../../src/server/index.ts';
import type { TestContext } from 'node:test';

function app(): Hono {
  const a = new Hono();
  a.use('/mw/*', poweredBy(), secureHeaders(), cors({ origin: 'https://example.com' }));
  a.use('/etag/*', etag());
  a.use('/gz/*', compress());
  a.use('/pretty/*', prettyJSON());
  a.get('/text', (c) => c.text('plain text'));
  a.get('/json', (c) => c.json({ a: 1, list: [1, 2, 3], s: 'é' }, 201));
  a.get('/html', (c) => c.html('<p>hi</p>'));
  a.get('/body', (c) => c.body(new Uint8Array([1, 2, 3, 250]), 202, { 'x-bytes': 'yes' }));
  a.get('/null', (c) => c.body(null, 204));
  a.get('/redirect', (c) => c.redirect('/text', 301));
  a.get('/header-before', (c) => {
    c.header('x-before', '1');
    c.status(203);
    return c.text('with a header set first');
  });
  a.get('/cookies', (c) => {
    setCookie(c, 'a', '1', { path: '/' });
    setCookie(c, 'b', '2', { httpOnly: true });
    return c.text('cookies');
  });
  a.use('/after/*', async (c, next) => {
    await next();
    c.header('x-after', 'set after the handler');
    c.res.headers.append('x-appended', 'too');
  });
  a.get('/after/text', (c) => c.text('middleware after'));
  a.use('/replace/*', async (c, next) => {
    await next();
    const original = await c.res.clone().text();
    c.res = new Response(`${original} (replaced)`, { status: 200, headers: { 'x-replaced': '1' } });
  });
  a.get('/replace/it', (c) => c.text('original'));
  a.get('/mw/text', (c) => c.text('through cors, secure headers, powered-by'));
  a.get('/etag/text', (c) => c.text('etagged body'));
  a.get('/gz/text', (c) => c.text('compress me '.repeat(200)));
  a.get('/pretty/json', (c) => c.json({ pretty: true }));
  a.get('/raw-response', () => new Response('a raw Response', { headers: [['x-r', '1']] }));
  a.get('/response-json', () => Response.json({ static: true }, { status: 202 }));
  a.get('/stream', (c) => stream(c, async (s) => {
    await s.write(new Uint8Array([104, 105]));
    await s.write(' there');
  }));
  a.get('/stream-text', (c) => streamText(c, async (s) => {
    await s.writeln('line 1');
    await s.sleep(5);
    await s.write('line 2');
  }));
  a.get('/sse', (c) => streamSSE(c, async (s) => {
    await s.writeSSE({ data: 'one', event: 'e', id: '1' });
    await s.writeSSE({ data: 'two' });
  }));
  a.post('/echo', async (c) => c.json({ got: await c.req.json<unknown>() }));
  a.post('/form', async (c) => c.json(await c.req.parseBody()));
  a.get('/throws', () => {
    throw new Error('boom');
  });
  a.onError((err, c) => c.text(`handled: ${err.message}`, 500));
  return a;
}

const requests: string[] = [
  'GET /text', 'GET /json', 'GET /html', 'GET /body', 'GET /null', 'GET /redirect', 'GET /header-before', 'GET /cookies',
  'GET /after/text', 'GET /replace/it', 'GET /mw/text', 'GET /etag/text', 'GET /gz/text', 'GET /pretty/json?pretty',
  'GET /raw-response', 'GET /response-json', 'GET /stream', 'GET /stream-text', 'GET /sse', 'GET /throws', 'GET /missing',
  'HEAD /text', 'HEAD /json',
];

async function exchange(port: number, request: string, extra = '', body = ''): Promise<unknown> {
  const [method, target] = request.split(' ') as [string, string];
  const c = new RawClient(port);
  const length = body === '' ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  c.write(`${method} ${target} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nOrigin: https://example.com\r\n${extra}${length}\r\n${body}`);
  const [r] = await c.responses([method]);
  const etagInm = r?.headers.get('etag');
  c.destroy();
  assert.ok(r !== undefined, `${request}: no response`);
  const fields = [...r.headers].filter(([k]) => k.toLowerCase() !== 'date').map(([k, v]) => `${k.toLowerCase()}: ${v}`).sort();
  return { status: r.status, reason: r.head.reason, fields, body: r.body.toString('base64'), etag: etagInm ?? null };
}

async function run(t: TestContext, lightResponse: boolean | undefined): Promise<Record<string, unknown>> {
  const server = await startServer(t, lightResponse === undefined ? { fetch: app().fetch } : { fetch: app().fetch, lightResponse });
  const out: Record<string, unknown> = {};
  for (const r of requests) out[r] = await exchange(server.port, r);
  out['POST /echo'] = await exchange(server.port, 'POST /echo', 'Content-Type: application/json\r\n', '{"x":[1,2]}');
  out['POST /form'] = await exchange(server.port, 'POST /form', 'Content-Type: application/x-www-form-urlencoded\r\n', 'a=1&b=two');
  out['GET /etag/text (If-None-Match)'] = await exchange(server.port, 'GET /etag/text', 'If-None-Match: "x", W/"y"\r\n');
  return out;
}

test('a Hono app answers the same with LightResponse (the default) as with the platform Response', async (t) => {
  assert.equal(globalThis.Response, NativeResponse);
  const platform = await run(t, false);
  assert.equal(globalThis.Response, NativeResponse, 'lightResponse: false left the global alone');
  const light = await run(t, undefined);
  assert.equal(globalThis.Response, LightResponse, 'the default installed LightResponse');
  for (const key of Object.keys(platform)) assert.deepEqual(light[key], platform[key], key);
  // The middleware did run (the comparison is not between two empty answers).
  const gz = platform['GET /gz/text'] as { fields: string[] };
  assert.ok(gz.fields.includes('content-encoding: gzip'));
  const et = platform['GET /etag/text'] as { fields: string[] };
  assert.ok(et.fields.some((f) => f.startsWith('etag: ')));
  const after = platform['GET /after/text'] as { fields: string[] };
  assert.ok(after.fields.includes('x-after: set after the handler') && after.fields.includes('x-appended: too'));
});
