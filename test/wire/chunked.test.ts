/** The chunked transfer coding (RFC 9112 §7.1): decoder with extensions and trailers, encoder. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder, HeaderList, WireError, encodeChunk, encodeLastChunk } from '../../src/wire/index.ts';
import { bytewise } from './_helpers.ts';

const strict = { maxExtensionLength: 64, maxTrailerSize: 256, allowBareLF: false };
const lenient = { ...strict, allowBareLF: true };

function decode(input: string | Buffer | Buffer[], limits = strict): { body: string; trailers: HeaderList | null; done: boolean; rest: string; dec: ChunkedDecoder } {
  const dec = new ChunkedDecoder(limits);
  const parts: Buffer[] = [];
  const chunks = Array.isArray(input) ? input : [typeof input === 'string' ? Buffer.from(input, 'latin1') : input];
  let rest = '';
  for (const c of chunks) {
    const end = dec.decode(c, 0, (d) => parts.push(Buffer.from(d)));
    rest += c.subarray(end).toString('latin1');
  }
  return { body: Buffer.concat(parts).toString('latin1'), trailers: dec.trailers, done: dec.done, rest, dec };
}

const codeOfDecode = (input: string, limits = strict): string => {
  try {
    decode(input, limits);
    return 'OK';
  } catch (err) {
    assert.ok(err instanceof WireError, String(err));
    return err.code;
  }
};

describe('ChunkedDecoder', () => {
  test('decodes chunks, stops exactly after the last chunk, reports leftover bytes', () => {
    const r = decode('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT');
    assert.deepEqual([r.body, r.done, r.rest], ['hello world', true, 'NEXT']);
    assert.equal(r.dec.received, 11);
  });

  test('hex sizes in either case, leading zeros', () => {
    const data = 'x'.repeat(0x1a);
    assert.equal(decode(`1A\r\n${data}\r\n0\r\n\r\n`).body, data);
    assert.equal(decode(`1a\r\n${data}\r\n0\r\n\r\n`).body, data);
    assert.equal(decode(`0000000000000000001\r\nz\r\n000\r\n\r\n`).body, 'z');
  });

  test('extensions are validated and ignored: tokens, quoted strings, BWS around ; and =', () => {
    const input = '5;name\r\nhello\r\n1;a=b;c="quoted; \\"x\\" value"\r\n!\r\n2 ; k = v\r\nok\r\n0;last\r\n\r\n';
    assert.equal(decode(input).body, 'hello!ok');
    assert.equal(decode(bytewise(Buffer.from(input))).body, 'hello!ok');
  });

  test('malformed extensions are rejected', () => {
    for (const bad of ['5 junk\r\n', '5;\r\n', '5;=v\r\n', '5;a=\r\n', '5;a="unterminated\r\n', '5;a=b c\r\n', '5;a\x01\r\n', '5;a="\x7f"\r\n', '5 \r\n']) {
      assert.equal(codeOfDecode(`${bad}hello\r\n0\r\n\r\n`), 'HF_WIRE_INVALID_CHUNK', JSON.stringify(bad));
    }
  });

  test('extension length is bounded', () => {
    assert.equal(codeOfDecode(`1;${'a'.repeat(100)}\r\nx\r\n0\r\n\r\n`), 'HF_WIRE_INVALID_CHUNK');
    assert.equal(codeOfDecode(`1;${'a'.repeat(60)}\r\nx\r\n0\r\n\r\n`), 'OK');
  });

  test('trailers are parsed as fields', () => {
    const r = decode('1\r\nx\r\n0\r\nChecksum: abc\r\nX-Two:  2 \r\n\r\n');
    assert.deepEqual(r.trailers!.entries(), [['Checksum', 'abc'], ['X-Two', '2']]);
    assert.deepEqual(decode('0\r\n\r\n').trailers!.entries(), []);
  });

  test('trailers are as strict as heads', () => {
    assert.equal(codeOfDecode('0\r\nX : y\r\n\r\n'), 'HF_WIRE_INVALID_HEADER_NAME');
    assert.equal(codeOfDecode('0\r\nX: y\r\n z\r\n\r\n'), 'HF_WIRE_OBS_FOLD');
    assert.equal(codeOfDecode('0\r\nX: a\rb\r\n\r\n'), 'HF_WIRE_BARE_CR');
    assert.equal(codeOfDecode('0\r\nX: a\0b\r\n\r\n'), 'HF_WIRE_INVALID_HEADER_VALUE');
    assert.equal(codeOfDecode('0\r\nX: y\n\r\n'), 'HF_WIRE_BARE_LF');
    assert.equal(codeOfDecode(`0\r\nX: ${'y'.repeat(300)}\r\n\r\n`), 'HF_WIRE_TRAILERS_TOO_LARGE');
  });

  test('chunk size overflow is rejected before it can wrap', () => {
    assert.equal(codeOfDecode('fffffffffffff\r\n'), 'OK'); // 13 digits: a valid (if huge) size, body pending
    assert.equal(codeOfDecode('10000000000000\r\n'), 'HF_WIRE_CHUNK_TOO_LARGE');
    assert.equal(codeOfDecode('ffffffffffffffffffff\r\nx\r\n0\r\n\r\n'), 'HF_WIRE_CHUNK_TOO_LARGE');
  });

  test('malformed framing', () => {
    assert.equal(codeOfDecode('\r\n'), 'HF_WIRE_INVALID_CHUNK'); // no size
    assert.equal(codeOfDecode('g\r\n'), 'HF_WIRE_INVALID_CHUNK');
    assert.equal(codeOfDecode('-1\r\n'), 'HF_WIRE_INVALID_CHUNK');
    assert.equal(codeOfDecode('0x5\r\nhello\r\n'), 'HF_WIRE_INVALID_CHUNK');
    assert.equal(codeOfDecode('3\r\nabcd\r\n0\r\n\r\n'), 'HF_WIRE_INVALID_CHUNK'); // data longer than size
    assert.equal(codeOfDecode('3\r\nab\r\n0\r\n\r\n'), 'HF_WIRE_INVALID_CHUNK'); // data shorter
    assert.equal(codeOfDecode('3\rabc\r\n0\r\n\r\n'), 'HF_WIRE_BARE_CR');
    assert.equal(codeOfDecode('3\r\nabc\rX'), 'HF_WIRE_BARE_CR');
    assert.equal(codeOfDecode('3\nabc\r\n0\r\n\r\n'), 'HF_WIRE_INVALID_CHUNK'); // bare LF in strict mode
  });

  test('lenient (response) mode accepts bare LF line ends', () => {
    assert.equal(decode('3\nabc\n0\n\n', lenient).body, 'abc');
    assert.equal(decode('3;a=b\nabc\n0\nT: v\n\n', lenient).trailers!.get('t'), 'v');
  });

  test('any split of a chunked body decodes identically', () => {
    const input = Buffer.from('a;x="y"\r\n0123456789\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n');
    for (let cut = 1; cut < input.length; cut++) {
      const r = decode([input.subarray(0, cut), input.subarray(cut)]);
      assert.equal(r.body, '0123456789!', `cut ${cut}`);
      assert.equal(r.trailers!.get('t'), 'v');
    }
  });
});

describe('encoder', () => {
  test('encodeChunk frames data; an empty chunk encodes as nothing (it would end the body)', () => {
    assert.equal(Buffer.concat(encodeChunk(Buffer.from('hello world!!'))).toString(), 'd\r\nhello world!!\r\n');
    assert.deepEqual(encodeChunk(new Uint8Array(0)), []);
  });

  test('encodeChunk keeps the view of a Uint8Array slice', () => {
    const big = Buffer.from('xxabcxx');
    assert.equal(Buffer.concat(encodeChunk(new Uint8Array(big.buffer, big.byteOffset + 2, 3))).toString(), '3\r\nabc\r\n');
  });

  test('encodeLastChunk with and without trailers', () => {
    assert.equal(encodeLastChunk().toString(), '0\r\n\r\n');
    assert.equal(encodeLastChunk(new HeaderList([['Checksum', 'abc']])).toString(), '0\r\nChecksum: abc\r\n\r\n');
  });

  test('encodeLastChunk refuses injected trailers even via the unvalidated push()', () => {
    const t = new HeaderList();
    t.push('X', 'x', 'a\r\nInjected: 1');
    assert.throws(() => encodeLastChunk(t), { code: 'HF_WIRE_HEADER_INJECTION' });
  });

  test('round trip: encode → decode gives the same bytes and trailers', () => {
    const pieces = ['a', '', 'hello', 'x'.repeat(70000), '\r\n0\r\n\r\n'];
    const trailers = new HeaderList([['T1', 'one'], ['T2', 'two']]);
    const wire = Buffer.concat([...pieces.flatMap((p) => encodeChunk(Buffer.from(p))), encodeLastChunk(trailers)]);
    for (const split of [[wire], bytewise(wire.subarray(0, 200)).concat([wire.subarray(200)])]) {
      const r = decode(split);
      assert.equal(r.body, pieces.join(''));
      assert.deepEqual(r.trailers!.entries(), trailers.entries());
      assert.equal(r.rest, '');
    }
  });
});
