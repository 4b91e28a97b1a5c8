/**
 * Property tests (fast-check): any split parses identically; the parsers never throw anything
 * but WireError; serialize → parse round trips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ChunkedDecoder, HeaderList, RequestParser, ResponseParser, WireError, encodeChunk, encodeLastChunk,
  serializeRequestHead, serializeResponseHead, parseAuthority, requestUrl,
} from '../../src/wire/index.ts';
import { stream, mutated, token, fieldName, fieldValue, target, method, bodyBytes } from './_arbitraries.ts';
import { runRequests, runResponses, summary, splitAt, codeOf } from './_helpers.ts';

const RUNS = 400;
const cuts = fc.array(fc.nat(), { maxLength: 12 });

test('any split of a request stream parses identically (valid and mutated input)', () => {
  fc.assert(fc.property(fc.oneof(stream, mutated), cuts, (raw, points) => {
    const bytes = Buffer.from(raw, 'latin1');
    const whole = summary(runRequests(bytes, { finish: true }));
    const split = summary(runRequests(splitAt(bytes, points.map((p) => p % (bytes.length + 1))), { finish: true }));
    assert.deepEqual(split, whole);
  }), { numRuns: RUNS, seed: 1 });
});

test('one byte at a time parses identically', () => {
  fc.assert(fc.property(stream, (raw) => {
    const bytes = Buffer.from(raw, 'latin1');
    const whole = summary(runRequests(bytes, { finish: true }));
    const bytewise = summary(runRequests([...bytes].map((b) => Buffer.from([b])), { finish: true }));
    assert.deepEqual(bytewise, whole);
  }), { numRuns: 100, seed: 2 });
});

const responseHead = fc.record({
  status: fc.oneof(fc.constantFrom(200, 204, 304, 404, 500, 206), fc.integer({ min: 200, max: 599 })),
  reason: fc.oneof(fc.constant(undefined), fc.stringMatching(/^[ -~]{0,12}$/)),
  fields: fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 6 }),
  body: fc.array(bodyBytes, { maxLength: 3 }),
  framing: fc.constantFrom('length', 'chunked', 'close'),
  informational: fc.boolean(),
});

function renderResponse(r: typeof responseHead extends fc.Arbitrary<infer T> ? T : never): { bytes: Buffer; last: boolean } {
  const headers = new HeaderList(r.fields.map(([n, v]) => [n, v.trim()] as [string, string]));
  const body = Buffer.from(r.body.join(''), 'latin1');
  const noBody = r.status === 204 || r.status === 304;
  const parts: Buffer[] = [];
  if (r.informational) parts.push(Buffer.from('HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n'));
  if (r.framing === 'length') headers.append('Content-Length', String(noBody ? 0 : body.length));
  if (r.framing === 'chunked') headers.append('Transfer-Encoding', 'chunked');
  parts.push(Buffer.from(serializeResponseHead({ status: r.status, reason: r.reason, headers }), 'latin1'));
  if (!noBody) {
    if (r.framing === 'chunked') {
      for (const piece of r.body) parts.push(...encodeChunk(Buffer.from(piece, 'latin1')));
      parts.push(encodeLastChunk(new HeaderList([['X-Trailer', 'done']])));
    } else {
      parts.push(body);
    }
  }
  return { bytes: Buffer.concat(parts), last: r.framing === 'close' && !noBody };
}

test('any split of a response stream parses identically, and bodies round-trip', () => {
  fc.assert(fc.property(fc.array(responseHead, { minLength: 1, maxLength: 3 }), cuts, (responses, points) => {
    // A close-delimited response can only be the last one on a connection.
    const list = responses.slice(0, responses.findIndex((r) => renderResponse(r).last) + 1 || responses.length);
    const bytes = Buffer.concat(list.map((r) => renderResponse(r).bytes));
    const methods = list.map(() => 'GET');
    const whole = runResponses(methods, bytes, { finish: true });
    assert.equal(whole.error, undefined, String(whole.error));
    assert.equal(whole.messages.length, list.length);
    list.forEach((r, k) => {
      const m = whole.messages[k]!;
      assert.equal(m.head.status, r.status);
      assert.equal(m.complete, true);
      const expected = r.status === 204 || r.status === 304 ? '' : r.body.join('');
      assert.equal(m.body.toString('latin1'), expected);
    });
    const split = runResponses(methods, splitAt(bytes, points.map((p) => p % (bytes.length + 1))), { finish: true });
    assert.deepEqual(summary(split), summary(whole));
  }), { numRuns: RUNS, seed: 3 });
});

/** Feeds arbitrary slices to a parser; anything thrown must be a WireError. */
function neverThrowsForeign(make: () => RequestParser | ResponseParser, bytes: Uint8Array, points: number[]): void {
  const p = make();
  try {
    for (const chunk of splitAt(Buffer.from(bytes), points.map((x) => x % (bytes.length + 1)))) p.execute(chunk);
    p.finish();
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
  }
}

