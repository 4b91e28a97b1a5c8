/**
 * The proxy is strict at its edge: a Host or target that is no URI is refused, never passed on
 * for the backend (or the cache key) to guess at; methods go on byte for byte; `OPTIONS *` is
 * forwarded.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { MemoryStore } from '../../src/cache/index.ts';
import { RequestParser } from '../../src/wire/index.ts';
import { rawExchange, startOrigin, startProxy } from './helpers.ts';

function statusLine(data: string): string {
  return data.slice(0, data.indexOf('\r\n'));
}
function bodyOf(data: string): string {
  return data.slice(data.indexOf('\r\n\r\n') + 4);
}

test('cache poisoning through Host: `GET /evil` with `Host: victim#` is refused, and `/` is not served /evil', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.setHeader('cache-control', 'max-age=600');
    res.end(`page for ${req.url}`);
  });
  const proxy = await startProxy(t, { upstreams: [origin.url], cache: new MemoryStore() });
  const port = Number(new URL(proxy.url).port);
  for (const host of ['victim#', 'victim?', 'victim/', 'victim\\', 'victim@x', 'victim:80#', 'victim, other']) {
    const attack = await rawExchange(port, `GET /evil HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.equal(statusLine(attack.data), 'HTTP/1.1 400 Bad Request', JSON.stringify(host));
  }
  assert.equal(origin.seen.length, 0, 'no such Host is forwarded');
  const victim = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: victim\r\nConnection: close\r\n\r\n');
  assert.equal(bodyOf(victim.data), 'page for /');
  assert.deepEqual(origin.seen.map((s) => s.url), ['/']);
});

test('requests whose target is no URI are refused with 400 and never forwarded', async (t) => {
  const origin = await startOrigin(t, (_req, res) => res.end('origin'));
  const proxy = await startProxy(t, { upstreams: [origin.url], cache: new MemoryStore() });
  const port = Number(new URL(proxy.url).port);
  for (const target of ['/a#b', '/#', '/%zz', '/a%2', '/a%', '/"x"', '/<script>', '/a>b', 'http://x/%g0']) {
    const r = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(statusLine(r.data), 'HTTP/1.1 400 Bad Request', target);
  }
  assert.equal(origin.seen.length, 0);
  const ok = await rawExchange(port, 'GET /a%20b?c=%2F HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(bodyOf(ok.data), 'origin');
});

/** A backend that records each request-line as received (node:http would refuse `get`). */
async function rawOrigin(t: TestContext): Promise<{ port: number; lines: string[] }> {
  const lines: string[] = [];
  const server = net.createServer((socket) => {
    const parser = new RequestParser({
      onHead: (head) => lines.push(`${head.method} ${head.target}`),
      onBody: () => {},
      onComplete: () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=600\r\n\r\nok');
      },
    });
    socket.on('data', (d: Buffer) => {
      try {
        parser.execute(d);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  return { port: (server.address() as net.AddressInfo).port, lines };
}

test('methods are case-sensitive: `get` goes upstream as `get`, and the cache does not take it for GET', async (t) => {
  const origin = await rawOrigin(t);
  const proxy = await startProxy(t, { upstreams: [`http://127.0.0.1:${origin.port}`], cache: new MemoryStore() });
  const port = Number(new URL(proxy.url).port);
  for (const line of ['GET /r', 'GET /r', 'get /r', 'get /r', 'Get /r', 'gEt /r', 'BREW /pot']) {
    const r = await rawExchange(port, `${line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(statusLine(r.data), 'HTTP/1.1 200 OK', line);
    const cacheStatus = /cache-status: ([^\r]*)/i.exec(r.data)?.[1] ?? '';
    if (line !== 'GET /r') assert.match(cacheStatus, /fwd=method/, `${line} is not a cacheable GET (RFC 9211 §2.2)`);
  }
  // The first GET fills the cache and the second is a hit; every other spelling went upstream as sent.
  assert.deepEqual(origin.lines, ['GET /r', 'get /r', 'get /r', 'Get /r', 'gEt /r', 'BREW /pot']);
});

test('OPTIONS * (asterisk-form, RFC 9112 §3.2.4) is forwarded, with or without a cache', async (t) => {
  const origin = await rawOrigin(t);
  const plain = await startProxy(t, { upstreams: [`http://127.0.0.1:${origin.port}/base/`] });
  const cached = await startProxy(t, { upstreams: [`http://127.0.0.1:${origin.port}`], cache: new MemoryStore() });
  for (const proxy of [plain, cached]) {
    const r = await rawExchange(Number(new URL(proxy.url).port), 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(statusLine(r.data), 'HTTP/1.1 200 OK');
  }
  const other = await rawExchange(Number(new URL(plain.url).port), 'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(statusLine(other.data), 'HTTP/1.1 400 Bad Request');
  assert.deepEqual(origin.lines, ['OPTIONS *', 'OPTIONS *']);
});
