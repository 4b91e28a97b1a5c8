/**
 * The client connection's state machine: its state has no writer but its own transitions, a
 * transition from the wrong state fails loudly at its cause, and a connection closed between
 * checkout and write keeps the reason it was closed for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { ClientConnection, type CloseReason, type ConnectionOwner } from '../../src/client/connection.ts';
import { Agent, PoolClosedError } from '../../src/client/index.ts';
import { scriptedPeer, ok } from '../support.ts';

const owner: ConnectionOwner = { release() {}, closed() {} };
const settings = { keepAliveMargin: 1000, idleTimeout: 4000, maxIdleTimeout: 60_000 };

test('the connection state is read-only from outside: only transitions change it', () => {
  const conn = new ClientConnection('http://127.0.0.1:1', owner, settings);
  assert.equal(conn.state, 'connecting');
  assert.throws(() => {
    // @ts-expect-error `state` has a getter only.
    conn.state = 'idle';
  }, TypeError);
  assert.equal(conn.state, 'connecting');
});

test('a transition from the wrong state throws an assertion error instead of going on', () => {
  const conn = new ClientConnection('http://127.0.0.1:1', owner, settings);
  // Only an idle connection can be checked out of the pool.
  assert.throws(() => conn.reserve(), { code: 'ERR_ASSERTION' });
  assert.equal(conn.state, 'connecting');
  // Putting back a connection that is not reserved changes nothing.
  assert.equal(conn.unreserve(), false);
  assert.equal(conn.state, 'connecting');
  conn.close('destroyed');
  assert.equal(conn.state, 'closed');
  assert.equal(conn.closeReason, 'destroyed');
});

test('an agent destroyed in the tick a request took a reused connection: the request fails, the close keeps its reason', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      socket.write(ok());
    }
  });
  // Without the liveness turn, the checkout and the write are separated by microtasks only.
  const agent = new Agent({ livenessCheck: false });
  t.after(() => peer.close());
  await (await agent.request(`${peer.url}/a`)).body.text();
  const reasons: CloseReason[] = [];
  const ch = diagnostics.channel('holdfast:client:connection:closed');
  const onClosed = (m: unknown): void => { reasons.push((m as { reason: CloseReason }).reason); };
  ch.subscribe(onClosed);
  t.after(() => ch.unsubscribe(onClosed));
  const pending = agent.request(`${peer.url}/b`);
  const destroyed = agent.destroy();
  // Nothing was written: the safe retry takes it, and finds the pool closed.
  await assert.rejects(pending, PoolClosedError);
  await destroyed;
  assert.deepEqual(reasons, ['destroyed']);
});
