/**
 * LightResponse against the platform's Response: every observable result of the same
 * construction must be the same (errors included), on the object and on the wire; the global
 * is installed by a fetch server by default, only when the server is created, and opt-out works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { RawClient, startServer } from './helpers.ts';
import { LightResponse, NativeResponse, createServer } from '../../src/server/index.ts';

test('a fetch server installs LightResponse as globalThis.Response when created, not at import; lightResponse: false opts out', () => {
  assert.equal(globalThis.Response, NativeResponse, 'importing holdfast/server touches no global');
  createServer({ handler: () => {} });
  assert.equal(globalThis.Response, NativeResponse, 'a streaming server touches no global');
  createServer({ fetch: () => new Response('x'), lightResponse: false });
  assert.equal(globalThis.Response, NativeResponse, 'lightResponse: false touches no global');
  createServer({ fetch: () => new Response('x') });
  assert.equal(globalThis.Response, LightResponse, 'the default of a fetch server');
  assert.ok(new Response('x') instanceof Response);
  assert.ok(Response.error() instanceof Response);
  globalThis.Response = NativeResponse;
});

type Ctor = typeof Response;

/** Everything a handler or a middleware can observe of a response, body read last. */
async function observe(make: () => Response): Promise<unknown> {
  let r: Response;
  try {
    r = make();
  } catch (err) {
    return { threw: (err as Error).constructor.name };
  }
  const out: Record<string, unknown> = {
    status: r.status, ok: r.ok, statusText: r.statusText, type: r.type, url: r.url, redirected: r.redirected,
    bodyUsed: r.bodyUsed, headers: [...r.headers], setCookie: r.headers.getSetCookie(), hasBody: r.body !== null,
  };
  const copy = r.clone();
  out['text'] = await r.text();
  out['usedAfter'] = r.bodyUsed;
  out['cloneText'] = Buffer.from(await copy.bytes()).toString('latin1');
  out['again'] = await r.text().then(() => 'read twice', (err: Error) => err.constructor.name);
  // A multipart body's boundary is random.
  return JSON.parse(JSON.stringify(out).replace(/formdata-undici-\d+/g, 'BOUNDARY')) as unknown;
}

const bytes = new Uint8Array([104, 105, 0, 255]);
const cases: Record<string, (R: Ctor) => Response> = {
  'no body': (R) => new R(),
  'null body, 204': (R) => new R(null, { status: 204 }),
  'string': (R) => new R('hello'),
  'string, record headers': (R) => new R('hi', { status: 201, statusText: 'Made', headers: { 'X-A': '1', 'content-type': 'text/x' } }),
  'string, pair headers with repeats': (R) => new R('hi', { headers: [['x-a', '1'], ['X-A', '2'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']] }),
  'string, Headers object': (R) => new R('hi', { headers: new Headers({ 'x-h': 'v', 'content-type': 'application/json' }) }),
  'header value with outer spaces (normalised)': (R) => new R('hi', { headers: { 'x-a': '  padded\t' } }),
  'header value with a control byte the platform allows': (R) => new R('hi', { headers: { 'x-a': 'a\u0001b' } }),
  'record with a symbol key': (R) => new R('hi', { headers: { 'x-a': '1', [Symbol('s')]: 'v' } as unknown as Record<string, string> }),
  'record with a non-enumerable key': (R) => {
    const h: Record<string, string> = { 'x-vis': '1' };
    Object.defineProperty(h, 'x-hidden', { value: '2', enumerable: false });
    return new R('hi', { headers: h });
  },
  'record with an inherited key': (R) => {
    const h = Object.create({ 'x-inherited': '1' }) as Record<string, string>;
    h['x-own'] = '2';
    return new R('hi', { headers: h });
  },
  'non-string header value': (R) => new R('hi', { headers: { 'x-n': 42 as unknown as string } }),
  'invalid header name': (R) => new R('hi', { headers: { 'bad name': 'v' } }),
  'header value with LF': (R) => new R('hi', { headers: { 'x-a': 'a\nb' } }),
  'header value beyond latin1': (R) => new R('hi', { headers: { 'x-a': 'π' } }),
  'malformed pair': (R) => new R('hi', { headers: [['x-a']] as unknown as [string, string][] }),
  'Uint8Array': (R) => new R(bytes),
  'Buffer': (R) => new R(Buffer.from('buffer body')),
  'ArrayBuffer': (R) => new R(bytes.buffer.slice(0)),
  'DataView': (R) => new R(new DataView(bytes.buffer.slice(0))),
  'Blob': (R) => new R(new Blob(['blob'], { type: 'text/x-blob' })),
  'URLSearchParams': (R) => new R(new URLSearchParams({ a: '1' })),
  'FormData': (R) => {
    const f = new FormData();
    f.set('a', '1');
    return new R(f);
  },
  'ReadableStream': (R) => new R(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('streamed')); c.close(); } })),
  'async iterable stream': (R) => new R(ReadableStream.from((async function* () { yield new TextEncoder().encode('a'); yield new TextEncoder().encode('b'); })())),
  'status 200.0 and string status': (R) => new R('x', { status: '201' as unknown as number }),
  'status out of range': (R) => new R('x', { status: 600 }),
  'status 199': (R) => new R('x', { status: 199 }),
  'null-body status with body': (R) => new R('x', { status: 204 }),
  'null-body status 304 without body': (R) => new R(null, { status: 304, headers: { etag: '"1"' } }),
  'invalid statusText': (R) => new R('x', { statusText: 'bad\r\n' }),
  'statusText beyond latin1': (R) => new R('x', { statusText: 'π' }),
  'init that is a Response': (R) => new R('copied', new R('orig', { status: 202, statusText: 'A', headers: { 'x-o': '1' } })),
  'init that is not an object': (R) => new R('x', 5 as unknown as ResponseInit),
  'Response.json': (R) => R.json({ a: [1, 'é'] }),
  'Response.json with init': (R) => R.json([1], { status: 201, headers: { 'x-j': '1' } }),
  'Response.json keeps a given content-type': (R) => R.json(1, { headers: { 'Content-Type': 'application/problem+json' } }),
  'Response.json of undefined': (R) => R.json(undefined),
  'Response.json of a BigInt': (R) => R.json(1n),
  'Response.redirect': (R) => R.redirect('http://example.com/a', 301),
  'Response.redirect, bad status': (R) => R.redirect('http://example.com/a', 200 as 301),
  'Response.error': (R) => R.error(),
};

