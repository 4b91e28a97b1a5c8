/** The one hop-by-hop table (RFC 9110 §7.6.1) and what differs between forwarding and storing (RFC 9111 §3.1). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList, connectionNominated, isHopByHop, stripHopByHop } from '../../src/wire/index.ts';

const message = () =>
  new HeaderList([
    ['Connection', 'close, X-Trace, Host'], ['Keep-Alive', 'timeout=5'], ['TE', 'trailers'], ['Trailer', 'x'],
    ['Transfer-Encoding', 'chunked'], ['Upgrade', 'h2c'], ['Proxy-Authorization', 'Basic x'], ['Proxy-Connection', 'keep-alive'],
    ['X-Trace', '1'], ['Host', 'a'], ['Content-Length', '5'], ['ETag', '"e"'],
  ]);

test('forwarding drops the fixed set, Proxy-*, Connection-nominated fields and Content-Length', () => {
  assert.deepEqual(stripHopByHop(message()).entries(), [['Host', 'a'], ['ETag', '"e"']]);
  assert.equal(isHopByHop('content-length'), true);
});

test('storing drops the same fields but keeps Content-Length (the cache frames the stored body by it)', () => {
  assert.deepEqual(stripHopByHop(message(), 'store').entries(), [['Host', 'a'], ['Content-Length', '5'], ['ETag', '"e"']]);
  assert.equal(isHopByHop('content-length', 'store'), false);
  assert.equal(isHopByHop('proxy-authenticate', 'store'), true);
});

test('Connection names fields, but not `close` and never Host', () => {
  assert.deepEqual([...connectionNominated(message())], ['x-trace']);
});

test('the original list is not changed', () => {
  const h = message();
  stripHopByHop(h, 'store');
  assert.equal(h.size, 12);
});
