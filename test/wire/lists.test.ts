/** The one list splitter (RFC 9110 §5.6.1): quote-aware, OWS (SP and HTAB) trimmed and nothing else. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList, hasToken, parseDirectives, parseTokenList, splitList } from '../../src/wire/index.ts';

test('splitList: commas inside quoted-strings do not split; escapes are kept; empty members dropped', () => {
  assert.deepEqual(splitList('a, "b, c" ,, \t d\t'), ['a', '"b, c"', 'd']);
  assert.deepEqual(splitList('"a\\", b", c'), ['"a\\", b"', 'c']);
  assert.deepEqual(splitList(' , '), []);
});

test('members are trimmed of SP and HTAB only: U+00A0 and other Unicode spaces stay', () => {
  assert.deepEqual(splitList('\u00a0close, gzip\u00a0'), ['\u00a0close', 'gzip\u00a0']);
  assert.deepEqual(parseTokenList('\u00a0close'), ['\u00a0close']);
  assert.equal(hasToken('keep-alive,\u00a0close', 'close'), false);
  assert.equal(hasToken('keep-alive,\tclose ', 'close'), true);
  assert.deepEqual([...parseDirectives('\u00a0no-store, max-age=\u00a05')], [['\u00a0no-store', true], ['max-age', '\u00a05']]);
});

test('HeaderList.first: the first line only, for singleton fields', () => {
  const h = new HeaderList([['ETag', '"a"'], ['etag', '"b"']]);
  assert.equal(h.first('etag'), '"a"');
  assert.equal(h.get('etag'), '"a", "b"');
  assert.equal(h.first('date'), undefined);
});