for (const [name, make] of Object.entries(cases)) {
  test(`LightResponse matches the platform: ${name}`, async () => {
    assert.deepEqual(await observe(() => make(LightResponse)), await observe(() => make(NativeResponse)));
  });
}

test('LightResponse snapshots headers when constructed, as the platform does; a byte body is kept by reference (documented)', async () => {
  const headers = new Headers({ 'x-a': '1' });
  const record: Record<string, string> = { 'x-r': '1' };
  const pairs: [string, string][] = [['x-p', '1']];
  const light = new LightResponse('x', { headers });
  const light2 = new LightResponse('x', { headers: record });
  const light3 = new LightResponse('x', { headers: pairs });
  headers.set('x-late', '1');
  record['x-late'] = '1';
  pairs.push(['x-late', '1']);
  assert.equal(light.headers.get('x-late'), null);
  assert.equal(light2.headers.get('x-late'), null);
  assert.equal(light3.headers.get('x-late'), null);
  // The one difference from the platform (which copies): node:http's contract for res.end(buf).
  const buf = Buffer.from('before');
  const byRef = new LightResponse(buf);
  buf.write('after!');
  assert.equal(await byRef.text(), 'after!');
});

test('LightResponse: instanceof both ways, constructor, subclasses, statics', async () => {
  const light = new LightResponse('x');
  assert.ok(light instanceof NativeResponse);
  assert.ok(light instanceof LightResponse);
  assert.ok(new NativeResponse('x') instanceof LightResponse, 'a platform response is a Response too');
  assert.ok(LightResponse.error() instanceof LightResponse);
  assert.equal(light.constructor, LightResponse);
  assert.equal(LightResponse.name, 'Response');
  assert.throws(() => (LightResponse as unknown as (b: string) => void)('x'), TypeError);
  assert.equal(Object.prototype.toString.call(light), '[object Response]');

  class Sub extends LightResponse {
    extra(): string {
      return 'extra';
    }
  }
  Object.defineProperty(Sub.prototype, 'status', { get: () => 299 });
  const sub = new Sub('sub body', { headers: { 'x-s': '1' } });
  assert.ok(sub instanceof Sub);
  assert.ok(sub instanceof LightResponse);
  assert.ok(sub instanceof NativeResponse);
  assert.ok(!(light instanceof Sub), 'a subclass keeps the ordinary instanceof');
  assert.equal(sub.extra(), 'extra');
  assert.equal(sub.status, 299);
  assert.equal(await sub.text(), 'sub body');
  assert.ok(LightResponse.json(1) instanceof LightResponse);
  assert.match(inspect(new LightResponse('shown', { status: 201 })), /Response .*status: 201/s);
});

test('a subclass overriding a getter is written as it reads, not from the snapshot', async (t) => {
  class Teapot extends LightResponse {}
  Object.defineProperty(Teapot.prototype, 'status', { get: () => 418 });
  const server = await startServer(t, { fetch: () => new Teapot('short and stout') });
  const c = new RawClient(server.port);
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const [r] = await c.responses(['GET']);
  assert.equal(r?.status, 418);
  assert.equal(r?.body.toString(), 'short and stout');
  c.destroy();
});

test('the wire: a light response and a platform one give the same status, fields and body', async (t) => {
  const wire = async (R: Ctor, name: string): Promise<unknown> => {
    const server = await startServer(t, { fetch: () => cases[name]!(R), lightResponse: false });
    const c = new RawClient(server.port);
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const [r] = await c.responses(['GET']);
    c.destroy();
    const fields = [...r!.headers].filter(([k]) => k !== 'date').map(([k, v]) => [k.toLowerCase(), v]).sort();
    return { status: r?.status, reason: r?.head.reason, fields, body: r?.body.toString('latin1') };
  };
  for (const name of ['no body', 'string', 'string, record headers', 'string, Headers object', 'Uint8Array', 'ArrayBuffer', 'Response.json with init', 'null-body status 304 without body']) {
    assert.deepEqual(await wire(LightResponse, name), await wire(NativeResponse, name), name);
  }
});