const noop = { onHead() {}, onBody() {}, onComplete() {}, onInformational() {} };
const makeRequest = () => new RequestParser(noop, { maxHeaderSize: 2048, maxStartLineLength: 512, maxHeaderCount: 20 });
const makeResponse = () => {
  const p = new ResponseParser(noop, { maxHeaderSize: 2048 });
  for (const m of ['GET', 'HEAD', 'POST', 'CONNECT', 'GET']) p.expect(m);
  return p;
};

const httpish = fc.array(fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('GET / HTTP/1.1\r\n', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.0 101 X\r\n', 'Host: a\r\n', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', '\r\n', '0\r\n', '5;a="b"\r\n', 'abcde', 'ffffffffffffffffff\r\n', ' folded\r\n', ':\r\n') },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a).toString('latin1')) },
), { maxLength: 16 }).map((parts) => Buffer.from(parts.join(''), 'latin1'));

test('the request parser never throws anything but WireError (arbitrary bytes, HTTP-ish soup, mutations)', () => {
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), httpish, mutated.map((s) => Buffer.from(s, 'latin1'))), cuts, (bytes, points) => {
    neverThrowsForeign(makeRequest, bytes, points);
  }), { numRuns: 2000, seed: 4 });
});

test('the response parser never throws anything but WireError', () => {
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), httpish), cuts, (bytes, points) => {
    neverThrowsForeign(makeResponse, bytes, points);
  }), { numRuns: 2000, seed: 5 });
});

test('the chunked decoder never throws anything but WireError', () => {
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), httpish), fc.boolean(), (bytes, lenient) => {
    const d = new ChunkedDecoder({ maxExtensionLength: 64, maxTrailerSize: 256, allowBareLF: lenient });
    try {
      d.decode(Buffer.from(bytes), 0, () => {});
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
    }
  }), { numRuns: 2000, seed: 6 });
});

test('serializeRequestHead → RequestParser round trip', () => {
  fc.assert(fc.property(method, target, fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 8 }), fc.constantFrom(0, 1), (m, t, fields, minor) => {
    const headers: [string, string][] = [['Host', 'example.com'], ...fields.map(([n, v]): [string, string] => [n, v.replace(/^[\t ]+|[\t ]+$/g, '')])];
    const raw = serializeRequestHead({ method: m, target: t, headers, versionMinor: minor });
    const r = runRequests(raw);
    assert.equal(r.error, undefined, String(r.error));
    const h = r.messages[0]!.head;
    assert.deepEqual([h.method, h.target, h.versionMinor, h.headers.entries()], [m, t, minor, headers]);
  }), { numRuns: RUNS, seed: 7 });
});

test('serializers refuse every value a parser would split into two lines', () => {
  fc.assert(fc.property(token(1, 8), fc.string({ maxLength: 10 }), fc.constantFrom('\r', '\n', '\r\n'), fc.string({ maxLength: 10 }), (name, a, sep, b) => {
    assert.throws(() => serializeRequestHead({ method: 'GET', target: '/', headers: [[name, `${a}${sep}${b}`]] }), (e: unknown) => e instanceof WireError);
    assert.throws(() => serializeResponseHead({ status: 200, headers: [[name, `${a}${sep}${b}`]] }), (e: unknown) => e instanceof WireError);
  }), { numRuns: RUNS, seed: 8 });
});

// ---------------------------------------------------------------- strict at every edge

