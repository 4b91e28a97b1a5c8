/**
 * Timeouts, abort, Expect: 100-continue, request bodies, limits, close/destroy, interceptors,
 * the opt-in retry policy, diagnostics and HTTPS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import diagnostics from 'node:diagnostics_channel';
import {
  Agent, ClientResponse, TimeoutError, AbortedError, QueueFullError, PoolClosedError, type Interceptor,
} from '../../src/client/index.ts';
import { scriptedPeer, ok, gate, nextEvent, sleep, until } from '../support.ts';

/** Echoes method, body and selected headers of every request. */
async function echoPeer() {
  return scriptedPeer(async (socket, reader) => {
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      const te = r.headers.get('transfer-encoding') ?? '-';
      const cl = r.headers.get('content-length') ?? '-';
      socket.write(ok(`${r.method} ${r.target} cl=${cl} te=${te} ${r.body.toString()}`));
    }
  });
}

test('request bodies: string, bytes, Blob, Readable, ReadableStream, async iterable, replayable factory', async (t) => {
  const peer = await echoPeer();
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const send = async (body: unknown, headers?: Record<string, string>) =>
    (await agent.request(`${peer.url}/b`, { method: 'POST', body: body as never, headers })).body.text();
  assert.equal(await send('héllo'), 'POST /b cl=6 te=- héllo');
  assert.equal(await send(new Uint8Array([104, 105])), 'POST /b cl=2 te=- hi');
  assert.equal(await send(new Blob(['bl', 'ob'])), 'POST /b cl=4 te=- blob');
  assert.equal(await send(Readable.from([Buffer.from('re'), Buffer.from('ad')])), 'POST /b cl=- te=chunked read');
  assert.equal(await send(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('web')); c.close(); } })), 'POST /b cl=- te=chunked web');
  assert.equal(await send((async function* () { yield 'it'; yield 'er'; })()), 'POST /b cl=- te=chunked iter');
  assert.equal(await send(Readable.from([Buffer.from('len')]), { 'content-length': '3' }), 'POST /b cl=3 te=- len');
  assert.equal(await send(() => Readable.from(['fac'])), 'POST /b cl=- te=chunked fac');
});

test('headers timeout: HF_HEADERS_TIMEOUT, request written', async (t) => {
  const peer = await scriptedPeer(async (_s, reader) => { await reader.next(); await reader.next(); });
  const agent = new Agent({ headersTimeout: 100 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  await assert.rejects(agent.request(peer.url), (err: unknown) => {
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.code, 'HF_HEADERS_TIMEOUT');
    assert.equal(err.phase, 'headers');
    assert.equal(err.mayHaveBeenProcessed, true);
    return true;
  });
});

test('body timeout: HF_BODY_TIMEOUT on the body stream', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    await reader.next();
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    await reader.next();
  });
  const agent = new Agent({ bodyTimeout: 100 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const res = await agent.request(peer.url);
  await assert.rejects(res.body.text(), { code: 'HF_BODY_TIMEOUT', phase: 'body' });
});

