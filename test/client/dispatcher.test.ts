/**
 * HoldfastDispatcher: holdfast behind the undici dispatcher contract, driven by Node's own
 * `fetch`, by undici's API and by hand-written handlers of both shapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  Agent,
  HoldfastDispatcher,
  StaleConnectionError,
  ConnectError,
  InvalidRequestError,
  installGlobalDispatcher,
  uninstallGlobalDispatcher,
  type DispatchOptions,
  type DispatchController,
  type Interceptor,
  ClientResponse,
} from '../../src/client/index.ts';
import { scriptedPeer, ok, sleep, until } from '../support.ts';

type Ctx = { after(fn: () => unknown): void };

/** fetch with a per-call dispatcher (Node's fetch accepts undici's `dispatcher` option). */
function fetchVia(d: HoldfastDispatcher | undefined, url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, (d === undefined ? init : { ...init, dispatcher: d }) as RequestInit);
}

async function echoServer(t: Ctx) {
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const u = new URL(req.url!, 'http://x');
      const p = u.pathname;
      if (p === '/redirect') {
        res.writeHead(Number(u.searchParams.get('status') ?? 302), { location: '/echo' });
        res.end('moved');
      } else if (p === '/gzip' || p === '/deflate' || p === '/br') {
        const data = Buffer.from('compressed '.repeat(100));
        const enc = p === '/gzip' ? zlib.gzipSync(data) : p === '/deflate' ? zlib.deflateSync(data) : zlib.brotliCompressSync(data);
        res.writeHead(200, { 'content-encoding': p.slice(1), 'content-length': enc.length });
        res.end(enc);
      } else if (p === '/204') {
        res.writeHead(204);
        res.end();
      } else if (p === '/304') {
        res.writeHead(304, { etag: '"a"' });
        res.end();
      } else if (p === '/slow') {
        // Head now, body never: a timeout or abort must end the read.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part');
      } else if (p === '/trailers') {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
        res.write('abc');
        res.addTrailers({ 'x-checksum': 'c0ffee' });
        res.end();
      } else if (p === '/early') {
        res.writeEarlyHints({ link: '</style.css>; rel=preload' }, () => res.end('after hints'));
      } else {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({
          method: req.method,
          url: req.url,
          length: body.length,
          sha: body.toString('base64').slice(0, 40),
          type: req.headers['content-type'] ?? null,
          framing: req.headers['transfer-encoding'] ?? (req.headers['content-length'] !== undefined ? 'length' : 'none'),
        }));
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const d = new HoldfastDispatcher(new Agent());
  t.after(async () => { await d.destroy(); srv.closeAllConnections(); srv.close(); });
  return { url, d, srv };
}

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(new TextEncoder().encode(p));
      c.close();
    },
  });
}

test('every request body fetch produces arrives as with the default dispatcher', async (t) => {
  const { url, d } = await echoServer(t);
  const bodies: Array<[string, () => RequestInit]> = [
    ['string', () => ({ method: 'POST', body: 'hello' })],
    ['bytes', () => ({ method: 'PUT', body: new Uint8Array([1, 2, 3, 4]) })],
    ['ArrayBuffer', () => ({ method: 'POST', body: new Uint8Array([9, 8]).buffer })],
    ['Blob', () => ({ method: 'POST', body: new Blob(['blob body'], { type: 'text/x-blob' }) })],
    ['URLSearchParams', () => ({ method: 'POST', body: new URLSearchParams({ a: 'b', c: 'd' }) })],
    ['ReadableStream', () => ({ method: 'POST', body: streamOf('str', 'eam'), duplex: 'half' })],
  ];
  for (const [name, init] of bodies) {
    const ours = await (await fetchVia(d, `${url}/echo?k=${name}`, init())).json();
    const theirs = await (await fetchVia(undefined, `${url}/echo?k=${name}`, init())).json();
    assert.deepEqual(ours, theirs, name);
  }
  // FormData: the boundary is random, so compare the shape and the parts instead of the bytes.
  const form = (): FormData => {
    const f = new FormData();
    f.append('field', 'value');
    f.append('file', new Blob(['file content']), 'a.txt');
    return f;
  };
  const ours = await (await fetchVia(d, `${url}/echo`, { method: 'POST', body: form() })).json() as { type: string; length: number };
  const theirs = await (await fetchVia(undefined, `${url}/echo`, { method: 'POST', body: form() })).json() as { type: string; length: number };
  assert.match(ours.type, /^multipart\/form-data; boundary=/);
  assert.equal(ours.length, theirs.length);
});

