/**
 * The upgrade hook: `ws`'s `handleUpgrade` runs on holdfast/server unchanged, the socket leaves the
 * HTTP lifecycle, and a request whose upgrade nobody takes is answered as HTTP — including the bytes
 * that follow it, which are then the next request, never another protocol.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { ServerError, type Server } from '../../src/server/index.ts';
import { RawClient, startServer } from './helpers.ts';

interface Harness {
  server: Server;
  wss: WebSocketServer;
  url: string;
  hookCalls: number;
}

/** A server whose `/ws` upgrades go to a `ws` echo server; everything else gets `plain <path>`. */
async function echoServer(t: Parameters<typeof startServer>[0]): Promise<Harness> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 32 * 1024 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      if (text.startsWith('close:')) ws.close(Number(text.slice(6)), 'server says bye');
      else ws.send(data, { binary: isBinary });
    });
  });
  const h: Harness = { server: null as unknown as Server, wss, url: '', hookCalls: 0 };
  h.server = await startServer(t, {
    handler: (req, res) => void res.end(`plain ${req.target}`),
    upgrade(req, socket, head) {
      h.hookCalls++;
      if (req.url !== '/ws') return false;
      wss.handleUpgrade(req as unknown as Parameters<WebSocketServer['handleUpgrade']>[0], socket, head, (ws) => wss.emit('connection', ws, req));
      return true;
    },
  });
  h.url = `ws://127.0.0.1:${h.server.port}/ws`;
  t.after(() => wss.close());
  return h;
}

async function open(t: Parameters<typeof startServer>[0], url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { maxPayload: 32 * 1024 * 1024 });
  t.after(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data, isBinary) => resolve({ data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]), isBinary }));
    ws.once('error', reject);
  });
}

test('ws: text and binary messages echo through the upgrade hook', async (t) => {
  const h = await echoServer(t);
  const ws = await open(t, h.url);
  ws.send('hello');
  const text = await nextMessage(ws);
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString(), 'hello');
  const bytes = Buffer.from([0, 1, 2, 255, 254]);
  ws.send(bytes);
  const bin = await nextMessage(ws);
  assert.equal(bin.isBinary, true);
  assert.deepEqual(bin.data, bytes);
  assert.equal(h.server.connectionStates()['upgraded'], 1);
});

