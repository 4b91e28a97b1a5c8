/** Body framing (RFC 9112 §6.3) and "message complete" vs "stream ended early". */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  HeaderList, RequestParser, ResponseParser, TruncatedMessageError, WireError,
  requestFraming, responseFraming, responseHasNoBody, parseContentLength,
} from '../../src/wire/index.ts';
import { runRequests, runResponses, codeOf, req, crlf } from './_helpers.ts';

const H = (...pairs: [string, string][]) => new HeaderList(pairs);

describe('response framing (RFC 9112 §6.3)', () => {
  test('rule 1: HEAD, 1xx, 204, 304 have no body even with Content-Length or TE', () => {
    const cl = H(['Content-Length', '10']);
    const te = H(['Transfer-Encoding', 'chunked']);
    for (const [method, status] of [['HEAD', 200], ['GET', 204], ['GET', 304], ['GET', 100], ['GET', 199]] as const) {
      assert.equal(responseHasNoBody(method, status), true);
      assert.deepEqual(responseFraming(cl, method, status), { kind: 'none' });
      assert.deepEqual(responseFraming(te, method, status), { kind: 'none' });
    }
    assert.equal(responseHasNoBody('GET', 200), false);
    assert.equal(responseHasNoBody('GET', 205), false);
  });

  test('rule 1 on the wire: the bytes after a HEAD/204/304 head are the next response', () => {
    for (const [method, status] of [['HEAD', 200], ['GET', 204], ['GET', 304]] as const) {
      const r = runResponses([method, 'GET'], `HTTP/1.1 ${status} X\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`);
      assert.equal(codeOf(r), 'OK');
      assert.deepEqual(r.messages.map((m) => [m.head.status, m.body.toString(), m.complete]), [[status, '', true], [200, 'ok', true]]);
    }
  });

  test('rule 2: a 2xx to CONNECT is a tunnel, not a body', () => {
    assert.deepEqual(responseFraming(H(['Content-Length', '10']), 'CONNECT', 200), { kind: 'none' });
    const r = runResponses(['CONNECT'], 'HTTP/1.1 200 Connection Established\r\n\r\nTLS');
    assert.equal(r.parser.upgraded, true);
    assert.equal(r.parser.upgradeBuffer!.toString(), 'TLS');
  });

  test('rule 4: Transfer-Encoding whose last coding is chunked → chunked', () => {
    assert.deepEqual(responseFraming(H(['Transfer-Encoding', 'chunked']), 'GET', 200), { kind: 'chunked' });
    const r = runResponses(['GET'], 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    assert.equal(r.messages[0]!.body.toString(), 'abc');
    assert.equal(r.messages[0]!.complete, true);
  });

  test('rule 6: Content-Length → exactly that many bytes', () => {
    assert.deepEqual(responseFraming(H(['Content-Length', '7']), 'GET', 200), { kind: 'length', length: 7 });
    assert.deepEqual(responseFraming(H(['Content-Length', '0']), 'GET', 200), { kind: 'none' });
  });

  test('rule 8: neither → close-delimited; completes only at finish(), never keep-alive', () => {
    assert.deepEqual(responseFraming(H(), 'GET', 200), { kind: 'close' });
    const r = runResponses(['GET'], ['HTTP/1.1 200 OK\r\n\r\nsome', ' bytes'].map((s) => Buffer.from(s)));
    assert.equal(r.messages[0]!.complete, false);
    assert.equal(r.messages[0]!.head.keepAlive, false);
    r.parser.finish();
    assert.equal(r.messages[0]!.complete, true);
    assert.equal(r.messages[0]!.body.toString(), 'some bytes');
  });

  test('conflicting framing in a response is an error, not a guess', () => {
    assert.throws(() => responseFraming(H(['Content-Length', '3'], ['Transfer-Encoding', 'chunked']), 'GET', 200), { code: 'HF_WIRE_CONFLICTING_FRAMING' });
    assert.throws(() => responseFraming(H(['Content-Length', '3'], ['Content-Length', '4']), 'GET', 200), { code: 'HF_WIRE_INVALID_CONTENT_LENGTH' });
    assert.throws(() => responseFraming(H(['Transfer-Encoding', 'chunked']), 'GET', 200, 0), { code: 'HF_WIRE_INVALID_TRANSFER_ENCODING' });
  });
});

describe('request framing', () => {
  test('requests are never close-delimited: no CL and no TE → no body', () => {
    assert.deepEqual(requestFraming(H(), 1), { kind: 'none' });
    const r = runRequests(req('POST / HTTP/1.1', 'Host: a') + req('GET /next HTTP/1.1', 'Host: a'));
    assert.deepEqual(r.messages.map((m) => [m.head.method, m.body.length, m.complete]), [['POST', 0, true], ['GET', 0, true]]);
  });

  test('Content-Length, chunked, CL 0', () => {
    assert.deepEqual(requestFraming(H(['Content-Length', '5']), 1), { kind: 'length', length: 5 });
    assert.deepEqual(requestFraming(H(['Content-Length', '0']), 1), { kind: 'none' });
    assert.deepEqual(requestFraming(H(['Transfer-Encoding', 'chunked']), 1), { kind: 'chunked' });
  });

  test('transfer-coding parameters are read quote-aware (RFC 9110 §5.6.1, §5.6.6, §10.1.4)', () => {
    // A comma or semicolon inside a quoted parameter value neither splits the list nor the
    // parameters: this is gzip then chunked (an unsupported coding, 501), not a malformed field.
    for (const te of ['gzip;x="a,b", chunked', 'gzip;x="a;b", chunked', 'gzip ; x = "a\\",b" , chunked']) {
      assert.throws(() => requestFraming(H(['Transfer-Encoding', te]), 1), { code: 'HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING' }, te);
    }
    assert.throws(() => responseFraming(H(['Transfer-Encoding', 'gzip;x="a,b", chunked']), 'GET', 200), { code: 'HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING' });
    // Still strict: an unterminated quote, an empty parameter, a parameter on chunked.
    for (const te of ['gzip;x="a, chunked', 'gzip;, chunked', 'chunked;x="a,b"']) {
      assert.throws(() => requestFraming(H(['Transfer-Encoding', te]), 1), { code: 'HF_WIRE_INVALID_TRANSFER_ENCODING' }, te);
    }
  });

  test('parseContentLength accepts identical repeats and rejects the rest', () => {
    assert.equal(parseContentLength(H()), undefined);
    assert.equal(parseContentLength(H(['Content-Length', '42'], ['content-length', '42'])), 42);
    assert.equal(parseContentLength(H(['Content-Length', '42, 42'])), 42);
    assert.throws(() => parseContentLength(H(['Content-Length', '42, 43'])), { code: 'HF_WIRE_INVALID_CONTENT_LENGTH' });
    assert.throws(() => parseContentLength(H(['Content-Length', '4 2'])), { code: 'HF_WIRE_INVALID_CONTENT_LENGTH' });
    assert.throws(() => parseContentLength(H(['Content-Length', '1e3'])), { code: 'HF_WIRE_INVALID_CONTENT_LENGTH' });
  });

  test('a body byte never leaks into the next head: CL body containing a request', () => {
    const inner = req('GET /smuggled HTTP/1.1', 'Host: a');
    const r = runRequests(req('POST / HTTP/1.1', 'Host: a', `Content-Length: ${inner.length}`) + inner);
    assert.equal(r.messages.length, 1);
    assert.equal(r.messages[0]!.body.toString(), inner);
  });
});

describe('message complete vs stream ended early', () => {
  test('finish() when idle is silent', () => {
    const p = new RequestParser({ onHead() {}, onBody() {}, onComplete() {} });
    p.finish();
    p.execute(Buffer.from(req('GET / HTTP/1.1', 'Host: a')));
    p.finish();
  });

  test('inside a head → TruncatedMessageError HF_WIRE_TRUNCATED_HEAD', () => {
    const r = runRequests('GET / HTTP/1.1\r\nHost: a\r\n', { finish: true });
    assert.ok(r.error instanceof TruncatedMessageError);
    assert.equal(r.error.code, 'HF_WIRE_TRUNCATED_HEAD');
    assert.equal(r.error.received, 'GET / HTTP/1.1\r\nHost: a\r\n'.length);
    assert.equal(r.error.expected, null);
    assert.equal(codeOf(runRequests('\r', { finish: true })), 'HF_WIRE_TRUNCATED_HEAD');
  });

  test('inside a Content-Length body → HF_WIRE_TRUNCATED_BODY with received/expected', () => {
    const r = runResponses(['GET'], 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n1234', { finish: true });
    assert.ok(r.error instanceof TruncatedMessageError);
    assert.equal(r.error.code, 'HF_WIRE_TRUNCATED_BODY');
    assert.deepEqual([r.error.received, r.error.expected], [4, 10]);
    assert.equal(r.messages[0]!.complete, false);
    assert.equal(r.parser.bodyBytes, 4);
  });

  test('inside a chunked body → HF_WIRE_TRUNCATED_BODY, expected null, at every point before the end', () => {
    const full = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n';
    const headLen = full.indexOf('\r\n\r\n') + 4;
    for (let cut = headLen; cut < full.length; cut++) {
      const r = runResponses(['GET'], full.slice(0, cut), { finish: true });
      assert.ok(r.error instanceof TruncatedMessageError, `cut ${cut}`);
      assert.equal(r.error.code, 'HF_WIRE_TRUNCATED_BODY');
      assert.equal(r.error.expected, null);
      assert.equal(r.error.received, r.messages[0]!.body.length);
      assert.equal(r.messages[0]!.complete, false);
    }
    const done = runResponses(['GET'], full, { finish: true });
    assert.equal(codeOf(done), 'OK');
    assert.equal(done.messages[0]!.complete, true);
  });

  test('a complete CL response then EOF is not an error', () => {
    const r = runResponses(['GET'], 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', { finish: true });
    assert.equal(codeOf(r), 'OK');
    assert.equal(r.messages[0]!.complete, true);
  });

  test('onComplete comes exactly once, after the last body byte', () => {
    const events: string[] = [];
    const p = new ResponseParser({ onHead() { events.push('head'); }, onBody(c) { events.push(`body:${c}`); }, onComplete() { events.push('complete'); } });
    p.expect('GET');
    p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab'));
    assert.deepEqual(events, ['head', 'body:ab']);
    p.execute(Buffer.from('cd'));
    assert.deepEqual(events, ['head', 'body:ab', 'body:cd', 'complete']);
  });

  test('TruncatedMessageError is a WireError', () => {
    const r = runRequests(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 2'), { finish: true });
    assert.ok(r.error instanceof WireError);
  });
});

describe('request smuggling shapes end where they should', () => {
  test('CL.TE and TE.CL are rejected before any body byte is read', () => {
    for (const input of [
      req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 6', 'Transfer-Encoding: chunked') + '0\r\n\r\nG',
      req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 3') + '8\r\nSMUGGLED\r\n0\r\n\r\n',
    ]) {
      assert.equal(codeOf(runRequests(input)), 'HF_WIRE_CONFLICTING_FRAMING');
    }
  });

  test('TE.TE obfuscations are rejected', () => {
    for (const te of ['chunked, identity', 'xchunked', 'chunked\x0b', ' chunked, x', 'chunk']) {
      const code = codeOf(runRequests(crlf('POST / HTTP/1.1', 'Host: a', `Transfer-Encoding: ${te}`, '') + '0\r\n\r\n'));
      assert.notEqual(code, 'OK', te);
    }
  });
});