test('the WHATWG subset matches the default dispatcher: redirects, HEAD, 204/304, decoding, streaming', async (t) => {
  const { url, d } = await echoServer(t);
  const observe = async (via: HoldfastDispatcher | undefined, path: string, init: RequestInit = {}): Promise<unknown> => {
    const res = await fetchVia(via, `${url}${path}`, init);
    return { status: res.status, redirected: res.redirected, url: res.url, hasBody: res.body !== null, text: await res.text(), ce: res.headers.get('content-encoding') };
  };
  const cases: Array<[string, RequestInit?]> = [
    ['/redirect?status=302'],
    ['/redirect?status=303', { method: 'POST', body: 'x' }],
    ['/redirect?status=307', { method: 'POST', body: 'y' }],
    ['/redirect?status=308', { method: 'PUT', body: 'z' }],
    ['/echo', { method: 'HEAD' }],
    ['/204'],
    ['/304'],
    ['/gzip'],
    ['/deflate'],
    ['/br'],
    ['/early'],
  ];
  for (const [path, init] of cases) assert.deepEqual(await observe(d, path, init), await observe(undefined, path, init), path);
  const manual = await fetchVia(d, `${url}/redirect`, { redirect: 'manual' });
  assert.equal(manual.status, 302);
  await assert.rejects(fetchVia(d, `${url}/redirect`, { redirect: 'error' }), TypeError);
  // Response.body streams: the head and first bytes arrive while the body is still open.
  const slow = await fetchVia(d, `${url}/slow`, { signal: AbortSignal.timeout(300) });
  const reader = slow.body!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), 'part');
  await assert.rejects(reader.read(), (err: Error) => err.name === 'TimeoutError');
  // AbortSignal.timeout before the head.
  await assert.rejects(fetchVia(d, `${url}/slow`, { signal: AbortSignal.timeout(1) }).then((r) => r.text()), (err: Error) => err.name === 'TimeoutError');
});

test('an abort mid-body rejects the reader and frees nothing twice', async (t) => {
  const { url, d } = await echoServer(t);
  const ac = new AbortController();
  const res = await fetchVia(d, `${url}/slow`, { signal: ac.signal });
  const reader = res.body!.getReader();
  await reader.read();
  ac.abort(new Error('caller gave up'));
  await assert.rejects(reader.read(), /caller gave up/);
  // The dispatcher still works after an aborted exchange.
  assert.equal((await (await fetchVia(d, `${url}/echo`)).json() as { method: string }).method, 'GET');
});

test('a failed fetch rejects with TypeError whose cause is the holdfast error', async (t) => {
  // A port that was free a moment ago: connection refused.
  const srv = http.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  const d = new HoldfastDispatcher(new Agent());
  t.after(() => d.destroy());
  await assert.rejects(fetchVia(d, `http://127.0.0.1:${port}/`), (err: unknown) => {
    assert.ok(err instanceof TypeError);
    assert.equal(err.message, 'fetch failed');
    assert.ok(err.cause instanceof ConnectError, String(err.cause));
    assert.equal(err.cause.code, 'HF_CONNECT');
    assert.equal(err.cause.phase, 'connect');
    assert.equal(err.cause.mayHaveBeenProcessed, false);
    return true;
  });
});