test('headers timeout on a reused connection whose deadline timer was armed for a later deadline', async (t) => {
  // The connection's one deadline timer is left armed by the first exchange (60 s); the second
  // asks for 100 ms and must not wait for the old timer.
  const peer = await scriptedPeer(async (socket, reader) => {
    await reader.next();
    socket.write(ok('first'));
    await reader.next();
    await reader.next();
  });
  const agent = new Agent({ headersTimeout: 60_000 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'first');
  await assert.rejects(agent.request(peer.url, { timeouts: { headers: 100 } }), { code: 'HF_HEADERS_TIMEOUT', phase: 'headers' });
});

test('body timeout is an idle timeout: a body that keeps trickling in is not cut, one that stalls is', async (t) => {
  // Each byte comes well within the timeout but the whole body takes several timeouts: the
  // deadline moves with the data, and the timer re-arms when it wakes up early.
  const peer = await scriptedPeer(async (socket, reader) => {
    await reader.next();
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n');
    for (let i = 0; i < 8; i++) {
      await sleep(40);
      socket.write('x');
    }
    await reader.next();
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nxx');
    await reader.next();
  });
  const agent = new Agent({ bodyTimeout: 150 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'xxxxxxxx');
  const res = await agent.request(peer.url);
  assert.equal(res.reusedConnection, true);
  await assert.rejects(res.body.text(), { code: 'HF_BODY_TIMEOUT', phase: 'body' });
});

test('body timeout does not run while the consumer is not reading', async (t) => {
  const size = 2 * 1024 * 1024;
  const peer = await scriptedPeer(async (socket, reader) => {
    await reader.next();
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
    socket.write(Buffer.alloc(size, 121));
    await reader.next();
  });
  const agent = new Agent({ bodyTimeout: 100 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const res = await agent.request(peer.url);
  let n = 0;
  for await (const chunk of res.body) {
    // Stalls the reader for longer than the body timeout once the socket has been paused.
    if (n === 0) await sleep(300);
    n += chunk.byteLength;
  }
  assert.equal(n, size);
});

test('arrayBuffer() of a large multi-chunk body and of a small one', async (t) => {
  const big = Buffer.alloc(200 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const peer = await scriptedPeer(async (socket, reader) => {
    await reader.next();
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
    // Several writes, spaced in time, so that the body arrives in several reads.
    for (let off = 0; off < big.length; off += 30 * 1024) {
      socket.write(big.subarray(off, off + 30 * 1024));
      await sleep(5);
    }
    await reader.next();
    socket.write(ok('small'));
    await reader.next();
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const ab = await (await agent.request(peer.url)).body.arrayBuffer();
  assert.equal(ab.byteLength, big.length);
  assert.ok(Buffer.from(ab).equals(big));
  const small = await (await agent.request(peer.url)).body.arrayBuffer();
  assert.equal(Buffer.from(small).toString(), 'small');
});

test('request timeout covers the whole request, including the body', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    await reader.next();
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    const timer = setInterval(() => socket.write(''), 20);
    await reader.next();
    clearInterval(timer);
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const res = await agent.request(peer.url, { timeouts: { request: 150 } });
  await assert.rejects(res.body.text(), { code: 'HF_REQUEST_TIMEOUT', phase: 'body' });
});

test('connect timeout covers a TLS handshake that never completes', async (t) => {
  // A peer that accepts and never answers the TLS hello.
  const peer = await scriptedPeer(() => {});
  const port = peer.port;
  const agent = new Agent({ connectTimeout: 150 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  await assert.rejects(agent.request(`https://127.0.0.1:${port}/`), { code: 'HF_CONNECT_TIMEOUT', phase: 'connect', mayHaveBeenProcessed: false });
});

test('abort before the head: HF_ABORTED; abort during the body: the body fails', async (t) => {
  const arrived = gate();
  const peer = await scriptedPeer(async (socket, reader) => {
    const r = await reader.next();
    if (r === null) return;
    if (r.target === '/head') arrived.open();
    if (r.target === '/body') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    await reader.next();
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const ac = new AbortController();
  const p = agent.request(`${peer.url}/head`, { signal: ac.signal });
  // The request is at the peer, its answer not begun: an abort now is an abort before the head.
  await arrived.opened;
  ac.abort(new Error('stop'));
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AbortedError);
    assert.equal(err.phase, 'headers');
    assert.equal(err.mayHaveBeenProcessed, true);
    assert.equal((err.cause as Error).message, 'stop');
    return true;
  });
  const ac2 = new AbortController();
  const res = await agent.request(`${peer.url}/body`, { signal: ac2.signal });
  const text = res.body.text();
  ac2.abort();
  await assert.rejects(text, { code: 'HF_ABORTED', phase: 'body' });
  await assert.rejects(agent.request(peer.url, { signal: AbortSignal.abort() }), { code: 'HF_ABORTED', mayHaveBeenProcessed: false });
});

test('Expect: 100-continue: body after 100; after the timeout if the server stays silent; never after a final answer', async (t) => {
  const log: string[] = [];
  const peer = await scriptedPeer(async (socket, reader, index) => {
    const head = await reader.next();
    if (head === null) return;
    log.push(`${index} head body=${head.body.length}`);
    if (head.target === '/continue') socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    if (head.target === '/reject') {
      socket.write('HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n');
      // The absence of a body is the subject: give a client that would wrongly send it the time to.
      await sleep(100);
      log.push(`${index} after-417 received=${reader.leftover.length}`);
      return;
    }
    // The body arrives with no head: wait for its bytes.
    await until(() => reader.leftover.length >= 4, { what: 'the request body' });
    log.push(`${index} body=${reader.leftover.toString()}`);
    socket.write(ok('done', 'Connection: close\r\n'));
  });
  const agent = new Agent({ expectContinueTimeout: 100 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const a = await agent.request(`${peer.url}/continue`, { method: 'PUT', body: 'data', expectContinue: true });
  assert.equal(await a.body.text(), 'done');
  const b = await agent.request(`${peer.url}/silent`, { method: 'PUT', body: 'late', expectContinue: true });
  assert.equal(await b.body.text(), 'done');
  const c = await agent.request(`${peer.url}/reject`, { method: 'PUT', body: 'nope', expectContinue: true });
  assert.equal(c.status, 417);
  await c.body.text();
  await until(() => log.length === 6, { what: () => `the peer's log (${log.join('; ')})` });
  assert.deepEqual(log, ['0 head body=0', '0 body=data', '1 head body=0', '1 body=late', '2 head body=0', '2 after-417 received=0']);
});

test('queue limit: QueueFullError; close() is graceful; destroy() fails what is left', async (t) => {
  let arrived = gate();
  let release = gate();
  const peer = await scriptedPeer(async (socket, reader) => {
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      if (r.target === '/hold') {
        arrived.open();
        await release.opened;
      }
      socket.write(ok(r.target));
    }
  });
  const agent = new Agent({ connections: 1, queueLimit: 1 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const held = agent.request(`${peer.url}/hold`);
  await arrived.opened;
  const queued = agent.request(`${peer.url}/queued`);
  await assert.rejects(agent.request(`${peer.url}/third`), (err: unknown) => err instanceof QueueFullError && err.code === 'HF_QUEUE_FULL');
  const closing = agent.close();
  await assert.rejects(agent.request(`${peer.url}/late`), (err: unknown) => err instanceof PoolClosedError);
  release.open();
  assert.equal(await (await held).body.text(), '/hold');
  assert.equal(await (await queued).body.text(), '/queued');
  await closing;
  assert.equal(agent.pool(`http://127.0.0.1:${peer.port}`)!.size, 0);

  const agent2 = new Agent();
  arrived = gate();
  release = gate();
  const pending = agent2.request(`${peer.url}/hold`);
  await arrived.opened;
  const failed = assert.rejects(pending, { code: 'HF_POOL_CLOSED', mayHaveBeenProcessed: true });
  await agent2.destroy();
  await failed;
  release.open();
});

test('interceptors wrap request() and fetch(); a response can be made without the network', async (t) => {
  const peer = await echoPeer();
  const seen: string[] = [];
  const log: Interceptor = (next) => async (req) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url.endsWith('/cached')) return new ClientResponse({ status: 200, headers: { 'x-cache': 'hit' }, body: 'from cache' });
    return next(req);
  };
  const agent = new Agent({ interceptors: [log] });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(`${peer.url}/a`)).body.text(), 'GET /a cl=- te=- ');
  const cached = await agent.fetch(`${peer.url}/cached`);
  assert.equal(cached.headers.get('x-cache'), 'hit');
  assert.equal(await cached.text(), 'from cache');
  assert.deepEqual(seen, [`GET ${peer.url}/a`, `GET ${peer.url}/cached`]);
});

test('opt-in retry policy: 503 with Retry-After is retried for GET, not for POST', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    let n = 0;
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      if (n++ === 0 || r.method === 'POST') socket.write('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 4\r\n\r\nbusy');
      else socket.write(ok('fine'));
    }
  });
  const agent = new Agent({ retry: { limit: 2, backoff: () => 1 } });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const res = await agent.request(peer.url);
  assert.equal(await res.body.text(), 'fine');
  assert.equal(res.attempts, 2);
  const post = await agent.request(peer.url, { method: 'POST', body: 'x' });
  assert.equal(post.status, 503);
  assert.equal(post.attempts, 1);
});

test('diagnostics channels follow a request and its connection', async (t) => {
  const peer = await echoPeer();
  const agent = new Agent();
  const events: string[] = [];
  const names = ['request:start', 'request:headers', 'request:body:done', 'connection:created', 'connection:reused', 'connection:closed'];
  const subs = names.map((n) => {
    const fn = (m: unknown): void => {
      const reason = (m as { reason?: string }).reason;
      events.push(reason === undefined ? n : `${n}(${reason})`);
    };
    diagnostics.channel(`holdfast:client:${n}`).subscribe(fn);
    return () => diagnostics.channel(`holdfast:client:${n}`).unsubscribe(fn);
  });
  t.after(async () => { for (const u of subs) u(); await peer.close(); });
  await (await agent.request(peer.url)).body.text();
  await (await agent.request(peer.url)).body.text();
  await agent.close();
  assert.deepEqual(events, [
    'request:start', 'connection:created', 'request:headers', 'request:body:done',
    'request:start', 'connection:reused', 'request:headers', 'request:body:done',
    'connection:closed(pool-closed)',
  ]);
});

test('diagnostics channels: request:retry for a safe retry, request:error before the head and for failed bodies', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    let served = 0;
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      // `/race` on a connection that served before: the keep-alive race, lost.
      if (r.target === '/die' || (r.target === '/race' && served > 0)) {
        socket.end();
        return;
      }
      served++;
      if (r.target === '/truncated') {
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
        return;
      }
      // Never finishes: the body timeout or the caller's abort ends it.
      if (r.target === '/stall') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      else socket.write(ok(r.target));
    }
  });
  const agent = new Agent();
  const events: string[] = [];
  const names = ['request:start', 'request:retry', 'request:headers', 'request:body:done', 'request:error'];
  const subs = names.map((n) => {
    const fn = (m: unknown): void => {
      const msg = m as { request: { url: string }; attempt?: number; error?: { code?: string }; response?: unknown };
      let e = `${new URL(msg.request.url).pathname} ${n}`;
      if (n === 'request:retry') e += `(attempt ${msg.attempt}, ${msg.error?.code})`;
      if (n === 'request:error') e += `(${msg.error?.code}${msg.response !== undefined ? ', with response' : ''})`;
      events.push(e);
    };
    diagnostics.channel(`holdfast:client:${n}`).subscribe(fn);
    return () => diagnostics.channel(`holdfast:client:${n}`).unsubscribe(fn);
  });
  t.after(async () => { for (const u of subs) u(); await agent.destroy(); await peer.close(); });
  await assert.rejects(agent.request(`${peer.url}/die`), { code: 'HF_SOCKET_RESET' });
  assert.equal(await (await agent.request(`${peer.url}/a`)).body.text(), '/a');
  const raced = await agent.request(`${peer.url}/race`);
  assert.equal(await raced.body.text(), '/race');
  assert.equal(raced.attempts, 2);
  await assert.rejects((await agent.request(`${peer.url}/truncated`)).body.text(), { code: 'HF_TRUNCATED_BODY' });
  await assert.rejects((await agent.request(`${peer.url}/stall`, { timeouts: { body: 100 } })).body.text(), { code: 'HF_BODY_TIMEOUT' });
  const ac = new AbortController();
  const aborted = await agent.request(`${peer.url}/stall`, { signal: ac.signal });
  const text = aborted.body.text();
  ac.abort();
  await assert.rejects(text, { code: 'HF_ABORTED', phase: 'body' });
  // A body the consumer cancels is no failure of the request: nothing is published for it.
  const cancelled = await agent.request(`${peer.url}/stall`);
  const cancelClosed = nextEvent('holdfast:client:connection:closed');
  cancelled.body.cancel();
  await cancelClosed;
  assert.deepEqual(events, [
    '/die request:start', '/die request:error(HF_SOCKET_RESET)',
    '/a request:start', '/a request:headers', '/a request:body:done',
    '/race request:start', '/race request:retry(attempt 2, HF_STALE_CONNECTION)', '/race request:headers', '/race request:body:done',
    '/truncated request:start', '/truncated request:headers', '/truncated request:error(HF_TRUNCATED_BODY, with response)',
    '/stall request:start', '/stall request:headers', '/stall request:error(HF_BODY_TIMEOUT, with response)',
    '/stall request:start', '/stall request:headers', '/stall request:error(HF_ABORTED, with response)',
    '/stall request:start', '/stall request:headers',
  ]);
});

test('HTTPS with SNI and a custom CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=holdfast.test',
    '-addext', 'subjectAltName=DNS:holdfast.test,DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  const names: Array<string | false> = [];
  const server = tls.createServer({ cert, key }, (socket) => {
    names.push((socket as tls.TLSSocket & { servername: string | false }).servername);
    socket.on('error', () => {});
    socket.on('data', () => socket.write(ok('secure')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  t.after(() => server.close());
  const agent = new Agent({ tls: { ca: cert } });
  t.after(() => agent.destroy());
  const res = await agent.request(`https://localhost:${port}/`);
  assert.equal(await res.body.text(), 'secure');
  assert.equal((await agent.request(`https://localhost:${port}/`)).reusedConnection, true);
  assert.deepEqual(names, ['localhost']);
  const strict = new Agent();
  t.after(() => strict.destroy());
  await assert.rejects(strict.request(`https://localhost:${port}/`), { code: 'HF_TLS', phase: 'tls', mayHaveBeenProcessed: false });
  const sni = new Agent({ tls: { ca: cert, servername: 'holdfast.test' } });
  t.after(() => sni.destroy());
  await (await sni.request(`https://127.0.0.1:${port}/`)).body.text();
  assert.equal(names.at(-1), 'holdfast.test');
});
