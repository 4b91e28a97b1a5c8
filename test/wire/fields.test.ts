/** HeaderList semantics, token-list helpers, serializers and their header-injection guards. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  HeaderList, WireError, assertFieldName, assertFieldValue, hasToken, isTarget, isToken, parseDirectives,
  parseKeepAlive, parseTokenList, reasonPhrase, serializeRequestHead, serializeResponseHead,
} from '../../src/wire/index.ts';
import { stripHopByHop } from '../../src/wire/hopByHop.ts';
import { runRequests, runResponses } from './_helpers.ts';

describe('HeaderList', () => {
  test('lookups are case-insensitive; spelling and order are kept', () => {
    const h = new HeaderList([['Content-Type', 'text/plain'], ['X-A', '1'], ['x-a', '2'], ['ETag', '"e"']]);
    assert.equal(h.get('content-type'), 'text/plain');
    assert.equal(h.get('CONTENT-TYPE'), 'text/plain');
    assert.equal(h.has('etag'), true);
    assert.equal(h.has('missing'), false);
    assert.equal(h.get('missing'), undefined);
    assert.deepEqual([...h].map(([n]) => n), ['Content-Type', 'X-A', 'x-a', 'ETag']);
    assert.deepEqual(h.toRaw(), ['Content-Type', 'text/plain', 'X-A', '1', 'x-a', '2', 'ETag', '"e"']);
  });

  test('multi-valued: get joins with ", ", getAll and count see each line', () => {
    const h = new HeaderList([['Accept', 'a'], ['Other', 'o'], ['accept', 'b']]);
    assert.equal(h.get('accept'), 'a, b');
    assert.deepEqual(h.getAll('ACCEPT'), ['a', 'b']);
    assert.equal(h.count('accept'), 2);
    assert.equal(h.size, 3);
  });

  test('Set-Cookie lines stay separate (RFC 9110 §5.3), also in toObject', () => {
    const h = new HeaderList({ 'Set-Cookie': ['a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'b=2'], Vary: 'Accept' });
    assert.deepEqual(h.getAll('set-cookie'), ['a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'b=2']);
    assert.equal(h.count('set-cookie'), 2);
    assert.deepEqual(h.toObject(), { 'set-cookie': ['a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'b=2'], vary: 'Accept' });
    const parsed = runResponses(['GET'], 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n');
    assert.deepEqual(parsed.messages[0]!.head.headers.getAll('set-cookie'), ['a=1', 'b=2']);
  });

  test('set replaces every line; delete removes every line', () => {
    const h = new HeaderList([['A', '1'], ['B', '2'], ['a', '3']]);
    h.set('a', '9');
    assert.deepEqual(h.entries(), [['B', '2'], ['a', '9']]);
    assert.equal(h.delete('A'), true);
    assert.equal(h.delete('A'), false);
    assert.deepEqual(h.entries(), [['B', '2']]);
  });

  test('append trims OWS and validates; clone is independent', () => {
    const h = new HeaderList();
    h.append('X', '  v \t');
    assert.equal(h.get('x'), 'v');
    assert.throws(() => h.append('Bad Name', 'v'), { code: 'HF_WIRE_INVALID_HEADER_NAME' });
    assert.throws(() => h.append('X', 'a\r\nY: b'), { code: 'HF_WIRE_HEADER_INJECTION' });
    assert.throws(() => h.append('X', 'a\nb'), { code: 'HF_WIRE_HEADER_INJECTION' });
    assert.throws(() => h.append('X', 'a\0b'), { code: 'HF_WIRE_INVALID_HEADER_VALUE' });
    const c = h.clone();
    c.append('Y', '1');
    assert.equal(h.has('y'), false);
  });

  test('constructor accepts a HeaderList, pairs, a Map and a record', () => {
    const pairs: [string, string][] = [['A', '1'], ['B', '2']];
    for (const init of [new HeaderList(pairs), pairs, new Map(pairs), { A: '1', B: '2', C: undefined }]) {
      assert.deepEqual(new HeaderList(init).entries(), pairs);
    }
  });
});

describe('token-list helpers', () => {
  test('parseTokenList: lower-cased, trimmed, empty members dropped (RFC 9110 §5.6.1)', () => {
    assert.deepEqual(parseTokenList('Keep-Alive, Upgrade ,, close'), ['keep-alive', 'upgrade', 'close']);
    assert.deepEqual(parseTokenList(undefined), []);
    assert.deepEqual(parseTokenList(''), []);
  });

  test('hasToken: Connection options, case-insensitive on both sides', () => {
    assert.equal(hasToken('keep-alive, Close', 'close'), true);
    assert.equal(hasToken('keep-alive', 'Keep-Alive'), true);
    assert.equal(hasToken('closed', 'close'), false);
    assert.equal(hasToken(undefined, 'close'), false);
  });

  test('Vary lists, including *', () => {
    assert.deepEqual(parseTokenList('Accept-Encoding, User-Agent'), ['accept-encoding', 'user-agent']);
    assert.equal(hasToken('Accept, *', '*'), true);
  });

  test('parseDirectives: Cache-Control with values, quoted strings holding commas, first wins', () => {
    const d = parseDirectives('max-age=60, no-cache="Set-Cookie, X-Foo", Private, s-maxage = 5, max-age=1, ext="a\\"b"');
    assert.equal(d.get('max-age'), '60');
    assert.equal(d.get('no-cache'), 'Set-Cookie, X-Foo');
    assert.equal(d.get('private'), true);
    assert.equal(d.get('s-maxage'), '5');
    assert.equal(d.get('ext'), 'a"b');
    assert.deepEqual([...d.keys()], ['max-age', 'no-cache', 'private', 's-maxage', 'ext']);
    assert.equal(parseDirectives(undefined).size, 0);
    assert.deepEqual([...parseDirectives('no-store,,  ,must-revalidate')], [['no-store', true], ['must-revalidate', true]]);
  });

  test('parseKeepAlive: timeout and max; malformed parameters ignored', () => {
    assert.deepEqual(parseKeepAlive('timeout=5, max=100'), { timeout: 5, max: 100 });
    assert.deepEqual(parseKeepAlive('Timeout=5'), { timeout: 5 });
    assert.deepEqual(parseKeepAlive('timeout=-1, max=abc'), {});
    assert.deepEqual(parseKeepAlive('timeout="7"'), { timeout: 7 });
    assert.deepEqual(parseKeepAlive(undefined), {});
  });

  test('isToken / isTarget', () => {
    assert.equal(isToken('GET'), true);
    assert.equal(isToken(''), false);
    assert.equal(isToken('a b'), false);
    assert.equal(isToken('\u0100'), false);
    assert.equal(isTarget('/a?b=c'), true);
    assert.equal(isTarget('/a b'), false);
    assert.equal(isTarget(''), false);
  });
});

describe('serializers', () => {
  test('request head', () => {
    const s = serializeRequestHead({ method: 'GET', target: '/x?y', headers: [['Host', 'a'], ['Accept', '*/*']] });
    assert.equal(s, 'GET /x?y HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n');
    assert.equal(serializeRequestHead({ method: 'GET', target: '/', headers: [], versionMinor: 0 }), 'GET / HTTP/1.0\r\n\r\n');
  });

  test('response head with default and custom reason, Set-Cookie lines separate', () => {
    const h = new HeaderList({ 'Set-Cookie': ['a=1', 'b=2'] });
    assert.equal(serializeResponseHead({ status: 404, headers: h }), 'HTTP/1.1 404 Not Found\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n');
    assert.equal(serializeResponseHead({ status: 299, headers: [] }), 'HTTP/1.1 299 \r\n\r\n');
    assert.equal(serializeResponseHead({ status: 200, reason: 'Fine', headers: [] }), 'HTTP/1.1 200 Fine\r\n\r\n');
    assert.equal(reasonPhrase(431), 'Request Header Fields Too Large');
  });

  test('CR or LF in a value → HF_WIRE_HEADER_INJECTION, never a second line', () => {
    for (const v of ['a\r\nSet-Cookie: evil=1', 'a\nb', 'a\rb']) {
      assert.throws(() => serializeRequestHead({ method: 'GET', target: '/', headers: [['X', v]] }), { code: 'HF_WIRE_HEADER_INJECTION' });
      assert.throws(() => serializeResponseHead({ status: 200, headers: [['X', v]] }), { code: 'HF_WIRE_HEADER_INJECTION' });
      assert.throws(() => assertFieldValue('X', v), { code: 'HF_WIRE_HEADER_INJECTION' });
    }
    assert.throws(() => serializeResponseHead({ status: 200, reason: 'OK\r\nX: y', headers: [] }), { code: 'HF_WIRE_HEADER_INJECTION' });
    // Even lines added with the unvalidated push() are checked on the way out.
    const h = new HeaderList();
    h.push('X', 'x', 'a\r\nY: b');
    assert.throws(() => serializeResponseHead({ status: 200, headers: h }), { code: 'HF_WIRE_HEADER_INJECTION' });
    // And so are copies of such a list (a verified list's lines are not checked again).
    h.append('Via', '1.1 p');
    assert.throws(() => serializeRequestHead({ method: 'GET', target: '/', headers: h.clone() }), { code: 'HF_WIRE_HEADER_INJECTION' });
    assert.throws(() => serializeRequestHead({ method: 'GET', target: '/', headers: stripHopByHop(h) }), { code: 'HF_WIRE_HEADER_INJECTION' });
  });

  test('other invalid names, values, methods, targets, statuses, versions', () => {
    assert.throws(() => serializeRequestHead({ method: 'GET', target: '/', headers: [['X:Y', 'v']] }), { code: 'HF_WIRE_INVALID_HEADER_NAME' });
    assert.throws(() => serializeRequestHead({ method: 'GET', target: '/', headers: [['X\r\nY', 'v']] }), { code: 'HF_WIRE_INVALID_HEADER_NAME' });
    assert.throws(() => assertFieldName(''), { code: 'HF_WIRE_INVALID_HEADER_NAME' });
    assert.throws(() => serializeRequestHead({ method: 'GET', target: '/', headers: [['X', 'a\0']] }), { code: 'HF_WIRE_INVALID_HEADER_VALUE' });
    assert.throws(() => serializeRequestHead({ method: 'GE T', target: '/', headers: [] }), { code: 'HF_WIRE_INVALID_METHOD' });
    assert.throws(() => serializeRequestHead({ method: 'GET', target: '/ HTTP/1.1\r\nX: y', headers: [] }), { code: 'HF_WIRE_INVALID_TARGET' });
    assert.throws(() => serializeRequestHead({ method: 'GET', target: '/', headers: [], versionMinor: 2 }), { code: 'HF_WIRE_INVALID_VERSION' });
    assert.throws(() => serializeResponseHead({ status: 99, headers: [] }), { code: 'HF_WIRE_INVALID_STATUS' });
    assert.throws(() => serializeResponseHead({ status: 200.5, headers: [] }), { code: 'HF_WIRE_INVALID_STATUS' });
    assert.throws(() => serializeResponseHead({ status: 200, reason: 'a\x01', headers: [] }), { code: 'HF_WIRE_INVALID_STATUS' });
    assert.throws(() => serializeResponseHead({ status: 200, headers: [], versionMinor: 9 }), WireError);
  });

  test('serialize → parse gives the same head', () => {
    const headers: [string, string][] = [['Host', 'h'], ['X-A', '1'], ['x-a', '2'], ['Content-Length', '0']];
    const r = runRequests(serializeRequestHead({ method: 'PATCH', target: '/p?q', headers }));
    assert.deepEqual([r.messages[0]!.head.method, r.messages[0]!.head.target, r.messages[0]!.head.headers.entries()], ['PATCH', '/p?q', headers]);
    const s = runResponses(['GET'], serializeResponseHead({ status: 201, headers }));
    assert.deepEqual([s.messages[0]!.head.status, s.messages[0]!.head.reason, s.messages[0]!.head.headers.entries()], [201, 'Created', headers]);
  });
});
