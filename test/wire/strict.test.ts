/**
 * Strict at every edge: the cases where a lenient reading made holdfast disagree with a front
 * proxy about a message (OWS beyond SP/HTAB, Host as a URL fragment, differing duplicate
 * Content-Length, malformed transfer-coding parameters, fragments in targets).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuthority, parseAbsoluteTarget, requestUrl, isStrictTarget, WireError } from '../../src/wire/index.ts';
import { runRequests, codeOf, bytewise, req } from './_helpers.ts';

describe('optional whitespace is SP and HTAB only (RFC 9110 §5.6.3)', () => {
  const cases: [string, string, string][] = [
    ['Content-Length: \\xa05', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: \xa05') + 'hello', 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['Content-Length: 5\\xa0', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5\xa0') + 'hello', 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['Content-Length: 5,\\xa05', req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5,\xa05') + 'hello', 'HF_WIRE_INVALID_CONTENT_LENGTH'],
    ['Transfer-Encoding: chunked\\xa0', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked\xa0') + '0\r\n\r\n', 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
    ['Transfer-Encoding: \\xa0chunked', req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: \xa0chunked') + '0\r\n\r\n', 'HF_WIRE_INVALID_TRANSFER_ENCODING'],
  ];
  for (const [name, input, code] of cases) {
    test(`${name} → ${code}`, () => {
      assert.equal(codeOf(runRequests(input)), code);
      assert.equal(codeOf(runRequests(bytewise(Buffer.from(input, 'latin1')))), code);
    });
  }

  test('Expect: \\xa0100-continue is not 100-continue', () => {
    const r = runRequests(req('PUT / HTTP/1.1', 'Host: a', 'Expect: \xa0100-continue', 'Content-Length: 0'));
    assert.equal(codeOf(r), 'OK');
    assert.equal(r.messages[0]!.head.expect, '\xa0100-continue');
  });

  test('SP and HTAB are still trimmed', () => {
    const r = runRequests(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1 ,\t1') + 'x');
    assert.equal(codeOf(r), 'OK');
    assert.equal(r.messages[0]!.body.toString(), 'x');
    assert.equal(codeOf(runRequests(req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: \tchunked \t') + '0\r\n\r\n')), 'OK');
  });
});

describe('duplicate Content-Length must be the same string (RFC 9110 §8.6)', () => {
  test('010 and 10 differ', () => {
    assert.equal(codeOf(runRequests(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 010', 'Content-Length: 10') + '0123456789')), 'HF_WIRE_INVALID_CONTENT_LENGTH');
    assert.equal(codeOf(runRequests(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 10, 010') + '0123456789')), 'HF_WIRE_INVALID_CONTENT_LENGTH');
    assert.equal(codeOf(runRequests(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5, 05') + 'hello')), 'HF_WIRE_INVALID_CONTENT_LENGTH');
  });
  test('identical members, in one line or several, are one value', () => {
    for (const fields of [['Content-Length: 5', 'Content-Length: 5'], ['Content-Length: 5, 5'], ['Content-Length: 05', 'Content-Length: 05, 05']]) {
      const r = runRequests(req('POST / HTTP/1.1', 'Host: a', ...fields) + 'hello');
      assert.equal(codeOf(r), 'OK', fields.join(' | '));
      assert.equal(r.messages[0]!.body.toString(), 'hello');
    }
  });
});

describe('transfer-coding parameters (RFC 9112 §7, RFC 9110 §10.1.4)', () => {
  const bad = ['chunked;', 'chunked; ', 'chunked;a', 'chunked;a=', 'chunked;=b', 'chunked;a=b', 'chunked;a="b"', 'gzip;, chunked', 'gzip;q, chunked', 'chunked;;', ';chunked', 'chun ked', 'chunked"'];
  for (const te of bad) {
    test(`Transfer-Encoding: ${te} → 400`, () => {
      const r = runRequests(req('POST / HTTP/1.1', 'Host: a', `Transfer-Encoding: ${te}`) + '0\r\n\r\n');
      assert.equal(codeOf(r), 'HF_WIRE_INVALID_TRANSFER_ENCODING');
      assert.equal((r.error as WireError).status, 400);
      assert.equal(r.messages.length, 0);
    });
  }
  test('well-formed parameters on another coding are an unsupported coding (501), not a malformed one', () => {
    for (const te of ['gzip;level=9, chunked', 'x;a="b c" , chunked', 'x ; a = b, chunked']) {
      const r = runRequests(req('POST / HTTP/1.1', 'Host: a', `Transfer-Encoding: ${te}`) + '0\r\n\r\n');
      assert.equal(codeOf(r), 'HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING', te);
    }
  });
  test('empty list elements are ignored (RFC 9110 §5.6.1.2)', () => {
    assert.equal(codeOf(runRequests(req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: , chunked,') + '0\r\n\r\n')), 'OK');
  });
});

describe('Host is an RFC 3986 authority without userinfo (RFC 9112 §3.2)', () => {
  const bad = [
    'x\\admin?', 'victim#', 'a b', 'a/b', 'a?b', 'a#b', 'a@b', 'user@host', 'a\\b', 'a:b', 'a:80x', 'a:', 'a:65536', 'a:123456',
    'a, b', 'a,b', 'caf\xe9', '\xa0a', 'a\xa0', 'a%2eb', '[::1', '[::1]x', '[::1]:', '[fe80::1%25eth0]', '[v1.x]', '[1.2.3.4]', ':80',
    '127.1', '0x7f.0.0.1', '1.2.3.999', '1.2.3.4.5', 'a.123', 'a"b', 'a<b', 'a|b', 'a^b',
  ];
  for (const host of bad) {
    test(`Host: ${JSON.stringify(host)} → 400 HF_WIRE_INVALID_HOST`, () => {
      assert.equal(parseAuthority(host), null);
      const r = runRequests(req('GET /public HTTP/1.1', `Host: ${host}`));
      assert.equal(codeOf(r), 'HF_WIRE_INVALID_HOST');
      assert.equal((r.error as WireError).status, 400);
      assert.equal(r.messages.length, 0);
    });
  }
  test('valid authorities parse into lower-cased parts', () => {
    const ok: [string, string, number | null][] = [
      ['example.com', 'example.com', null], ['Example.COM:8080', 'example.com', 8080], ['a', 'a', null],
      ['127.0.0.1:80', '127.0.0.1', 80], ['[::1]', '[::1]', null], ['[::FFFF:1.2.3.4]:443', '[::ffff:1.2.3.4]', 443],
      ['example.com.', 'example.com.', null], ['a_b-c~d', 'a_b-c~d', null], ['xn--caf-dma.example', 'xn--caf-dma.example', null],
      ['a:0', 'a', 0], ['a:65535', 'a', 65535], ['a:080', 'a', 80], ['1.2.3.4.example', '1.2.3.4.example', null],
    ];
    for (const [value, hostname, port] of ok) {
      assert.deepEqual(parseAuthority(value), { hostname, port }, value);
      const r = runRequests(req('GET / HTTP/1.1', `Host: ${value}`));
      assert.equal(codeOf(r), 'OK', value);
      assert.deepEqual(r.messages[0]!.head.authority, { hostname, port });
    }
  });
  test('an empty Host is valid and names no authority; HTTP/1.0 may omit it', () => {
    assert.equal(runRequests(req('GET / HTTP/1.1', 'Host:')).messages[0]!.head.authority, null);
    assert.equal(runRequests(req('GET / HTTP/1.0')).messages[0]!.head.authority, null);
  });
  test('an absolute-form target names the authority; Host is still validated', () => {
    const r = runRequests(req('GET http://Other.example:81/p?q HTTP/1.1', 'Host: a'));
    assert.deepEqual(r.messages[0]!.head.authority, { hostname: 'other.example', port: 81 });
    assert.equal(codeOf(runRequests(req('GET http://a/p HTTP/1.1', 'Host: x\\admin?'))), 'HF_WIRE_INVALID_HOST');
  });
  test('URLs built from the parts keep the host and the path where they are', () => {
    const a = parseAuthority('victim')!;
    assert.equal(new URL(requestUrl('http', a, '/evil')).pathname, '/evil');
    assert.equal(new URL(requestUrl('http', a, '//evil/x')).host, 'victim');
    assert.equal(requestUrl('https', parseAuthority('[::1]:8443'), '/'), 'https://[::1]:8443/');
    assert.equal(requestUrl('http', null, '/x'), 'http://localhost/x');
    assert.throws(() => requestUrl('http', a, 'evil'), TypeError);
  });
});

describe('request-targets (RFC 9112 §3.2)', () => {
  const bad: [string, string][] = [
    ['a fragment in origin-form', 'GET /admin#/../public HTTP/1.1'],
    ['a lone fragment', 'GET /# HTTP/1.1'],
    ['a fragment in absolute-form', 'GET http://a/b#c HTTP/1.1'],
    ['an absolute-form authority ending in #', 'GET http://victim#/evil HTTP/1.1'],
    ['userinfo in absolute-form', 'GET http://user@a/ HTTP/1.1'],
    ['a bad port in absolute-form', 'GET http://a:x/ HTTP/1.1'],
    ['a percent-encoded absolute-form host', 'GET http://a%2eb/ HTTP/1.1'],
    ['a scheme other than http(s)', 'GET ftp://a/b HTTP/1.1'],
    ['an empty absolute-form host', 'GET http:///b HTTP/1.1'],
    ['CONNECT without a port', 'CONNECT a HTTP/1.1'],
    ['CONNECT to a path', 'CONNECT /a:1 HTTP/1.1'],
  ];
  for (const [name, line] of bad) {
    test(`${name} → HF_WIRE_INVALID_TARGET`, () => {
      assert.equal(codeOf(runRequests(req(line, 'Host: a'))), 'HF_WIRE_INVALID_TARGET');
    });
  }
  test('absolute-form parts: the path and query exactly as sent', () => {
    assert.deepEqual(parseAbsoluteTarget('HTTP://A:1/x/../y?q'), { scheme: 'http', authority: { hostname: 'a', port: 1 }, pathAndQuery: '/x/../y?q' });
    assert.deepEqual(parseAbsoluteTarget('https://a?q'), { scheme: 'https', authority: { hostname: 'a', port: null }, pathAndQuery: '/?q' });
    assert.equal(codeOf(runRequests(req('CONNECT a.example:443 HTTP/1.1', 'Host: a.example:443'))), 'OK');
  });
  test('isStrictTarget refuses what no URI contains', () => {
    for (const t of ['/a#b', '/%zz', '/%a', '/a%', '/"', '/<', '/>', '/a b', '/caf\xe9']) assert.equal(isStrictTarget(t), false, t);
    for (const t of ['/', '*', '/a%20b?x=%2F&y', 'http://a/b?c', "/!$&'()*+,;=:@-._~"]) assert.equal(isStrictTarget(t), true, t);
  });
});