/** Serves one request per connection's first exchange, then closes on arrival of the second. */
function closeOnSecond() {
  return scriptedPeer(async (socket, reader, index) => {
    if (index === 0) {
      if ((await reader.next()) === null) return;
      socket.write(ok('first'));
      if ((await reader.next()) === null) return;
      socket.end();
      return;
    }
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      socket.write(ok(`fresh ${r.method}`));
    }
  });
}

test('fetch on a connection the server closes on arrival: GET retried, streamed POST never replayed', async (t) => {
  const peer = await closeOnSecond();
  const d = new HoldfastDispatcher(new Agent());
  t.after(async () => { await d.destroy(); await peer.close(); });
  assert.equal(await (await fetchVia(d, `${peer.url}/a`)).text(), 'first');
  assert.equal(await (await fetchVia(d, `${peer.url}/b`)).text(), 'fresh GET');
  assert.equal(peer.connections, 2);

  const peer2 = await closeOnSecond();
  t.after(() => peer2.close());
  assert.equal(await (await fetchVia(d, `${peer2.url}/a`)).text(), 'first');
  await assert.rejects(fetchVia(d, `${peer2.url}/b`, { method: 'POST', body: streamOf('once'), duplex: 'half' }), (err: unknown) => {
    assert.ok(err instanceof TypeError);
    assert.ok(err.cause instanceof StaleConnectionError, String(err.cause));
    assert.equal(err.cause.code, 'HF_STALE_CONNECTION');
    assert.equal(err.cause.mayHaveBeenProcessed, true);
    return true;
  });
  assert.equal(peer2.connections, 1, 'the POST was not replayed');
});

test('a fetch PUT whose written request crossed the server\'s close is replayed: its small body is held, not streamed once', async (t) => {
  const peer = await closeOnSecond();
  const d = new HoldfastDispatcher(new Agent());
  t.after(async () => { await d.destroy(); await peer.close(); });
  assert.equal(await (await fetchVia(d, `${peer.url}/a`)).text(), 'first');
  // The peer reads the whole PUT before closing: it may have been processed, and only a
  // replayable body may be sent again. Node's fetch hands even a string over as a stream.
  const res = await fetchVia(d, `${peer.url}/b`, { method: 'PUT', body: 'idempotent' });
  assert.equal(await res.text(), 'fresh PUT');
  assert.equal(peer.connections, 2);
});

interface Recorded {
  events: string[];
  status: number;
  headers: Buffer[] | Record<string, string | string[]>;
  body: Buffer;
  trailers: Buffer[] | Record<string, string | string[]> | null;
  error: Error | null;
}

/** Drives `dispatch` with a legacy handler; `hooks` may pause or abort. */
function legacy(d: HoldfastDispatcher, opts: DispatchOptions, hooks: {
  onConnect?: (abort: (r?: unknown) => void) => void;
  onData?: (chunk: Buffer, n: number) => boolean | void;
  onHeaders?: (resume: () => void) => boolean | void;
} = {}): Promise<Recorded> {
  return new Promise((resolve) => {
    const rec: Recorded = { events: [], status: 0, headers: [], body: Buffer.alloc(0), trailers: null, error: null };
    const parts: Buffer[] = [];
    d.dispatch(opts, {
      onConnect(abort) { rec.events.push('connect'); hooks.onConnect?.(abort); },
      onResponseStarted() { rec.events.push('started'); },
      onHeaders(status, raw, resume) { rec.events.push('headers'); rec.status = status; rec.headers = raw; return hooks.onHeaders?.(resume); },
      onData(chunk) { parts.push(chunk); return hooks.onData?.(chunk, parts.length); },
      onComplete(trailers) { rec.events.push('complete'); rec.trailers = trailers; rec.body = Buffer.concat(parts); resolve(rec); },
      onError(err) { rec.events.push('error'); rec.error = err; rec.body = Buffer.concat(parts); resolve(rec); },
    });
  });
}