const hostChar = fc.constantFrom(...'abcxyzAZ019-._~!$&\'()*+;=,:[]@/?#\\% \t"<>^|{}`\xa0\xe9'.split(''));
const hostish = fc.oneof(
  { weight: 3, arbitrary: fc.array(hostChar, { minLength: 1, maxLength: 16 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.tuple(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 5 }), fc.option(fc.integer({ min: 0, max: 70000 }))).map(([o, p]) => `${o.join('.')}${p === null ? '' : `:${p}`}`) },
  { weight: 1, arbitrary: fc.tuple(fc.ipV6(), fc.option(fc.integer({ min: 0, max: 70000 }))).map(([a, p]) => `[${a}]${p === null ? '' : `:${p}`}`) },
  { weight: 1, arbitrary: fc.domain().map((d) => d.toUpperCase()) },
);

test('every authority the parser accepts is one a URL parser reads back unchanged; no other reaches a handler', () => {
  fc.assert(fc.property(hostish, fc.constantFrom('/', '/evil', '//x/y', '/a?b'), (host, path) => {
    const run = runRequests(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    // The field parser trims SP and HTAB around the value (and an empty Host is valid).
    const value = host.replace(/^[ \t]+|[ \t]+$/g, '');
    if (value === '') return;
    const a = parseAuthority(value);
    if (a === null) {
      assert.equal(codeOf(run), 'HF_WIRE_INVALID_HOST', host);
      return;
    }
    assert.equal(codeOf(run), 'OK');
    assert.deepEqual(run.messages[0]!.head.authority, a);
    const u = new URL(requestUrl('http', a, path));
    // An IPv6 literal may come back in its canonical spelling (`[0::0]` is `[::]`): the same address.
    if (a.hostname.startsWith('[')) assert.equal(u.hostname, new URL(`http://${a.hostname}/`).hostname, host);
    else assert.equal(u.hostname, a.hostname, host);
    assert.equal(Number(u.port === '' ? 80 : u.port), a.port ?? 80, host);
    assert.equal(u.pathname + u.search, path);
    // None of the characters that end an authority got through.
    assert.doesNotMatch(value, /[/?#@\\\s,%"<>^|{}`\x80-\xff]/);
  }), { numRuns: 3000, seed: 11 });
});

const digits = fc.stringMatching(/^[0-9]{1,4}$/);
const notOws = fc.constantFrom('\xa0', '\x85', '\x0b', '\x0c');

test('Content-Length and Transfer-Encoding: only SP and HTAB are OWS; repeated lengths must be the same string', () => {
  fc.assert(fc.property(digits, digits, notOws, fc.constantFrom('before', 'after'), (a, b, w, where) => {
    const cl = where === 'before' ? `${w}${a}` : `${a}${w}`;
    const bad = runRequests(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${cl}\r\n\r\n`);
    assert.ok(['HF_WIRE_INVALID_CONTENT_LENGTH', 'HF_WIRE_INVALID_HEADER_VALUE'].includes(codeOf(bad)), codeOf(bad));
    const te = where === 'before' ? `${w}chunked` : `chunked${w}`;
    const badTe = runRequests(`POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`);
    assert.ok(['HF_WIRE_INVALID_TRANSFER_ENCODING', 'HF_WIRE_INVALID_HEADER_VALUE'].includes(codeOf(badTe)), codeOf(badTe));
    const body = 'x'.repeat(Number(a));
    const two = runRequests(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${a}\r\nContent-Length: ${b}\r\n\r\n${body}`);
    if (a === b) assert.equal(codeOf(two), 'OK');
    else assert.equal(codeOf(two), 'HF_WIRE_INVALID_CONTENT_LENGTH', `${a} / ${b}`);
  }), { numRuns: RUNS, seed: 12 });
});

test('chunked with any parameter, well-formed or not, is never read as chunked', () => {
  fc.assert(fc.property(fc.array(fc.constantFrom(...';=a "b\t,'.split('')), { maxLength: 8 }), (tail) => {
    const te = `chunked;${tail.join('')}`;
    const r = runRequests(`POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`);
    const framing = r.messages[0]?.head.framing.kind;
    assert.notEqual(framing, 'chunked', te);
    assert.notEqual(codeOf(r), 'OK', te);
  }), { numRuns: RUNS, seed: 13 });
});
