/**
 * fetch(): the WHATWG contract as Node's global fetch supports it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { Agent } from '../../src/client/index.ts';
import { scriptedPeer } from '../support.ts';

async function server(t: { after(fn: () => unknown): void }) {
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${body}`);
      const u = new URL(req.url!, 'http://x');
      const p = u.pathname;
      if (p === '/redirect') {
        res.writeHead(Number(u.searchParams.get('status') ?? 302), { location: '/target' });
        res.end('moved');
      } else if (p === '/loop') {
        res.writeHead(302, { location: '/loop' });
        res.end();
      } else if (p === '/target') {
        res.end(`target ${req.method} ${body} auth=${req.headers.authorization ?? '-'}`);
      } else if (p === '/gzip' || p === '/deflate' || p === '/br') {
        const data = Buffer.from('compressed '.repeat(100));
        const enc = p === '/gzip' ? zlib.gzipSync(data) : p === '/deflate' ? zlib.deflateSync(data) : zlib.brotliCompressSync(data);
        res.writeHead(200, { 'content-encoding': p.slice(1), 'content-length': enc.length });
        res.end(enc);
      } else if (p === '/nocontent') {
        res.writeHead(204);
        res.end();
      } else if (p === '/headers') {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end(JSON.stringify({ ua: req.headers['user-agent'], ae: req.headers['accept-encoding'], ct: req.headers['content-type'] ?? null }));
      } else {
        res.end(`hello ${req.method} ${body}`);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); srv.closeAllConnections(); srv.close(); });
  return { url, agent, seen };
}

test('fetch returns a global Response with status, headers, url and body', async (t) => {
  const { url, agent } = await server(t);
  const res = await agent.fetch(`${url}/hi`, { method: 'POST', body: 'there' });
  assert.ok(res instanceof Response);
  assert.equal(res.status, 200);
  assert.equal(res.ok, true);
  assert.equal(res.url, `${url}/hi`);
  assert.equal(res.redirected, false);
  assert.equal(await res.text(), 'hello POST there');
  const h = await agent.fetch(`${url}/headers`, { method: 'POST', body: new URLSearchParams({ a: 'b' }) });
  assert.deepEqual(h.headers.getSetCookie(), ['a=1', 'b=2']);
  assert.deepEqual(await h.json(), { ua: 'holdfast', ae: 'gzip, deflate, br', ct: 'application/x-www-form-urlencoded;charset=UTF-8' });
  const empty = await agent.fetch(`${url}/nocontent`);
  assert.equal(empty.status, 204);
  assert.equal(empty.body, null);
});

test('fetch follows redirects; 303 and POST-on-302 become GET; 307 keeps method and body', async (t) => {
  const { url, agent } = await server(t);
  const a = await agent.fetch(`${url}/redirect`);
  assert.equal(a.status, 200);
  assert.equal(a.redirected, true);
  assert.equal(a.url, `${url}/target`);
  assert.equal(await a.text(), 'target GET  auth=-');
  assert.equal(await (await agent.fetch(`${url}/redirect?status=303`, { method: 'POST', body: 'x' })).text(), 'target GET  auth=-');
  assert.equal(await (await agent.fetch(`${url}/redirect?status=302`, { method: 'POST', body: 'x' })).text(), 'target GET  auth=-');
  assert.equal(await (await agent.fetch(`${url}/redirect?status=307`, { method: 'POST', body: 'x' })).text(), 'target POST x auth=-');
  assert.equal(await (await agent.fetch(`${url}/redirect?status=308`, { method: 'PUT', body: 'y', headers: { authorization: 'same-origin' } })).text(), 'target PUT y auth=same-origin');
});

test('fetch redirect modes manual and error; too many redirects', async (t) => {
  const { url, agent } = await server(t);
  const m = await agent.fetch(`${url}/redirect`, { redirect: 'manual' });
  assert.equal(m.status, 302);
  assert.equal(m.headers.get('location'), '/target');
  await assert.rejects(agent.fetch(`${url}/redirect`, { redirect: 'error' }), TypeError);
  await assert.rejects(agent.fetch(`${url}/loop`), (err: unknown) => err instanceof TypeError && /redirect count/.test(String((err).cause)));
});

for (const enc of ['gzip', 'deflate', 'br']) {
  test(`fetch decodes ${enc}`, async (t) => {
    const { url, agent } = await server(t);
    const res = await agent.fetch(`${url}/${enc}`);
    assert.equal(res.headers.get('content-encoding'), enc);
    assert.equal(await res.text(), 'compressed '.repeat(100));
  });
}

test('fetch: network errors are TypeError with the ClientError as cause; abort rejects with the reason', async (t) => {
  const { url, agent } = await server(t);
  await assert.rejects(agent.fetch('http://127.0.0.1:1/'), (err: unknown) => {
    assert.ok(err instanceof TypeError);
    assert.equal((err.cause as { code: string }).code, 'HF_CONNECT');
    return true;
  });
  await assert.rejects(agent.fetch(`${url}/`, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  const peer = await scriptedPeer(async (socket, reader) => {
    await reader.next();
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    await reader.next();
  });
  t.after(() => peer.close());
  const ac = new AbortController();
  const res = await agent.fetch(peer.url, { signal: ac.signal });
  // The head is in and the body is not (3 of 10 bytes, the rest never comes): an abort now is
  // an abort during the body.
  const text = res.text();
  ac.abort();
  await assert.rejects(text, { name: 'AbortError' });
});

test('fetch: a truncated body rejects the body read', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    await reader.next();
    socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const res = await agent.fetch(peer.url);
  await assert.rejects(res.text(), (err: unknown) => err instanceof TypeError && (err.cause as { code: string }).code === 'HF_TRUNCATED_BODY');
});