test('ws: a 16 MB message goes both ways with backpressure', async (t) => {
  const h = await echoServer(t);
  const ws = await open(t, h.url);
  const big = Buffer.alloc(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
  ws.send(big);
  const back = await nextMessage(ws);
  assert.equal(back.data.length, big.length);
  assert.ok(back.data.equals(big));
});

test('ws: ping is answered with pong', async (t) => {
  const h = await echoServer(t);
  const ws = await open(t, h.url);
  ws.ping(Buffer.from('are you there'));
  const [payload] = (await once(ws, 'pong')) as [Buffer];
  assert.equal(payload.toString(), 'are you there');
});

test('ws: close codes travel both ways', async (t) => {
  const h = await echoServer(t);
  const a = await open(t, h.url);
  a.send('close:4002');
  const [code, reason] = (await once(a, 'close')) as [number, Buffer];
  assert.equal(code, 4002);
  assert.equal(reason.toString(), 'server says bye');

  const serverSide = once(h.wss, 'connection') as Promise<[WebSocket]>;
  const b = await open(t, h.url);
  const [sws] = await serverSide;
  const seen = once(sws, 'close') as Promise<[number, Buffer]>;
  b.close(4001, 'client says bye');
  const [scode, sreason] = await seen;
  assert.equal(scode, 4001);
  assert.equal(sreason.toString(), 'client says bye');
});

test('ws: an abrupt close reaches the application and frees the connection', async (t) => {
  const h = await echoServer(t);
  const serverSide = once(h.wss, 'connection') as Promise<[WebSocket]>;
  const ws = await open(t, h.url);
  const [sws] = await serverSide;
  const seen = once(sws, 'close') as Promise<[number]>;
  ws.terminate();
  const [code] = await seen;
  assert.equal(code, 1006);
  while (h.server.connectionCount > 0) await new Promise((resolve) => setImmediate(resolve));
});

test('bytes sent with the upgrade request reach the new protocol (head)', async (t) => {
  const h = await echoServer(t);
  const c = new RawClient(h.server.port);
  t.after(() => c.destroy());
  await c.connected;
  // A masked text frame "hi" in the same write as the request: it arrives with the head.
  const mask = [1, 2, 3, 4];
  const frame = Buffer.from([0x81, 0x82, ...mask, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);
  c.write(Buffer.concat([Buffer.from(
    'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n', 'latin1'), frame]));
  // The 101, then the echoed unmasked frame 0x81 0x02 "hi".
  assert.ok(await c.waitFor((d) => d.includes(Buffer.from([0x81, 0x02, 0x68, 0x69]))));
  assert.match(c.data.toString('latin1'), /^HTTP\/1\.1 101 /);
});

test('a declined upgrade is answered as HTTP, and the bytes after it are the next request', async (t) => {
  const h = await echoServer(t);
  const c = new RawClient(h.server.port);
  t.after(() => c.destroy());
  c.write('GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
  const rs = await c.responses(['GET', 'GET']);
  assert.equal(rs.length, 2);
  assert.equal(rs[0]!.body.toString(), 'plain /other');
  assert.equal(rs[1]!.body.toString(), 'plain /second');
  assert.equal(h.hookCalls, 1);
});

test('without a hook, an upgrade request is a plain request and what follows is HTTP', async (t) => {
  const server = await startServer(t, { handler: (req, res) => void res.end(`plain ${req.target}`) });
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
  const rs = await c.responses(['GET', 'GET']);
  assert.deepEqual(rs.map((r) => r.body.toString()), ['plain /ws', 'plain /second']);
});

test('an upgrade request with a body is never offered to the hook (no second framing for its bytes)', async (t) => {
  const h = await echoServer(t);
  const c = new RawClient(h.server.port);
  t.after(() => c.destroy());
  c.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n\r\nhelloGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
  const rs = await c.responses(['GET', 'GET']);
  assert.deepEqual(rs.map((r) => r.body.toString()), ['plain /ws', 'plain /second']);
  assert.equal(h.hookCalls, 0);
});

test('graceful shutdown counts an upgraded connection as busy and destroys it at the deadline', async (t) => {
  const h = await echoServer(t);
  const ws = await open(t, h.url);
  const closed = once(ws, 'close') as Promise<[number]>;
  let done = false;
  const closing = h.server.close({ timeout: 300 }).then(() => { done = true; });
  // The upgraded connection is not idle: shutdown leaves it to its owner until the deadline.
  ws.send('still here');
  const echo = await nextMessage(ws);
  assert.equal(echo.data.toString(), 'still here');
  assert.equal(done, false);
  await closing;
  const [code] = await closed;
  assert.equal(code, 1006);
  assert.equal(h.server.connectionCount, 0);
});

test('res.switchProtocols: a handler may switch after awaiting something (as a proxy does), with the early bytes as head', async (t) => {
  let gotHead = '';
  const server = await startServer(t, {
    handler: async (req, res) => {
      if (req.header('upgrade') === undefined) return void res.end(`plain ${req.target}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const { socket, head } = res.switchProtocols({ Upgrade: 'x-test' });
      gotHead = head.toString();
      socket.end(`tunnel got ${gotHead}`);
    },
  });
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\nearly bytes');
  const ending = await c.ended;
  const text = ending.data.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(text, /\r\nUpgrade: x-test\r\n/i);
  assert.match(text, /\r\nConnection: Upgrade\r\n\r\ntunnel got early bytes$/);
  assert.equal(gotHead, 'early bytes');
});

test('a handler that answers an upgrade request after a while: the bytes sent meanwhile are the next request', async (t) => {
  const server = await startServer(t, {
    handler: async (req, res) => {
      if (req.header('upgrade') !== undefined) await new Promise((resolve) => setTimeout(resolve, 20));
      await res.end(`plain ${req.target}`);
    },
  });
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  c.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
  const rs = await c.responses(['GET', 'GET']);
  assert.deepEqual(rs.map((r) => r.body.toString()), ['plain /ws', 'plain /second']);
});

test('res.switchProtocols refuses a request that asked for no upgrade', async (t) => {
  let error: unknown = null;
  const server = await startServer(t, {
    handler: (_req, res) => {
      try {
        res.switchProtocols({ Upgrade: 'websocket' });
      } catch (err) {
        error = err;
      }
      void res.end('still http');
    },
  });
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const [r] = await c.responses(['GET']);
  assert.equal(r!.body.toString(), 'still http');
  assert.ok(error instanceof ServerError && error.code === 'HF_SERVER_NOT_UPGRADABLE', String(error));
});
