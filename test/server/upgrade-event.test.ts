/**
 * Libraries built on `ws` (`@hono/node-ws`, `ws`'s own `{ server }` option) listen for node:http's
 * `'upgrade'` event on the server they are given. An EventEmitter standing in for that server,
 * fed by the upgrade hook, is all they need on holdfast/server: the README's recipe, run here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Server } from '../../src/server/index.ts';
import { startServer } from './helpers.ts';

/** The README's recipe: `upgrades` is what the library gets where it expects a node:http server. */
async function bridgedServer(t: import('node:test').TestContext): Promise<{ server: Server; upgrades: EventEmitter }> {
  const upgrades = new EventEmitter();
  const server = await startServer(t, {
    handler: (req, res) => void res.end(`plain ${req.target}`),
    // `emit` is false when nobody listens: the request is then declined and answered as HTTP.
    upgrade: (req, socket, head) => upgrades.emit('upgrade', req, socket, head),
  });
  return { server, upgrades };
}

/**
 * What `@hono/node-ws`'s `injectWebSocket(server)` does: an async `'upgrade'` listener that asks
 * the app first, keeps per-request state keyed by the request object, then hands the socket to a
 * `noServer` WebSocketServer.
 */
function injectLikeHonoNodeWs(server: http.Server, wss: WebSocketServer): void {
  const accepted = new WeakMap<http.IncomingMessage, string>();
  server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => void (async () => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    // The app's route runs before the upgrade (an await in between, as with app.request()).
    await Promise.resolve();
    if (url.pathname === '/ws') accepted.set(request, url.searchParams.get('room') ?? '');
    const room = accepted.get(request);
    if (room === undefined) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request, room));
  })());
}

async function echo(url: string, t: import('node:test').TestContext, text: string): Promise<string> {
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.send(text);
  const [data] = (await once(ws, 'message')) as [Buffer];
  ws.close(1000);
  await once(ws, 'close');
  return data.toString();
}

test('an async node:http "upgrade" listener with a noServer WebSocketServer runs through the bridge', async (t) => {
  const { server, upgrades } = await bridgedServer(t);
  const wss = new WebSocketServer({ noServer: true });
  t.after(() => wss.close());
  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage, room: string) => {
    ws.on('message', (d) => ws.send(`${room} ${req.headers.host === undefined ? 'no host' : 'host'} ${d.toString()}`));
  });
  injectLikeHonoNodeWs(upgrades as unknown as http.Server, wss);
  assert.equal(await echo(`ws://127.0.0.1:${server.port}/ws?room=blue`, t, 'hi'), 'blue host hi');
  // Refused by the listener itself: its own response, then the connection closes.
  const refused = new WebSocket(`ws://127.0.0.1:${server.port}/other`);
  refused.on('error', () => {});
  const [, res] = (await once(refused, 'unexpected-response')) as [unknown, http.IncomingMessage];
  assert.equal(res.statusCode, 400);
  // Plain requests still reach the handler.
  assert.equal(await (await fetch(`http://127.0.0.1:${server.port}/page`)).text(), 'plain /page');
});

test('ws\'s own WebSocketServer({ server }) attaches to the bridge', async (t) => {
  const { server, upgrades } = await bridgedServer(t);
  const wss = new WebSocketServer({ server: upgrades as unknown as http.Server, path: '/live' });
  t.after(() => wss.close());
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
  assert.equal(await echo(`ws://127.0.0.1:${server.port}/live`, t, 'reload'), 'reload');
});

test('with no listener on the bridge, an upgrade request is declined and answered as HTTP', async (t) => {
  const { server } = await bridgedServer(t);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
  ws.on('error', () => {});
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, http.IncomingMessage];
  assert.equal(res.statusCode, 200);
  res.resume();
});
