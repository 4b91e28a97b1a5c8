/**
 * Proxy semantics: smuggling refused before the backend, hop-by-hop fields removed both ways,
 * Via / X-Forwarded-* / Forwarded added, framing re-derived, Expect: 100-continue, 502/504 with a
 * reason, per-upstream concurrency, backpressure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { backendLog, directRequest, freePort, headerPairs, rawExchange, startOrigin, startPython, startProxy } from './helpers.ts';
import { closed, scriptedPeer, sleep, until } from '../support.ts';

test('smuggling: conflicting or ambiguous framing is refused with 400 and never reaches the backend', async (t) => {
  const backend = await startPython(t);
  const proxy = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1 });
  const port = Number(new URL(proxy.url).port);
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
  const attacks: Array<[string, string]> = [
    ['CL + TE', `POST /attack-clte HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['TE + CL', `POST /attack-tecl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`],
    ['differing CL lines', `POST /attack-cl2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 44\r\n\r\nhello${smuggled}`],
    ['differing CL list', `POST /attack-cllist HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 44\r\n\r\nhello${smuggled}`],
    ['TE in HTTP/1.0', `POST /attack-te10 HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['TE not ending in chunked', `POST /attack-teid HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`],
    ['space before colon', `POST /attack-space HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['obs-fold TE', `POST /attack-fold HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['signed CL', `POST /attack-plus HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello${smuggled}`],
    ['bad chunk size', `POST /attack-chunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n${smuggled}`],
  ];
  for (const [name, bytes] of attacks) {
    const r = await rawExchange(port, bytes);
    assert.match(r.data, /^HTTP\/1\.1 400 /, `${name}: answered ${JSON.stringify(r.data.slice(0, 40))}`);
    // One answer only: the bytes after the refused head are never parsed as a second request.
    assert.equal(r.data.split('HTTP/1.1 ').length - 1, 1, `${name}: exactly one response`);
  }
  // Control: the same path through the same proxy does reach the backend, so the log can show it.
  const ok = await rawExchange(port, 'POST /control HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
  assert.match(ok.data, /^HTTP\/1\.1 404 /);
  const log = await backendLog(backend);
  assert.deepEqual(log.map((e) => e.target), ['/control'], 'the backend saw only the control request');
  assert.equal(log[0]!.bodyLength, 5);
});

test('framing is re-derived: a chunked upload reaches a Content-Length-only backend whole', async (t) => {
  const backend = await startPython(t);
  const body = 'x'.repeat(5000);
  const chunked = `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${(2000).toString(16)}\r\n${body.slice(0, 2000)}\r\n${(3000).toString(16)}\r\n${body.slice(2000)}\r\n0\r\n\r\n`;
  // Teeth: http.server ignores chunked coding, so straight to it the body is lost.
  const direct = await rawExchange(backend.port, chunked);
  assert.match(direct.data, /"bodyLength": 0/);
  const proxy = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1 });
  const r = await rawExchange(Number(new URL(proxy.url).port), chunked);
  assert.match(r.data, /^HTTP\/1\.1 200 /);
  const echo = JSON.parse(r.data.slice(r.data.indexOf('\r\n\r\n') + 4)) as { bodyLength: number; headers: Array<[string, string]> };
  assert.equal(echo.bodyLength, 5000);
  const names = echo.headers.map(([n]) => n.toLowerCase());
  assert.ok(names.includes('content-length'), 'sent upstream with Content-Length');
  assert.ok(!names.includes('transfer-encoding'), 'no Transfer-Encoding upstream');
});

test('hop-by-hop fields are removed in both directions; Via and forwarding fields are added', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, [
      ['Content-Type', 'text/plain'],
      ['Connection', 'X-Resp-Hop'],
      ['X-Resp-Hop', 'secret'],
      ['Keep-Alive', 'timeout=99'],
      ['Proxy-Authenticate', 'Basic'],
      ['Upgrade', 'h2c'],
      ['Trailer', 'X-T'],
      ['X-End-To-End', 'kept'],
      ['Via', '1.1 origin-side'],
    ] as unknown as string[]);
    res.end('ok');
  });
  const proxy = await startProxy(t, { upstreams: [origin.url] });
  const port = Number(new URL(proxy.url).port);
  const r = await rawExchange(
    port,
    'GET /hop HTTP/1.1\r\nHost: front.example:8080\r\nConnection: keep-alive, X-Hop, close\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n' +
      'Proxy-Authorization: Basic abc\r\nProxy-Connection: keep-alive\r\nUpgrade: websocket\r\nTrailer: X-T\r\nX-End: 1\r\n' +
      'X-Forwarded-For: 203.0.113.7\r\nVia: 1.0 earlier\r\n\r\n',
  );
  assert.match(r.data, /^HTTP\/1\.1 200 /);
  const seen = headerPairs(origin.seen[0]!.rawHeaders);
  const names = new Set(seen.map(([n]) => n));
  for (const hop of ['connection', 'x-hop', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'upgrade', 'trailer', 'transfer-encoding']) {
    assert.ok(!names.has(hop), `request field ${hop} must not reach the upstream`);
  }
  const get = (n: string): string[] => seen.filter(([k]) => k === n).map(([, v]) => v);
  assert.deepEqual(get('x-end'), ['1']);
  assert.deepEqual(get('host'), ['front.example:8080']);
  assert.deepEqual(get('x-forwarded-for'), ['203.0.113.7, 127.0.0.1']);
  assert.deepEqual(get('x-forwarded-proto'), ['http']);
  assert.deepEqual(get('x-forwarded-host'), ['front.example:8080']);
  assert.deepEqual(get('forwarded'), ['for=127.0.0.1;host="front.example:8080";proto=http']);
  assert.deepEqual(get('via'), ['1.0 earlier', '1.1 holdfast']);

  const head = r.data.slice(0, r.data.indexOf('\r\n\r\n')).toLowerCase();
  for (const hop of ['x-resp-hop', 'keep-alive: timeout=99', 'proxy-authenticate', 'upgrade', 'trailer:']) {
    assert.ok(!head.includes(hop), `response field ${hop} must not reach the client:\n${head}`);
  }
  assert.ok(head.includes('x-end-to-end: kept'));
  assert.ok(head.includes('via: 1.1 origin-side') && head.includes('via: 1.1 holdfast'), 'Via: the origin side hop and ours');
  // The client's own `Connection: close` is honoured by the proxy's server for its connection.
  assert.ok(head.includes('connection: close'));
});

test('X-Forwarded-For of only U+00A0 is a prior value, kept byte for byte (not OWS, not empty)', async (t) => {
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const proxy = await startProxy(t, { upstreams: [origin.url] });
  const port = Number(new URL(proxy.url).port);
  const r = await rawExchange(port, Buffer.from('GET /xff HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \xa0\r\nConnection: close\r\n\r\n', 'latin1'));
  assert.match(r.data, /^HTTP\/1\.1 200 /);
  const xff = headerPairs(origin.seen[0]!.rawHeaders).filter(([n]) => n === 'x-forwarded-for').map(([, v]) => v);
  assert.deepEqual(xff, ['\xa0, 127.0.0.1']);
});

test('Expect: 100-continue: buffered bodies get 100 from the proxy; large ones get the upstream verdict', async (t) => {
  const origin = await startOrigin(t, (req, res, body) => {
    res.end(`${req.method} ${body.length}`);
  });
  // The upstream rejects big uploads before reading them.
  origin.server.on('checkContinue', (req, res) => {
    if (req.url === '/reject') {
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
      res.end('too big');
      return;
    }
    res.writeContinue();
    origin.server.emit('request', req, res);
  });
  const proxy = await startProxy(t, { upstreams: [origin.url], bufferRequests: 64 });
  const port = Number(new URL(proxy.url).port);

  const exchange = (path: string, size: number): Promise<{ sawContinue: boolean; final: string; sentBody: boolean }> =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let data = '';
      let sentBody = false;
      let sawContinue = false;
      const timer = setTimeout(() => s.destroy(), 5000);
      s.on('connect', () => s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\nExpect: 100-continue\r\n\r\n`));
      s.on('data', (d: Buffer) => {
        data += d.toString('latin1');
        if (!sawContinue && data.startsWith('HTTP/1.1 100 ')) {
          sawContinue = true;
          data = data.slice(data.indexOf('\r\n\r\n') + 4);
          sentBody = true;
          s.write('y'.repeat(size));
        }
        const end = data.indexOf('\r\n\r\n');
        if (end !== -1 && data.startsWith('HTTP/1.1 ') && !data.startsWith('HTTP/1.1 100 ')) {
          const cl = /content-length: (\d+)/i.exec(data.slice(0, end));
          if (cl !== null && data.length >= end + 4 + Number(cl[1])) {
            clearTimeout(timer);
            s.destroy();
            resolve({ sawContinue, final: data, sentBody });
          }
        }
      });
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ sawContinue, final: data, sentBody });
      });
      s.on('error', () => {});
    });

  const small = await exchange('/small', 10);
  assert.equal(small.sawContinue, true);
  assert.match(small.final, /^HTTP\/1\.1 200 [\s\S]*POST 10$/);

  const big = await exchange('/big', 1000);
  assert.equal(big.sawContinue, true, 'the upstream said 100, so the client was told to send');
  assert.match(big.final, /^HTTP\/1\.1 200 [\s\S]*POST 1000$/);

  const rejected = await exchange('/reject', 100_000);
  assert.equal(rejected.sawContinue, false, 'no 100 Continue when the upstream refuses');
  assert.equal(rejected.sentBody, false);
  assert.match(rejected.final, /^HTTP\/1\.1 413 [\s\S]*too big/);
});

test('upstream failures: 502 with the client error code and phase; 504 for a timeout', async (t) => {
  const dead = await freePort();
  const proxy = await startProxy(t, { upstreams: [`http://127.0.0.1:${dead}`] });
  const r = await directRequest(`${proxy.url}/x`);
  assert.equal(r.status, 502);
  assert.match(r.body.toString(), /HF_CONNECT in phase connect/);

  // An upstream that accepts, reads, and never answers.
  const silent = await scriptedPeer(() => {});
  t.after(() => silent.close());
  const slow = await startProxy(t, { upstreams: [silent.url], timeouts: { headers: 300 } });
  const r2 = await directRequest(`${slow.url}/y`);
  assert.equal(r2.status, 504);
  assert.match(r2.body.toString(), /HF_HEADERS_TIMEOUT in phase headers \(the upstream may have processed it\)/);
  assert.equal(slow.stats.upstreamErrors, 1);
});

test('a body truncated by the upstream reaches the client truncated, never as a complete message', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    // Closed once the bytes are handed to the kernel, which sends them before the FIN.
    res.write('z'.repeat(30_000), () => res.socket?.destroy());
  });
  const proxy = await startProxy(t, { upstreams: [origin.url] });
  const r = await rawExchange(Number(new URL(proxy.url).port), 'GET /t HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(r.closed, true, 'the proxy closes the connection');
  const body = r.data.slice(r.data.indexOf('\r\n\r\n') + 4);
  assert.match(r.data, /content-length: 100000/i);
  assert.ok(body.length < 100_000, 'fewer bytes than announced: the client can tell');
  assert.equal(proxy.stats.truncated, 1);
});

test('upstreamConcurrency 1: one request and one connection at a time; none left open when idle', async (t) => {
  const origin = await startOrigin(t, async (req, res) => {
    // Slow enough answers that the burst overlaps: the concurrency limit is the subject.
    await sleep(30);
    res.end(req.url);
  });
  const proxy = await startProxy(t, { upstreams: [origin.url], upstreamConcurrency: 1 });
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => directRequest(`${proxy.url}/c${i}`)));
  assert.deepEqual(results.map((r) => r.body.toString()), Array.from({ length: 8 }, (_, i) => `/c${i}`));
  assert.equal(origin.maxInFlight, 1);
  assert.equal(origin.maxOpenConnections, 1, 'queued requests reuse the one connection');
  assert.ok(origin.seen.length === 8);
  await until(() => origin.openConnections === 0, { what: 'the idle connection to close once nobody waits' });

  // Control: without a limit the same burst runs concurrently.
  const free = await startProxy(t, { upstreams: [origin.url] });
  origin.maxInFlight = 0;
  await Promise.all(Array.from({ length: 8 }, (_, i) => directRequest(`${free.url}/d${i}`)));
  assert.ok(origin.maxInFlight > 1, `unlimited: ${origin.maxInFlight} in flight`);
});

test('backpressure: a client that stops reading stops the upstream; it resumes and gets every byte', async (t) => {
  const total = 64 * 1024 * 1024;
  let written = 0;
  const origin = await startOrigin(t, async (_req, res) => {
    res.writeHead(200, { 'content-length': String(total) });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    while (written < total) {
      written += chunk.length;
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  });
  const proxy = await startProxy(t, { upstreams: [origin.url] });
  const s = net.connect(Number(new URL(proxy.url).port), '127.0.0.1');
  t.after(() => s.destroy());
  let received = 0;
  s.on('data', (d: Buffer) => (received += d.length));
  s.write('GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await until(() => received > 0, { what: 'the first bytes of the response' });
  s.pause();
  // Wait until the upstream is stalled (its writes stop), bounded. A stall is the absence of
  // progress over time, so this one waits on the clock.
  let last = -1;
  for (let i = 0; i < 50 && written !== last; i++) {
    last = written;
    await sleep(200);
  }
  assert.equal(written, last, 'the upstream stalled while the client did not read');
  assert.ok(written < total / 2, `the upstream wrote ${written} of ${total} bytes while the client was paused`);
  const ended = closed(s);
  s.resume();
  await ended;
  assert.ok(received > total, `received ${received} bytes (head + ${total})`);
});
