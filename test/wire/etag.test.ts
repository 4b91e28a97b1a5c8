/** Entity-tags (RFC 9110 §8.8.3) and the If-Match / If-None-Match conditions (§13.1.1, §13.1.2). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ifMatchPasses, ifNoneMatchPasses, parseEntityTag, parseEntityTagList, strongMatch, weakMatch } from '../../src/wire/index.ts';

const tag = (s: string) => parseEntityTag(s)!;

test('parse: strong and weak tags; malformed ones are undefined', () => {
  assert.deepEqual(parseEntityTag('"xyzzy"'), { weak: false, opaque: '"xyzzy"' });
  assert.deepEqual(parseEntityTag('W/"xyzzy"'), { weak: true, opaque: '"xyzzy"' });
  assert.deepEqual(parseEntityTag('""'), { weak: false, opaque: '""' });
  for (const bad of ['xyzzy', '"x', 'x"', 'w/"x"', 'W/x', '"a"b"', '"a b"', '"a\u0001"', ' "x"', '"x" ', '*']) {
    assert.equal(parseEntityTag(bad), undefined, bad);
  }
});

test('§8.8.3.2 comparison table', () => {
  assert.equal(strongMatch(tag('W/"1"'), tag('W/"1"')), false);
  assert.equal(weakMatch(tag('W/"1"'), tag('W/"1"')), true);
  assert.equal(strongMatch(tag('W/"1"'), tag('W/"2"')), false);
  assert.equal(weakMatch(tag('W/"1"'), tag('W/"2"')), false);
  assert.equal(strongMatch(tag('W/"1"'), tag('"1"')), false);
  assert.equal(weakMatch(tag('W/"1"'), tag('"1"')), true);
  assert.equal(strongMatch(tag('"1"'), tag('"1"')), true);
  assert.equal(weakMatch(tag('"1"'), tag('"1"')), true);
});

test('lists: quote-aware, `*` alone is the wildcard, malformed members dropped', () => {
  assert.equal(parseEntityTagList('*'), '*');
  assert.deepEqual(parseEntityTagList('"a,b", W/"c" ,junk'), [{ weak: false, opaque: '"a,b"' }, { weak: true, opaque: '"c"' }]);
});

test('If-None-Match: weak comparison; `*` matches any current representation', () => {
  assert.equal(ifNoneMatchPasses('"x", W/"e"', tag('"e"')), false);
  assert.equal(ifNoneMatchPasses('"e"', tag('W/"e"')), false);
  assert.equal(ifNoneMatchPasses('"a,e"', tag('"e"')), true);
  assert.equal(ifNoneMatchPasses('*', tag('"e"')), false);
  assert.equal(ifNoneMatchPasses('*', undefined, false), true);
  assert.equal(ifNoneMatchPasses('"e"', undefined), true);
});

test('If-Match: strong comparison, so a weak tag never matches; `*` needs a representation', () => {
  assert.equal(ifMatchPasses('"e"', tag('"e"')), true);
  assert.equal(ifMatchPasses('W/"e"', tag('W/"e"')), false);
  assert.equal(ifMatchPasses('"e"', tag('W/"e"')), false);
  assert.equal(ifMatchPasses('*', tag('W/"e"')), true);
  assert.equal(ifMatchPasses('*', undefined, false), false);
});