/** Drives `dispatch` with an undici ≥ 7 handler. */
function modern(d: HoldfastDispatcher, opts: DispatchOptions, hooks: {
  onResponseStart?: (c: DispatchController) => void;
  onResponseData?: (c: DispatchController, n: number) => void;
} = {}): Promise<Recorded & { rawTrailers: Buffer[] | undefined }> {
  return new Promise((resolve) => {
    const rec: Recorded & { rawTrailers: Buffer[] | undefined } = { events: [], status: 0, headers: {}, body: Buffer.alloc(0), trailers: null, error: null, rawTrailers: undefined };
    const parts: Buffer[] = [];
    d.dispatch(opts, {
      onRequestStart() { rec.events.push('start'); },
      onResponseStart(c, status, headers) { rec.events.push('headers'); rec.status = status; rec.headers = headers; hooks.onResponseStart?.(c); },
      onResponseData(c, chunk) { parts.push(chunk); hooks.onResponseData?.(c, parts.length); },
      onResponseEnd(c, trailers) { rec.events.push('end'); rec.trailers = trailers; rec.rawTrailers = c.rawTrailers; rec.body = Buffer.concat(parts); resolve(rec); },
      onResponseError(_c, err) { rec.events.push('error'); rec.error = err; resolve(rec); },
    });
  });
}

test('both handler shapes: head, body and trailers', async (t) => {
  const { url, d } = await echoServer(t);
  const a = await legacy(d, { origin: url, path: '/trailers', method: 'GET' });
  assert.deepEqual(a.events, ['connect', 'started', 'headers', 'complete']);
  assert.equal(a.status, 200);
  assert.ok(Array.isArray(a.headers) && a.headers.every((b) => Buffer.isBuffer(b)));
  assert.equal(a.body.toString(), 'abc');
  assert.deepEqual((a.trailers as Buffer[]).map(String), ['x-checksum', 'c0ffee']);
  const b = await modern(d, { origin: new URL(url), path: '/trailers', method: 'GET' });
  assert.deepEqual(b.events, ['start', 'headers', 'end']);
  assert.equal((b.headers as Record<string, string>)['content-type'], 'text/plain');
  assert.equal(b.body.toString(), 'abc');
  assert.deepEqual(b.trailers, { 'x-checksum': 'c0ffee' });
  assert.deepEqual(b.rawTrailers?.map(String), ['x-checksum', 'c0ffee']);
  // Query, array headers and a body through the options undici's API uses.
  const c = await modern(d, { origin: url, path: '/echo', method: 'POST', query: { q: 'x y' }, headers: ['content-type', 'text/a', 'x-a', '1'], body: 'hey' });
  assert.deepEqual(JSON.parse(c.body.toString()), { method: 'POST', url: '/echo?q=x+y', length: 3, sha: Buffer.from('hey').toString('base64'), type: 'text/a', framing: 'length' });
});

test('the undici package: request() and fetch() on the dispatcher', async (t) => {
  const { url, d } = await echoServer(t);
  const undici = await import('undici');
  const r = await undici.request(`${url}/echo`, { method: 'POST', body: 'abc', dispatcher: d as never });
  assert.equal(r.statusCode, 200);
  assert.equal((await r.body.json() as { length: number }).length, 3);
  const f = await undici.fetch(`${url}/gzip`, { dispatcher: d as never });
  assert.equal(await f.text(), 'compressed '.repeat(100));
});

