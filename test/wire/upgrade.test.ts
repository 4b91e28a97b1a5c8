/**
 * Which requests ask for an upgrade and which 101s grant one (RFC 9110 §7.8), and the request
 * parser holding the bytes after an upgrade request until the server decides.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList, NO_BODY, RequestParser, requestedUpgrade, upgradeGranted, type RequestHead } from '../../src/wire/index.ts';

const h = (pairs: Array<[string, string]>): HeaderList => new HeaderList(pairs);

test('requestedUpgrade: Upgrade nominated by Connection, HTTP/1.1, no body; tokens lower-cased without versions', () => {
  assert.deepEqual(requestedUpgrade(h([['Upgrade', 'WebSocket'], ['Connection', 'keep-alive, Upgrade']]), 1, NO_BODY), ['websocket']);
  assert.deepEqual(requestedUpgrade(h([['Upgrade', 'h2c, websocket/13'], ['Connection', 'upgrade']]), 1, NO_BODY), ['h2c', 'websocket']);
  // Not nominated: an intermediary forgot to strip it.
  assert.deepEqual(requestedUpgrade(h([['Upgrade', 'websocket']]), 1, NO_BODY), []);
  // HTTP/1.0: ignored.
  assert.deepEqual(requestedUpgrade(h([['Upgrade', 'websocket'], ['Connection', 'upgrade']]), 0, NO_BODY), []);
  // A body: the bytes after the head could be framed two ways.
  assert.deepEqual(requestedUpgrade(h([['Upgrade', 'websocket'], ['Connection', 'upgrade']]), 1, { kind: 'length', length: 5 }), []);
});

test('upgradeGranted: a 101 naming a protocol that was asked for', () => {
  assert.equal(upgradeGranted(101, h([['Upgrade', 'websocket']]), ['websocket']), 'websocket');
  assert.equal(upgradeGranted(101, h([['Upgrade', 'WebSocket/13']]), ['websocket']), 'websocket');
  assert.equal(upgradeGranted(101, h([['Upgrade', 'h2c']]), ['websocket']), null);
  assert.equal(upgradeGranted(101, h([]), ['websocket']), null);
  assert.equal(upgradeGranted(101, h([['Upgrade', 'websocket']]), []), null);
  assert.equal(upgradeGranted(200, h([['Upgrade', 'websocket']]), ['websocket']), null);
});

test('RequestParser holds the bytes after an upgrade request; releaseUpgrade hands them back as HTTP', () => {
  const heads: RequestHead[] = [];
  const p = new RequestParser({ onHead: (head) => heads.push(head), onBody: () => {}, onComplete: () => {} });
  p.execute(Buffer.from('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.deepEqual(heads.map((x) => x.target), ['/ws']);
  assert.equal(p.upgraded, true);
  p.execute(Buffer.from('more'));
  const held = p.releaseUpgrade();
  assert.equal(held?.toString(), 'GET /next HTTP/1.1\r\nHost: x\r\n\r\nmore');
  assert.equal(p.upgraded, false);
  p.execute(held.subarray(0, held.length - 4));
  assert.deepEqual(heads.map((x) => x.target), ['/ws', '/next']);
});
