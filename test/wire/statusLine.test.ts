/** One response-head serializer: the server's writer and its error answers validate the same way. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serializeFieldLine, serializeResponseHead, serializeStatusLine } from '../../src/wire/index.ts';

test('status line: the standard phrase by default, a given one when valid', () => {
  assert.equal(serializeStatusLine(404), 'HTTP/1.1 404 Not Found\r\n');
  assert.equal(serializeStatusLine(200, 'Fine', 0), 'HTTP/1.0 200 Fine\r\n');
  assert.equal(serializeResponseHead({ status: 200, reason: 'Fine', headers: [['A', '1']] }), 'HTTP/1.1 200 Fine\r\nA: 1\r\n\r\n');
});

test('reason phrases: CR/LF is injection, any other control is invalid', () => {
  assert.throws(() => serializeStatusLine(200, 'OK\r\nSet-Cookie: x'), { code: 'HF_WIRE_HEADER_INJECTION' });
  assert.throws(() => serializeStatusLine(200, 'O\u0001K'), { code: 'HF_WIRE_INVALID_STATUS' });
  assert.throws(() => serializeStatusLine(200, 'O\u0000K'), { code: 'HF_WIRE_INVALID_STATUS' });
  assert.throws(() => serializeStatusLine(99), { code: 'HF_WIRE_INVALID_STATUS' });
});

test('field lines are checked on the way out', () => {
  assert.equal(serializeFieldLine('X-A', 'b c'), 'X-A: b c\r\n');
  assert.throws(() => serializeFieldLine('X A', 'b'), { code: 'HF_WIRE_INVALID_HEADER_NAME' });
  assert.throws(() => serializeFieldLine('X-A', 'b\r\nc: d'), { code: 'HF_WIRE_HEADER_INJECTION' });
});