test('compose(): undici\'s own interceptors (redirect) run in front of the dispatcher', async (t) => {
  const { url, d, srv } = await echoServer(t);
  const undici = await import('undici');
  const seen: string[] = [];
  srv.on('request', (req: http.IncomingMessage) => seen.push(req.url!));
  const composed = d.compose(undici.interceptors.redirect({ maxRedirections: 2 }) as never);
  assert.equal(composed.agent, d.agent);
  const res = await undici.request(`${url}/redirect?status=302`, { dispatcher: composed as never });
  assert.equal(res.statusCode, 200);
  assert.equal((await res.body.json() as { url: string }).url, '/echo');
  assert.deepEqual(seen, ['/redirect?status=302', '/echo']);
  // Without the interceptor the 302 itself is the answer.
  const plain = await undici.request(`${url}/redirect?status=302`, { dispatcher: d as never });
  assert.equal(plain.statusCode, 302);
  await plain.body.dump();
});

test('backpressure: a legacy handler returning false gets no data until it resumes', async (t) => {
  const total = 32 * 1024 * 1024;
  let serverBlocked: () => void = () => {};
  const blocked = new Promise<void>((r) => { serverBlocked = r; });
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': total });
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    const write = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          serverBlocked();
          res.once('drain', write);
          return;
        }
      }
      res.end();
    };
    write();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const d = new HoldfastDispatcher(new Agent());
  t.after(async () => { await d.destroy(); srv.closeAllConnections(); srv.close(); });

  let resume: () => void = () => {};
  let calls = 0;
  const done = legacy(d, { origin: url, path: '/', method: 'GET' }, {
    onHeaders(r) { resume = r; },
    onData() { calls++; return calls === 1 ? false : undefined; },
  });
  await blocked;
  // The server's socket filled up: the client stopped reading. Give the loop a few turns in
  // which a non-pausing adapter would deliver what it had buffered.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(calls, 1, 'no onData while paused');
  resume();
  const rec = await done;
  assert.equal(rec.error, null);
  assert.equal(rec.body.length, total);

  // The same with the new shape: controller.pause() in onResponseStart.
  let started: (c: DispatchController) => void = () => {};
  const controller = new Promise<DispatchController>((resolve) => (started = resolve));
  let n = 0;
  const done2 = modern(d, { origin: url, path: '/', method: 'GET' }, {
    onResponseStart(c) { c.pause(); started(c); },
    onResponseData() { n++; },
  });
  const ctl = await controller;
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(n, 0, 'no onResponseData while paused');
  assert.equal(ctl.paused, true);
  ctl.resume();
  assert.equal((await done2).body.length, total);
});

test('abort at every phase: in onConnect, before the head, mid-body, after the end', async (t) => {
  const { url, d, srv } = await echoServer(t);
  let requests = 0;
  srv.on('request', () => { requests++; });
  // In onConnect: nothing is sent.
  const a = await legacy(d, { origin: url, path: '/echo', method: 'GET' }, { onConnect: (abort) => abort(new Error('early')) });
  assert.deepEqual(a.events, ['connect', 'error']);
  assert.equal(a.error?.message, 'early');
  // Before the head: the request is out, no answer yet.
  const peer = await scriptedPeer(async (_socket, reader) => { await reader.next(); });
  t.after(() => peer.close());
  let abortB: (r?: unknown) => void = () => {};
  const b = legacy(d, { origin: peer.url, path: '/', method: 'GET' }, { onConnect: (abort) => { abortB = abort; } });
  await until(() => peer.connections > 0, { what: 'the connection at the peer' });
  abortB(new Error('waiting too long'));
  const rb = await b;
  assert.deepEqual(rb.events, ['connect', 'error']);
  assert.equal(rb.error?.message, 'waiting too long');
  // Mid-body.
  let abortC: (r?: unknown) => void = () => {};
  const rc = await legacy(d, { origin: url, path: '/slow', method: 'GET' }, {
    onConnect: (abort) => { abortC = abort; },
    onData: () => { abortC(new Error('enough')); },
  });
  assert.deepEqual(rc.events, ['connect', 'started', 'headers', 'error']);
  assert.equal(rc.body.toString(), 'part');
  // After the end: nothing more is reported.
  let abortD: (r?: unknown) => void = () => {};
  const rd = await legacy(d, { origin: url, path: '/echo', method: 'GET' }, { onConnect: (abort) => { abortD = abort; } });
  abortD(new Error('late'));
  assert.deepEqual(rd.events, ['connect', 'started', 'headers', 'complete']);
  // The new shape aborts through its controller.
  const re = await modern(d, { origin: url, path: '/slow', method: 'GET' }, { onResponseData: (c) => c.abort(new Error('ctl abort')) });
  assert.equal(re.error?.message, 'ctl abort');
  assert.equal(requests, 3, 'the request aborted in onConnect never reached the server');
});

