/**
 * `agent.upgrade()`: the 101 hands the socket (and the bytes behind the 101) to the caller; a
 * refusal is an ordinary response with its body; a 101 for another protocol is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { Agent, ResponseParseError } from '../../src/client/index.ts';
import { serve, type Server } from '../../src/server/index.ts';

const KEY = { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };

/** A masked client text frame (payload < 126 bytes). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([9, 8, 7, 6]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

async function wsEcho(t: import('node:test').TestContext): Promise<Server> {
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
  const server = await serve({
    hostname: '127.0.0.1',
    handler: (_req, res) => void res.writeHead(426, { 'content-type': 'text/plain' }).end('upgrade elsewhere'),
    upgrade(req, socket, head) {
      if (req.url !== '/ws') return false;
      wss.handleUpgrade(req as unknown as Parameters<WebSocketServer['handleUpgrade']>[0], socket, head, (ws) => wss.emit('connection', ws, req));
      return true;
    },
  });
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await server.close({ timeout: 200 });
  });
  return server;
}

test('agent.upgrade: a 101 hands over the socket, which then speaks the new protocol', async (t) => {
  const server = await wsEcho(t);
  const agent = new Agent();
  t.after(() => agent.destroy());
  const r = await agent.upgrade(`${server.url}/ws`, { protocol: 'websocket', headers: KEY });
  assert.equal(r.upgraded, true);
  if (!r.upgraded) return;
  assert.equal(r.response.status, 101);
  assert.equal(r.response.headers.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  // The pool no longer counts the switched connection.
  assert.equal(agent.pool(server.url)?.size, 0);
  const got: Buffer[] = [];
  r.socket.on('data', (c: Buffer) => got.push(c));
  r.socket.write(clientFrame('over holdfast'));
  while (Buffer.concat(got).length < 2 + 'over holdfast'.length) await once(r.socket, 'data');
  const frame = Buffer.concat([r.head, ...got]);
  assert.equal(frame[0], 0x81);
  assert.equal(frame.subarray(2).toString(), 'over holdfast');
  r.socket.destroy();
});

test('agent.upgrade: a refusal is the server\'s own response, body included', async (t) => {
  const server = await wsEcho(t);
  const agent = new Agent();
  t.after(() => agent.destroy());
  const r = await agent.upgrade(`${server.url}/elsewhere`, { protocol: 'websocket', headers: KEY });
  assert.equal(r.upgraded, false);
  assert.equal(r.response.status, 426);
  assert.equal(await r.response.body.text(), 'upgrade elsewhere');
});

test('agent.upgrade: a 101 to a protocol nobody asked for is an error, not a tunnel', async (t) => {
  const raw = net.createServer((s) => {
    s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'));
    s.on('error', () => {});
  });
  raw.listen(0, '127.0.0.1');
  await once(raw, 'listening');
  t.after(() => raw.close());
  const agent = new Agent();
  t.after(() => agent.destroy());
  const port = (raw.address() as net.AddressInfo).port;
  await assert.rejects(agent.upgrade(`http://127.0.0.1:${port}/`, { protocol: 'websocket', headers: KEY }), ResponseParseError);
});
