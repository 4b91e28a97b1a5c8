/**
 * The parsers take a one-pass path for a whole, well-formed head in one buffer and fall back to
 * the general (line by line) path for anything else. Fed one byte at a time, a head always goes
 * the general way: so whole-buffer and bytewise runs must agree on everything, at every limit
 * boundary and for every single-byte corruption. Also covers the lazily materialised HeaderList.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList } from '../../src/wire/index.ts';
import { runRequests, runResponses, summary, bytewise, codeOf, req, crlf } from './_helpers.ts';
import type { ParserLimits } from '../../src/wire/index.ts';

function sameRequest(raw: string, limits?: Partial<ParserLimits>): string {
  const bytes = Buffer.from(raw, 'latin1');
  const whole = runRequests(bytes, { finish: true, limits });
  assert.deepEqual(summary(runRequests(bytewise(bytes), { finish: true, limits })), summary(whole), JSON.stringify(raw));
  return codeOf(whole);
}

function sameResponse(raw: string, limits?: Partial<ParserLimits>): string {
  const bytes = Buffer.from(raw, 'latin1');
  const whole = runResponses(['GET', 'GET'], bytes, { finish: true, limits });
  assert.deepEqual(summary(runResponses(['GET', 'GET'], bytewise(bytes), { finish: true, limits })), summary(whole), JSON.stringify(raw));
  return codeOf(whole);
}

const BASE_REQUEST = req('GET /a?b=c HTTP/1.1', 'Host: example.com', 'User-Agent: t/1', 'Accept: */*', 'Content-Length: 3', 'X-Thing:  v  ') + 'abc';

test('every single-byte corruption of a request parses the same whole and bytewise', () => {
  const special = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x5f, 0x7f, 0x80, 0xff, 0x41, 0x2d];
  for (let i = 0; i < BASE_REQUEST.length; i++) {
    for (const b of special) sameRequest(BASE_REQUEST.slice(0, i) + String.fromCharCode(b) + BASE_REQUEST.slice(i + 1));
    // Deleting or doubling a byte shifts line ends and colons.
    sameRequest(BASE_REQUEST.slice(0, i) + BASE_REQUEST.slice(i + 1));
    sameRequest(BASE_REQUEST.slice(0, i) + BASE_REQUEST[i]! + BASE_REQUEST.slice(i));
  }
});

test('every single-byte corruption of a response parses the same whole and bytewise', () => {
  const raw = `${crlf('HTTP/1.1 200 OK', 'Date: x', 'Content-Type: text/plain', 'Content-Length: 2')}\r\nhi${crlf('HTTP/1.1 204 No Content', 'Server: s')}\r\n`;
  const special = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x7f, 0x80, 0x41];
  for (let i = 0; i < raw.length; i++) {
    for (const b of special) sameResponse(raw.slice(0, i) + String.fromCharCode(b) + raw.slice(i + 1));
    sameResponse(raw.slice(0, i) + raw.slice(i + 1));
  }
});

test('limits hold exactly at their boundaries on both paths', () => {
  const fields = ['Host: h', 'A: 1', 'B: 2', 'C: 3'];
  const raw = req('GET /x HTTP/1.1', ...fields);
  assert.equal(sameRequest(raw, { maxHeaderCount: 4 }), 'OK');
  assert.equal(sameRequest(raw, { maxHeaderCount: 3 }), 'HF_WIRE_TOO_MANY_HEADERS');
  assert.equal(sameRequest(raw, { maxHeaderSize: raw.length }), 'OK');
  assert.equal(sameRequest(raw, { maxHeaderSize: raw.length - 1 }), 'HF_WIRE_HEADERS_TOO_LARGE');
  assert.equal(sameRequest(raw, { maxStartLineLength: 'GET /x HTTP/1.1'.length }), 'OK');
  assert.equal(sameRequest(raw, { maxStartLineLength: 'GET /x HTTP/1.1'.length - 1 }), 'HF_WIRE_URI_TOO_LONG');
  const res = `${crlf('HTTP/1.1 200 OK', 'A: 1', 'Content-Length: 0')}\r\n`;
  assert.equal(sameResponse(res, { maxHeaderCount: 2 }), 'OK');
  assert.equal(sameResponse(res, { maxHeaderCount: 1 }), 'HF_WIRE_TOO_MANY_HEADERS');
  assert.equal(sameResponse(res, { maxHeaderSize: res.length }), 'OK');
  assert.equal(sameResponse(res, { maxHeaderSize: res.length - 1 }), 'HF_WIRE_HEADERS_TOO_LARGE');
  // A body that contains CRLFCRLF beyond the size limit must not matter.
  assert.equal(sameRequest(`${raw.slice(0, -2)}X: ${'y'.repeat(100)}\r\n\r\n`, { maxHeaderSize: 64 }), 'HF_WIRE_HEADERS_TOO_LARGE');
});

