/** Request/response head parsing: incrementality, limits, and every strict-parsing rule. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { RequestParser, WireError } from '../../src/wire/index.ts';
import { runRequests, runResponses, codeOf, summary, splitAt, bytewise, req, crlf } from './_helpers.ts';

const BROWSER_GET = req(
  'GET /search?q=holdfast&lang=en HTTP/1.1',
  'Host: www.example.com',
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Accept-Language: en-US,en;q=0.5',
  'Accept-Encoding: gzip, deflate, br',
  'Connection: keep-alive',
  'Cookie: a=1; b=2',
  'Upgrade-Insecure-Requests: 1',
  'Sec-Fetch-Dest: document',
  'Cache-Control: max-age=0',
);

describe('incremental parsing', () => {
  const stream = BROWSER_GET + req('POST /upload HTTP/1.1', 'Host: h', 'Content-Length: 11') + 'hello world'
    + req('PUT /c HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked') + '3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n';
  const whole = summary(runRequests(stream));

  test('a pipelined stream parses into its three messages', () => {
    const s = whole as { error: null; messages: { head: { method: string }; body: string; complete: boolean }[] };
    assert.equal(s.error, null);
    assert.deepEqual(s.messages.map((m) => [m.head.method, m.body, m.complete]), [['GET', '', true], ['POST', 'hello world', true], ['PUT', 'abc', true]]);
  });

  test('one byte at a time gives the same result', () => {
    assert.deepEqual(summary(runRequests(bytewise(Buffer.from(stream, 'latin1')))), whole);
  });

  test('every two-way split gives the same result', () => {
    const bytes = Buffer.from(stream, 'latin1');
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.deepEqual(summary(runRequests(splitAt(bytes, [cut]))), whole, `split at ${cut}`);
    }
  });

  test('the parser copies an incomplete head (callers may reuse their buffers)', () => {
    // runRequests scribbles over each chunk after execute(); a kept view would corrupt the head.
    const bytes = Buffer.from(BROWSER_GET, 'latin1');
    const run = runRequests(splitAt(bytes, [5, 40, 100]));
    assert.equal(run.messages[0]!.head.target, '/search?q=holdfast&lang=en');
    assert.equal(run.messages[0]!.head.headers.get('host'), 'www.example.com');
  });

  test('each request on a connection has its own Host checked and parsed', () => {
    // The parser keeps the last Host it parsed (keep-alive clients repeat it); a changed one, or
    // a bad one after a good one, must still be read on its own.
    const heads: { authority: unknown }[] = [];
    const p = new RequestParser({ onHead(h) { heads.push(h); }, onBody() {}, onComplete() {} });
    p.execute(Buffer.from(req('GET / HTTP/1.1', 'Host: a.example:81') + req('GET / HTTP/1.1', 'Host: a.example:81') + req('GET / HTTP/1.1', 'Host: B.example')));
    assert.deepEqual(heads.map((h) => h.authority), [{ hostname: 'a.example', port: 81 }, { hostname: 'a.example', port: 81 }, { hostname: 'b.example', port: null }]);
    assert.throws(() => p.execute(Buffer.from(req('GET / HTTP/1.1', 'Host: victim#'))), (e: unknown) => e instanceof WireError && e.code === 'HF_WIRE_INVALID_HOST');
  });

  test('idle is true only between messages', () => {
    const p = new RequestParser({ onHead() {}, onBody() {}, onComplete() {} });
    assert.equal(p.idle, true);
    p.execute(Buffer.from('GET / HT'));
    assert.equal(p.idle, false);
    p.execute(Buffer.from('TP/1.1\r\nHost: a\r\n\r\n'));
    assert.equal(p.idle, true);
  });

  test('handlers are called with their own this', () => {
    const handler = new (class {
      heads = 0; bytes = 0; done = 0;
      onHead(): void { this.heads++; }
      onBody(c: Buffer): void { this.bytes += c.length; }
      onComplete(): void { this.done++; }
    })();
    const p = new RequestParser(handler);
    p.execute(Buffer.from(req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '2\r\nab\r\n0\r\n\r\n'));
    p.execute(Buffer.from(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1') + 'z'));
    assert.deepEqual([handler.heads, handler.bytes, handler.done], [2, 3, 2]);
  });
});

describe('head fields', () => {
  test('method, target, version, headers in order with original spelling, OWS trimmed', () => {
    const r = runRequests(req('OPTIONS * HTTP/1.1', 'Host: a', 'X-Multi: 1', 'x-multi:2  ', 'Empty:', 'Tab:\tv\t'));
    const h = r.messages[0]!.head;
    assert.equal(h.method, 'OPTIONS');
    assert.equal(h.target, '*');
    assert.equal(h.versionMinor, 1);
    assert.deepEqual(h.headers.entries(), [['Host', 'a'], ['X-Multi', '1'], ['x-multi', '2'], ['Empty', ''], ['Tab', 'v']]);
    assert.equal(h.headers.get('X-MULTI'), '1, 2');
  });

  test('obs-text (0x80-0xFF) in a value is kept as latin1', () => {
    const r = runRequests(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nX: caf'), Buffer.from([0xe9]), Buffer.from('\r\n\r\n')]));
    assert.equal(codeOf(r), 'OK');
    assert.equal(r.messages[0]!.head.headers.get('x'), 'caf\u00e9');
  });

  test('keep-alive: 1.1 default on, Connection: close off; 1.0 default off, keep-alive on', () => {
    assert.equal(runRequests(req('GET / HTTP/1.1', 'Host: a')).messages[0]!.head.keepAlive, true);
    assert.equal(runRequests(req('GET / HTTP/1.1', 'Host: a', 'Connection: Close')).messages[0]!.head.keepAlive, false);
    assert.equal(runRequests(req('GET / HTTP/1.0')).messages[0]!.head.keepAlive, false);
    assert.equal(runRequests(req('GET / HTTP/1.0', 'Connection: Keep-Alive')).messages[0]!.head.keepAlive, true);
  });

  test('Expect is exposed lower-cased', () => {
    assert.equal(runRequests(req('PUT / HTTP/1.1', 'Host: a', 'Expect: 100-Continue', 'Content-Length: 1')).messages[0]!.head.expect, '100-continue');
  });

  test('HTTP/1.x with x > 1 is read as 1.1 (RFC 9112 §2.3)', () => {
    assert.equal(runRequests(req('GET / HTTP/1.2', 'Host: a')).messages[0]!.head.versionMinor, 1);
  });

  test('one CRLF (up to a bound) before the request-line is ignored (RFC 9112 §2.2)', () => {
    assert.equal(codeOf(runRequests(`\r\n\r\n${req('GET / HTTP/1.1', 'Host: a')}`)), 'OK');
    assert.equal(codeOf(runRequests(bytewise(Buffer.from(`\r\n${req('GET / HTTP/1.1', 'Host: a')}`)))), 'OK');
    assert.equal(codeOf(runRequests(`${'\r\n'.repeat(9)}${req('GET / HTTP/1.1', 'Host: a')}`)), 'HF_WIRE_INVALID_START_LINE');
  });

  test('CONNECT switches to a tunnel: following bytes go to upgradeBuffer', () => {
    const p = new RequestParser({ onHead() {}, onBody() { throw new Error('no body'); }, onComplete() {} });
    p.execute(Buffer.from(`${req('CONNECT example.com:443 HTTP/1.1', 'Host: example.com:443')}\x16\x03\x01`, 'latin1'));
    assert.equal(p.upgraded, true);
    assert.deepEqual([...p.upgradeBuffer!], [0x16, 0x03, 0x01]);
  });
});

describe('limits give distinct errors', () => {
  const limits = { maxStartLineLength: 100, maxHeaderSize: 400, maxHeaderCount: 5 };
  const longTarget = `/${'a'.repeat(120)}`;

  test('request-line too long → 414 HF_WIRE_URI_TOO_LONG (complete or still arriving)', () => {
    for (const input of [req(`GET ${longTarget} HTTP/1.1`, 'Host: a'), `GET ${longTarget}`]) {
      const r = runRequests(input, { limits });
      assert.equal(codeOf(r), 'HF_WIRE_URI_TOO_LONG');
      assert.equal((r.error as WireError).status, 414);
    }
  });

  test('a request-line of exactly the limit passes, also when its CR and LF arrive separately', () => {
    const line = `GET /${'a'.repeat(100 - 'GET / HTTP/1.1'.length)} HTTP/1.1`;
    assert.equal(line.length, 100);
    const bytes = Buffer.from(req(line, 'Host: a'));
    assert.equal(codeOf(runRequests(bytes, { limits })), 'OK');
    assert.equal(codeOf(runRequests(splitAt(bytes, [101]), { limits })), 'OK');
    assert.equal(codeOf(runRequests(bytewise(bytes), { limits })), 'OK');
  });

  test('head too large → 431 HF_WIRE_HEADERS_TOO_LARGE (complete or still arriving)', () => {
    const big = `X-Big: ${'b'.repeat(400)}`;
    for (const input of [req('GET / HTTP/1.1', 'Host: a', big), crlf('GET / HTTP/1.1', 'Host: a') + big]) {
      const r = runRequests(input, { limits });
      assert.equal(codeOf(r), 'HF_WIRE_HEADERS_TOO_LARGE');
      assert.equal((r.error as WireError).status, 431);
    }
  });

  test('too many header lines → 431 HF_WIRE_TOO_MANY_HEADERS; exactly the limit passes', () => {
    const fields = (n: number) => Array.from({ length: n }, (_, k) => `X-${k}: v`);
    assert.equal(codeOf(runRequests(req('GET / HTTP/1.1', 'Host: a', ...fields(4)), { limits })), 'OK');
    const r = runRequests(req('GET / HTTP/1.1', 'Host: a', ...fields(5)), { limits });
    assert.equal(codeOf(r), 'HF_WIRE_TOO_MANY_HEADERS');
    assert.equal((r.error as WireError).status, 431);
  });

  test('a long status-line is not a 414', () => {
    const r = runResponses(['GET'], `HTTP/1.1 200 ${'x'.repeat(200)}\r\n\r\n`, { limits });
    assert.equal(codeOf(r), 'HF_WIRE_INVALID_START_LINE');
  });
});

describe('strict request parsing (smuggling defences)', () => {
  const cases: [string, string, string][] = [
    ['Content-Length with Transfer-Encoding', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'Transfer-Encoding: chunked'), 'HF_WIRE_CONFLICTING_FRAMING'],
    ['Transfer-Encoding before Content-Length', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 3'), 'HF_WIRE_CONFLICTING_FRAMING'],
    ['differing Content-Length lines', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'Content-Length: 4'), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['differing Content-Length list', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3, 4'), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['signed Content-Length', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: +3'), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['negative Content-Length', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: -1'), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['hex Content-Length', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0x10'), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['empty Content-Length', req('POST / HTTP/1.1', 'Host: a', 'Content-Length:'), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['Content-Length with a space inside', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1 2'), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['huge Content-Length', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 99999999999999999999'), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['TE not ending in chunked', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip'), 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
    ['TE chunked then gzip', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, gzip'), 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
    ['TE chunked twice', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'), 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
    ['TE with a typo', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunkedx'), 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
    ['empty TE', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding:'), 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
    ['TE in HTTP/1.0', req('POST / HTTP/1.0', 'Transfer-Encoding: chunked'), 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
    ['obs-fold', req('GET / HTTP/1.1', 'Host: a', 'X: a', ' b'), 'HF_WIRE_OBS_FOLD'],
    ['obs-fold with a tab', req('GET / HTTP/1.1', 'Host: a', 'X: a', '\tb'), 'HF_WIRE_OBS_FOLD'],
    ['folded Transfer-Encoding', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding:', ' chunked'), 'HF_WIRE_OBS_FOLD'],
    ['bare CR in a value', req('GET / HTTP/1.1', 'Host: a', 'X: a\rb'), 'HF_WIRE_BARE_CR'],
    ['bare CR in the request-line', req('GET /\r HTTP/1.1', 'Host: a'), 'HF_WIRE_BARE_CR'],
    ['bare CR before the request-line', `\r${req('GET / HTTP/1.1', 'Host: a')}`, 'HF_WIRE_BARE_CR'],
    ['bare LF ending a field line', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n', 'HF_WIRE_BARE_LF'],
    ['bare LF ending the request-line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'HF_WIRE_BARE_LF'],
    ['bare LF before the request-line', `\n${req('GET / HTTP/1.1', 'Host: a')}`, 'HF_WIRE_BARE_LF'],
    ['NUL in a value', req('GET / HTTP/1.1', 'Host: a', 'X: a\0b'), 'HF_WIRE_INVALID_HEADER_VALUE'],
    ['control char 0x01 in a value', req('GET / HTTP/1.1', 'Host: a', 'X: \x01'), 'HF_WIRE_INVALID_HEADER_VALUE'],
    ['DEL in a value', req('GET / HTTP/1.1', 'Host: a', 'X: a\x7f'), 'HF_WIRE_INVALID_HEADER_VALUE'],
    ['ESC in a value', req('GET / HTTP/1.1', 'Host: a', 'X: \x1b[0m'), 'HF_WIRE_INVALID_HEADER_VALUE'],
    ['space before colon', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding : chunked'), 'HF_WIRE_INVALID_HEADER_NAME'],
    ['tab before colon', req('GET / HTTP/1.1', 'Host: a', 'X\t: y'), 'HF_WIRE_INVALID_HEADER_NAME'],
    ['space inside a name', req('GET / HTTP/1.1', 'Host: a', 'X Y: z'), 'HF_WIRE_INVALID_HEADER_NAME'],
    ['separator in a name', req('GET / HTTP/1.1', 'Host: a', 'X(y): z'), 'HF_WIRE_INVALID_HEADER_NAME'],
    ['non-ASCII in a name', req('GET / HTTP/1.1', 'Host: a', 'X\xe9: z'), 'HF_WIRE_INVALID_HEADER_NAME'],
    ['empty name', req('GET / HTTP/1.1', 'Host: a', ': z'), 'HF_WIRE_INVALID_HEADER_NAME'],
    ['line without colon', req('GET / HTTP/1.1', 'Host: a', 'NoColon'), 'HF_WIRE_INVALID_HEADER_NAME'],
    ['separator in the method', req('G(ET / HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_METHOD'],
    ['non-ASCII method', req('G\xc9T / HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_METHOD'],
    ['control char in the target', req('GET /a\x01 HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_TARGET'],
    ['empty target (two spaces)', req('GET  HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_TARGET'],
    ['target in no form (RFC 9112 §3.2)', req('GET a/b HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_TARGET'],
    ['query-only target', req('GET ?a HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_TARGET'],
    ['absolute-form without //', req('GET http:/x HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_TARGET'],
    ['backslash in an absolute-form authority', req('GET http://ex\\ample/ HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_TARGET'],
    ['raw non-ASCII in the target', req('GET /caf\xe9 HTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_TARGET'],
    ['extra space in the request-line', req('GET / HTTP/1.1 ', 'Host: a'), 'HF_WIRE_INVALID_START_LINE'],
    ['request-line without version', req('GET /', 'Host: a'), 'HF_WIRE_INVALID_START_LINE'],
    ['tab as request-line separator', req('GET\t/\tHTTP/1.1', 'Host: a'), 'HF_WIRE_INVALID_START_LINE'],
    ['lower-case version', req('GET / http/1.1', 'Host: a'), 'HF_WIRE_INVALID_VERSION'],
    ['version without minor', req('GET / HTTP/1', 'Host: a'), 'HF_WIRE_INVALID_VERSION'],
    ['two-digit major', req('GET / HTTP/11.1', 'Host: a'), 'HF_WIRE_INVALID_VERSION'],
    ['junk after version', req('GET / HTTP/1.1x', 'Host: a'), 'HF_WIRE_INVALID_VERSION'],
    ['HTTP/2.0 → 505', req('GET / HTTP/2.0', 'Host: a'), 'HF_WIRE_UNSUPPORTED_VERSION'],
    ['HTTP/0.9 → 505', req('GET / HTTP/0.9', 'Host: a'), 'HF_WIRE_UNSUPPORTED_VERSION'],
    ['missing Host in 1.1', req('GET / HTTP/1.1'), 'HF_WIRE_MISSING_HOST'],
    ['duplicate Host in 1.1', req('GET / HTTP/1.1', 'Host: a', 'Host: a'), 'HF_WIRE_DUPLICATE_HOST'],
    ['duplicate Host in 1.0', req('GET / HTTP/1.0', 'Host: a', 'host: b'), 'HF_WIRE_DUPLICATE_HOST'],
    ['space in Host (RFC 9112 §3.2)', req('GET / HTTP/1.1', 'Host: bad host'), 'HF_WIRE_INVALID_HOST'],
    ['slash in Host', req('GET / HTTP/1.1', 'Host: a/b'), 'HF_WIRE_INVALID_HOST'],
    ['empty start line after allowed CRLFs is not a head', '\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n', 'HF_WIRE_INVALID_START_LINE'],
  ];
  for (const [name, input, code] of cases) {
    test(`${name} → ${code}`, () => {
      const r = runRequests(input);
      assert.equal(codeOf(r), code);
      assert.equal(r.messages.length, 0, 'no head may be delivered');
      // The same verdict whatever the split.
      assert.equal(codeOf(runRequests(bytewise(Buffer.from(input, 'latin1')))), code);
    });
  }

  test('status codes: 400 for malformed, 505 for versions, 501 for unknown codings', () => {
    assert.equal((runRequests(req('GET / HTTP/1.1')).error as WireError).status, 400);
    assert.equal((runRequests(req('GET / HTTP/3.0', 'Host: a')).error as WireError).status, 505);
    const r = runRequests(req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked'));
    assert.equal(codeOf(r), 'HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING');
    assert.equal((r.error as WireError).status, 501);
  });

  test('accepted neighbours of the rejected inputs', () => {
    for (const ok of [
      req('GET / HTTP/1.0'), // no Host needed in 1.0
      req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'Content-Length: 3') + 'abc', // identical CL, RFC 9112 §6.3
      req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3, 3') + 'abc',
      req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 003') + 'abc',
      req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: Chunked') + '0\r\n\r\n',
      req('GET / HTTP/1.1', 'Host: a', "X-Tok!#$%&'*+-.^_`|~: v"),
      req('M-SEARCH * HTTP/1.1', 'Host: a'),
      req('GET /%20?a=b HTTP/1.1', 'Host: a'),
      req('GET http://a/b HTTP/1.1', 'Host: a'),
    ]) {
      assert.equal(codeOf(runRequests(ok)), 'OK', JSON.stringify(ok));
    }
  });

  test('after an error the parser stays failed', () => {
    const p = new RequestParser({ onHead() {}, onBody() {}, onComplete() {} });
    assert.throws(() => p.execute(Buffer.from(req('GET / HTTP/1.1'))), WireError);
    assert.throws(() => p.execute(Buffer.from(req('GET / HTTP/1.1', 'Host: a'))), { code: 'HF_WIRE_MISSING_HOST' });
    assert.throws(() => p.finish(), { code: 'HF_WIRE_MISSING_HOST' });
  });

  test('an error thrown by a handler propagates unchanged', () => {
    const boom = new Error('handler');
    const p = new RequestParser({ onHead() { throw boom; }, onBody() {}, onComplete() {} });
    assert.throws(() => p.execute(Buffer.from(req('GET / HTTP/1.1', 'Host: a'))), (e) => e === boom);
    assert.throws(() => p.execute(Buffer.from('x')), WireError);
  });
});

describe('strict response parsing', () => {
  const cases: [string, string, string][] = [
    ['CL with TE', crlf('HTTP/1.1 200 OK', 'Content-Length: 3', 'Transfer-Encoding: chunked', ''), 'HF_WIRE_CONFLICTING_FRAMING'],
    ['differing CL', crlf('HTTP/1.1 200 OK', 'Content-Length: 3', 'Content-Length: 4', ''), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['malformed CL', crlf('HTTP/1.1 200 OK', 'Content-Length: 3x', ''), 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['TE other than chunked', crlf('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip', ''), 'HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING'],
    ['TE in HTTP/1.0', crlf('HTTP/1.0 200 OK', 'Transfer-Encoding: chunked', ''), 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
    ['obs-fold', crlf('HTTP/1.1 200 OK', 'X: a', ' b', ''), 'HF_WIRE_OBS_FOLD'],
    ['bare CR', crlf('HTTP/1.1 200 OK', 'X: a\rb', ''), 'HF_WIRE_BARE_CR'],
    ['NUL in value', crlf('HTTP/1.1 200 OK', 'X: \0', ''), 'HF_WIRE_INVALID_HEADER_VALUE'],
    ['space before colon', crlf('HTTP/1.1 200 OK', 'Content-Length : 3', ''), 'HF_WIRE_INVALID_HEADER_NAME'],
    ['bad status', crlf('HTTP/1.1 20 OK', ''), 'HF_WIRE_INVALID_STATUS'],
    ['status below 100', crlf('HTTP/1.1 099 OK', ''), 'HF_WIRE_INVALID_STATUS'],
    ['HTTP/2 status-line', crlf('HTTP/2.0 200 OK', ''), 'HF_WIRE_INVALID_STATUS'],
    ['control in reason', crlf('HTTP/1.1 200 O\x01K', ''), 'HF_WIRE_INVALID_STATUS'],
  ];
  for (const [name, input, code] of cases) {
    test(`${name} → ${code}`, () => {
      const r = runResponses(['GET'], input);
      assert.equal(codeOf(r), code);
      assert.equal(r.messages.length, 0);
      assert.equal((r.error as WireError).status, 502);
    });
  }

  test('bare LF line ends are tolerated in responses', () => {
    const r = runResponses(['GET'], 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok');
    assert.equal(codeOf(r), 'OK');
    assert.equal(r.messages[0]!.body.toString(), 'ok');
  });

  test('bytes with no request outstanding → HF_WIRE_UNEXPECTED_DATA (also right after a response)', () => {
    assert.equal(codeOf(runResponses([], 'HTTP/1.1 408 Request Timeout\r\n\r\n')), 'HF_WIRE_UNEXPECTED_DATA');
    const r = runResponses(['GET'], 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTT');
    assert.equal(codeOf(r), 'HF_WIRE_UNEXPECTED_DATA');
    assert.equal(r.messages[0]!.complete, true);
  });

  test('1xx responses are informational; the final response follows', () => {
    const r = runResponses(['POST'], 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx');
    assert.deepEqual(r.informational.map((h) => h.status), [100, 103]);
    assert.equal(r.messages[0]!.head.status, 200);
    assert.equal(r.parser.awaiting, 0);
  });

  test('101 switches protocols: following bytes go to upgradeBuffer', () => {
    const r = runResponses(['GET'], 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00');
    assert.equal(r.parser.upgraded, true);
    assert.deepEqual([...r.parser.upgradeBuffer!], [0x81, 0x00]);
  });

  test('pipelined responses are matched to announced methods in order', () => {
    const r = runResponses(['HEAD', 'GET'], 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    assert.deepEqual(r.messages.map((m) => [m.head.status, m.body.toString(), m.complete]), [[200, '', true], [200, 'ok', true]]);
  });
});