test('an abort mid-body also cancels a body an interceptor produced', async (t) => {
  let cancelled = false;
  const endless: Interceptor = () => async () => new ClientResponse({
    status: 200,
    body: (async function* () {
      try {
        for (;;) yield Buffer.from('chunk');
      } finally {
        cancelled = true;
      }
    })(),
  });
  const d = new HoldfastDispatcher(new Agent({ interceptors: [endless] }));
  t.after(() => d.destroy());
  let abort: (r?: unknown) => void = () => {};
  const r = await legacy(d, { origin: 'http://127.0.0.1:9', path: '/', method: 'GET' }, {
    onConnect: (a) => { abort = a; },
    onData: (_c, n) => { if (n === 3) abort(new Error('stop')); },
  });
  assert.equal(r.error?.message, 'stop');
  // An async generator runs its `finally` once its pending step settles.
  await until(() => cancelled, { what: 'the body generator to be cancelled' });
});

test('a handler that throws gets onError, and the connection with its unread body is closed', async (t) => {
  const { url, d, srv } = await echoServer(t);
  const closed = new Promise<void>((resolve) => srv.once('connection', (socket) => socket.once('close', () => resolve())));
  const r = await legacy(d, { origin: url, path: '/slow', method: 'GET' }, { onData: () => { throw new Error('handler bug'); } });
  assert.equal(r.error?.message, 'handler bug');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('the connection was left open')), 3000); })]);
  clearTimeout(timer);
});

test('a handler whose onComplete throws hears it in onError, as with undici\'s own client', async (t) => {
  const { url, d } = await echoServer(t);
  const err = await new Promise<Error>((resolve) => {
    d.dispatch({ origin: url, path: '/', method: 'GET' }, {
      onConnect() {},
      onHeaders() { return true; },
      onData() { return true; },
      onComplete() { throw new Error('bug at the end'); },
      onError(e) { resolve(e); },
    });
  });
  assert.equal(err.message, 'bug at the end');
});

test('what the adapter cannot do fails with an error naming it', async (t) => {
  const { url, d } = await echoServer(t);
  const cases: Array<[Partial<DispatchOptions>, RegExp]> = [
    [{ upgrade: 'websocket' }, /upgrade/],
    [{ method: 'CONNECT' }, /CONNECT/],
    [{ allowH2: true }, /HTTP\/2/],
    [{ maxRedirections: 3 }, /maxRedirections/],
  ];
  for (const [extra, re] of cases) {
    const r = await legacy(d, { origin: url, path: '/echo', method: 'GET', ...extra });
    assert.ok(r.error instanceof InvalidRequestError, String(r.error));
    assert.match(r.error.message, re);
    assert.equal(r.error.mayHaveBeenProcessed, false);
  }
});

test('expectContinue sends Expect: 100-continue and the body after 100', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    const r = await reader.next();
    if (r === null) return;
    assert.equal(r.headers.get('expect'), '100-continue');
    socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    const body = await new Promise<Buffer>((res) => socket.once('data', res));
    socket.write(ok(`got ${body.toString()}`));
  });
  const d = new HoldfastDispatcher(new Agent());
  t.after(async () => { await d.destroy(); await peer.close(); });
  const r = await legacy(d, { origin: peer.url, path: '/', method: 'PUT', body: 'payload', expectContinue: true });
  assert.equal(r.body.toString(), 'got payload');
});

