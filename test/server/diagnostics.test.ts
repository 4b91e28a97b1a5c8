/**
 * The server's `node:diagnostics_channel` events: a connection is created, its requests start and
 * end (with the status and whether the connection is kept), and it closes once with the reason
 * the server closed it for — for a keep-alive exchange, a `Connection: close`, a client's FIN, and
 * a malformed request (closed as `bad-request` with the WireError it was answered with).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { RawClient, get, startServer } from './helpers.ts';
import type { ServerRequest } from '../../src/server/index.ts';

interface Event { channel: string; message: Record<string, unknown> }

const CHANNELS = [
  'holdfast:server:connection:created',
  'holdfast:server:request:start',
  'holdfast:server:request:end',
  'holdfast:server:connection:closed',
];

/** Records the events of connections to `port` only (other tests' servers run in this process too). */
function record(t: TestContext, port: number): { events: Event[]; closed: (id: number) => Promise<Event> } {
  const events: Event[] = [];
  const ours = new Set<unknown>();
  const waiters = new Map<unknown, (e: Event) => void>();
  for (const name of CHANNELS) {
    const fn = (m: unknown): void => {
      const message = m as Record<string, unknown>;
      if (name === 'holdfast:server:connection:created' && (message['socket'] as Socket).localPort === port) ours.add(message['connectionId']);
      if (!ours.has(message['connectionId'])) return;
      const e = { channel: name.slice('holdfast:server:'.length), message };
      events.push(e);
      if (name === 'holdfast:server:connection:closed') waiters.get(message['connectionId'])?.(e);
    };
    diagnostics.subscribe(name, fn);
    t.after(() => diagnostics.unsubscribe(name, fn));
  }
  const closed = (id: number): Promise<Event> => {
    const done = events.find((e) => e.channel === 'connection:closed' && e.message['connectionId'] === id);
    return done !== undefined ? Promise.resolve(done) : new Promise((resolve) => waiters.set(id, resolve));
  };
  return { events, closed };
}

function summary(events: Event[], id: unknown): string[] {
  return events.filter((e) => e.message['connectionId'] === id).map((e) => {
    const m = e.message;
    if (e.channel === 'request:start') return `start ${(m['request'] as ServerRequest).target}`;
    if (e.channel === 'request:end') return `end ${(m['request'] as ServerRequest).target} ${String(m['status'])} keepAlive=${String(m['keepAlive'])}`;
    if (e.channel === 'connection:closed') return `closed ${String(m['reason'])} requests=${String(m['requestCount'])}`;
    return e.channel;
  });
}

test('keep-alive requests, then Connection: close: start/end per request, one close with its reason', async (t) => {
  const server = await startServer(t, { handler: (req, res) => void res.end(`hi ${req.target}`) });
  const { events, closed } = record(t, server.port);
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write(get('/a'));
  assert.equal((await c.responses(['GET'])).length, 1);
  c.write(get('/b', 'Connection: close\r\n'));
  await c.ended;
  const id = events[0]?.message['connectionId'];
  assert.equal(typeof id, 'number');
  await closed(id as number);
  assert.deepEqual(summary(events, id), [
    'connection:created',
    'start /a',
    'end /a 200 keepAlive=true',
    'start /b',
    'end /b 200 keepAlive=false',
    'closed connection-close requests=2',
  ]);
});

test("the client's FIN on an idle connection closes it as peer-closed", async (t) => {
  const server = await startServer(t, { handler: (_req, res) => void res.end('ok') });
  const { events, closed } = record(t, server.port);
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write(get('/'));
  assert.equal((await c.responses(['GET'])).length, 1);
  c.socket.end();
  await c.ended;
  const id = events[0]?.message['connectionId'] as number;
  const e = await closed(id);
  assert.equal(e.message['reason'], 'peer-closed');
  assert.equal(e.message['requestCount'], 1);
});

test('a malformed request: no request events, closed as bad-request with the WireError', async (t) => {
  const server = await startServer(t, { handler: (_req, res) => void res.end('ok') });
  const { events, closed } = record(t, server.port);
  const c = new RawClient(server.port);
  t.after(() => c.destroy());
  c.write('GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n');
  const ending = await c.ended;
  assert.match(ending.data.toString('latin1'), /^HTTP\/1\.1 400 /);
  const id = events[0]?.message['connectionId'] as number;
  const e = await closed(id);
  assert.deepEqual(summary(events, id), ['connection:created', 'closed bad-request requests=0']);
  const error = e.message['error'] as { code: string; status: number };
  assert.equal(error.status, 400);
  assert.match(error.code, /^HF_WIRE_/);
});