test('responses with bare LF line ends end where the general path says', () => {
  const cases = [
    'HTTP/1.1 200 OK\nContent-Length: 4\n\nab\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 6\n\nab\r\n\r\n',
    'HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 0\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n',
    'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n',
  ];
  for (const raw of cases) assert.equal(sameResponse(raw), 'OK', JSON.stringify(raw));
  assert.equal(sameRequest('GET / HTTP/1.1\r\nHost: h\n\r\n'), 'HF_WIRE_BARE_LF');
});

test('common names are matched case-insensitively and exactly', () => {
  const run = runRequests(req('POST / HTTP/1.1', 'HOST: h', 'content-LENGTH: 2', 'Content-Lengtx: 9', 'X-Custom-Header: c', 'Sec-Fetch-Mode: m') + 'ok');
  assert.equal(codeOf(run), 'OK');
  const h = run.messages[0]!.head.headers;
  assert.deepEqual(h.toObject(), { 'host': 'h', 'content-length': '2', 'content-lengtx': '9', 'x-custom-header': 'c', 'sec-fetch-mode': 'm' });
  assert.deepEqual(run.messages[0]!.head.framing, { kind: 'length', length: 2 });
  assert.equal(run.messages[0]!.body.toString(), 'ok');
  // Near misses of "transfer-encoding" are ordinary fields, not framing.
  assert.equal(codeOf(runRequests(req('GET / HTTP/1.1', 'Host: h', 'Transfer_Encoding: chunked'))), 'OK');
  assert.equal(codeOf(runRequests(req('GET / HTTP/1.1', 'Host: h', 'TRANSFER-ENCODING: chunked', 'Content-Length: 1'))), 'HF_WIRE_CONFLICTING_FRAMING');
});

test('a parsed HeaderList behaves like one built line by line', () => {
  const lines: [string, string][] = [['Host', 'h'], ['Set-Cookie', 'a=1'], ['X-A', ''], ['set-cookie', 'b=2'], ['Accept', 'x, y']];
  const parse = (): HeaderList => {
    const run = runRequests(req('GET / HTTP/1.1', ...lines.map(([n, v]) => `${n}: ${v}`)));
    assert.equal(codeOf(run), 'OK');
    return run.messages[0]!.head.headers;
  };
  const built = (): HeaderList => {
    const h = new HeaderList();
    for (const [n, v] of lines) h.push(n, n.toLowerCase(), v);
    return h;
  };
  const reads: ((h: HeaderList) => unknown)[] = [
    (h) => h.size, (h) => h.get('set-cookie'), (h) => h.getAll('SET-COOKIE'), (h) => h.has('x-a'), (h) => h.count('Set-Cookie'),
    (h) => h.get('missing'), (h) => h.entries(), (h) => h.toRaw(), (h) => [...h], (h) => h.toObject(), (h) => h.clone().entries(),
    (h) => new HeaderList(h).toRaw(), (h) => h.toRawBuffers().map((b) => b.toString('latin1')),
  ];
  for (const read of reads) assert.deepEqual(read(parse()), read(built()));
  const edits: ((h: HeaderList) => void)[] = [
    (h) => h.push('Via', 'via', '1.1 p'), (h) => h.append('X-B', ' b '), (h) => h.set('Accept', 'z'), (h) => h.delete('set-cookie'),
  ];
  for (const edit of edits) {
    const a = parse();
    const b = built();
    // Read one value first, so edits meet a list that is still lazy and one that is not.
    a.get('host');
    edit(a);
    edit(b);
    assert.deepEqual(a.toRaw(), b.toRaw());
    assert.deepEqual(a.toRawBuffers(), b.toRawBuffers());
    assert.equal(a.size, b.size);
    assert.deepEqual(a.toObject(), b.toObject());
  }
  // A clone is independent of the original.
  const orig = parse();
  const copy = orig.clone();
  copy.set('Host', 'other');
  assert.equal(orig.get('host'), 'h');
  assert.equal(copy.get('host'), 'other');
});
