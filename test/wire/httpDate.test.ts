/** HTTP-date (RFC 9110 §5.6.7): the three formats exactly, nothing else, real calendar values only. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { currentHttpDate, formatHttpDate, parseHttpDate } from '../../src/wire/index.ts';

const T = Date.UTC(1994, 10, 6, 8, 49, 37);

test('IMF-fixdate, obsolete RFC 850 and asctime all read as the same instant', () => {
  assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), T);
  assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), T);
  assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), T);
  assert.equal(parseHttpDate('Sun Nov 06 08:49:37 1994'), T);
});

test('RFC 850: a two-digit year more than 50 years ahead is the past century', () => {
  const in2026 = Date.UTC(2026, 0, 1);
  assert.equal(parseHttpDate('Monday, 01-Jan-76 00:00:00 GMT', in2026), Date.UTC(2076, 0, 1));
  assert.equal(parseHttpDate('Tuesday, 01-Jan-77 00:00:00 GMT', in2026), Date.UTC(1977, 0, 1));
  assert.equal(parseHttpDate('Saturday, 01-Jan-00 00:00:00 GMT', in2026), Date.UTC(2000, 0, 1));
  // Late in the century, a small two-digit year is the next one, not the last.
  assert.equal(parseHttpDate('Friday, 01-Jan-10 00:00:00 GMT', Date.UTC(2090, 0, 1)), Date.UTC(2110, 0, 1));
});

test('anything that is not one of the three formats is not a date', () => {
  for (const bad of [
    '2024', '0', '-1', '', ' Sun, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 08:49:37 GMT ',
    'Sun, 06 Nov 1994 08:49:37 GMT; x', 'Sun, 06 Nov 1994 08:49:37 UTC', 'Sun, 06 Nov 1994 08:49:37 +0000',
    'Sun, 6 Nov 1994 08:49:37 GMT', 'sun, 06 nov 1994 08:49:37 GMT', 'Xyz, 06 Nov 1994 08:49:37 GMT',
    'Sun, 06 Foo 1994 08:49:37 GMT', '1994-11-06T08:49:37Z', 'Sun, 06 Nov 94 08:49:37 GMT',
    'Sun, 06-Nov-94 08:49:37 GMT', 'Sun Nov 6 08:49:37 1994', 'Sun,\u00a006 Nov 1994 08:49:37 GMT',
  ]) {
    assert.equal(parseHttpDate(bad), undefined, JSON.stringify(bad));
  }
});

test('calendar values out of range are refused, never rolled over (Date.parse would)', () => {
  for (const bad of [
    'Sun, 32 Nov 1994 08:49:37 GMT', 'Sun, 31 Nov 1994 08:49:37 GMT', 'Sun, 00 Nov 1994 08:49:37 GMT',
    'Tue, 29 Feb 2100 00:00:00 GMT', 'Sun, 06 Nov 1994 25:00:00 GMT', 'Sun, 06 Nov 1994 24:00:00 GMT',
    'Sun, 06 Nov 1994 08:60:00 GMT', 'Sun, 06 Nov 1994 08:49:61 GMT', 'Sunday, 32-Nov-94 08:49:37 GMT',
    'Sun Nov 32 08:49:37 1994', 'Sun Nov  6 25:49:37 1994',
  ]) {
    assert.equal(parseHttpDate(bad), undefined, bad);
  }
  assert.equal(parseHttpDate('Tue, 29 Feb 2000 00:00:00 GMT'), Date.UTC(2000, 1, 29));
  // 23:59:60 is a leap second, which the grammar allows.
  assert.equal(parseHttpDate('Sat, 31 Dec 2016 23:59:60 GMT'), Date.UTC(2017, 0, 1));
});

test('years below 100 are not moved to the 1900s', () => {
  assert.equal(new Date(parseHttpDate('Mon, 01 Jan 0001 00:00:00 GMT')!).getUTCFullYear(), 1);
});

test('formatHttpDate writes IMF-fixdate, which parses back; currentHttpDate is now, to the second', () => {
  assert.equal(formatHttpDate(T), 'Sun, 06 Nov 1994 08:49:37 GMT');
  const now = parseHttpDate(currentHttpDate())!;
  assert.ok(Math.abs(now - Date.now()) <= 1000);
});

test('case: strict by default (RFC 9110 §5.6.7); { anyCase } for cache freshness (RFC 9111 §4.2)', () => {
  for (const v of ['sun, 06 nov 1994 08:49:37 gmt', 'SUNDAY, 06-NOV-94 08:49:37 GMT', 'SUN NOV  6 08:49:37 1994']) {
    assert.equal(parseHttpDate(v), undefined, v);
    assert.equal(parseHttpDate(v, { anyCase: true }), T, v);
  }
  // Only case is loosened: another zone, or a wrong day name, is still no date.
  assert.equal(parseHttpDate('sun, 06 nov 1994 08:49:37 UTC', { anyCase: true }), undefined);
});