test('installGlobalDispatcher routes the global fetch through holdfast; uninstall restores the previous one', async (t) => {
  const { url } = await echoServer(t);
  const slot = Symbol.for('undici.globalDispatcher.1');
  void globalThis.Response;
  const before = (globalThis as unknown as Record<symbol, unknown>)[slot];
  const agent = new Agent();
  t.after(() => agent.destroy());
  const d = installGlobalDispatcher(agent);
  try {
    assert.equal((globalThis as unknown as Record<symbol, unknown>)[slot], d);
    assert.equal(agent.pool(url), undefined);
    await (await fetch(`${url}/echo`)).text();
    assert.ok(agent.pool(url) !== undefined, 'the global fetch ran on the agent');
    // The undici package (≥ 8 reads the second slot) on its global dispatcher, too.
    const undici = await import('undici');
    const viaUndici = new URL(url);
    viaUndici.hostname = 'localhost';
    const origin = `http://localhost:${viaUndici.port}`;
    assert.equal(agent.pool(origin), undefined);
    await (await undici.request(`${origin}/echo`)).body.text();
    await (await undici.fetch(`${origin}/echo`)).text();
    assert.ok(agent.pool(origin) !== undefined, 'undici\'s request() ran on the agent');
  } finally {
    assert.equal(uninstallGlobalDispatcher(), d);
  }
  assert.equal((globalThis as unknown as Record<symbol, unknown>)[slot], before);
  assert.equal(uninstallGlobalDispatcher(), null);
  await (await fetch(`${url}/echo`)).text();
});

test('a 200 MB response read through fetch keeps memory bounded', async (t) => {
  const total = 200 * 1024 * 1024;
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': total });
    const chunk = Buffer.alloc(256 * 1024, 7);
    let sent = 0;
    const write = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', write);
          return;
        }
      }
      res.end();
    };
    write();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const d = new HoldfastDispatcher(new Agent());
  t.after(async () => { await d.destroy(); srv.closeAllConnections(); srv.close(); });
  // Collected garbage is not growth: sample after a full collection.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  const base = process.memoryUsage();
  let peak = 0;
  let received = 0;
  let stalled = false;
  const sample = (): void => {
    gc();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base.arrayBuffers);
  };
  const res = await fetchVia(d, `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`);
  const reader = res.body!.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    received += r.value.byteLength;
    // A reader that stalls: for 300 ms loopback could deliver the whole body; with backpressure
    // the socket stops instead and the buffers stay small.
    if (!stalled && received >= 8 * 1024 * 1024) {
      stalled = true;
      await sleep(300);
      sample();
    }
    if ((received & 0x7fffff) < r.value.byteLength) sample();
  }
  assert.equal(received, total);
  // About 16 MB with either dispatcher (socket and stream buffers); unbounded would be ~200 MB.
  assert.ok(peak < 48 * 1024 * 1024, `buffers grew by ${(peak / 1048576).toFixed(1)} MB`);
});

test('HTTPS through fetch: the agent\'s TLS options apply; a TLS failure is the cause of fetch\'s TypeError', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  const srv = https.createServer({ cert, key }, (_req, res) => res.end('secure'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `https://localhost:${(srv.address() as AddressInfo).port}/`;
  const trusting = new HoldfastDispatcher(new Agent({ tls: { ca: cert } }));
  const strict = new HoldfastDispatcher(new Agent());
  t.after(async () => { await trusting.destroy(); await strict.destroy(); srv.closeAllConnections(); srv.close(); });
  assert.equal(await (await fetchVia(trusting, url)).text(), 'secure');
  await assert.rejects(fetchVia(strict, url), (err: unknown) => {
    assert.ok(err instanceof TypeError);
    assert.equal((err.cause as { code?: string }).code, 'HF_TLS');
    return true;
  });
});
