/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, read by the one wire parser. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRetryAfter } from '../../src/client/retry.ts';

const NOW = Date.UTC(2026, 0, 1);

test('delay-seconds and the three HTTP-date formats', () => {
  assert.equal(parseRetryAfter('120', NOW), 120_000);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', NOW), 30_000);
  assert.equal(parseRetryAfter('Thursday, 01-Jan-26 00:00:30 GMT', NOW), 30_000);
  assert.equal(parseRetryAfter('Thu Jan  1 00:00:30 2026', NOW), 30_000);
  assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', NOW), 0);
});

test('what is neither is ignored, not guessed (Date.parse reads these as dates)', () => {
  for (const bad of ['Jan 1 2027', '-1', '1.5', 'Thu, 32 Jan 2026 00:00:30 GMT', '2026-01-01T00:01:00Z', 'soon']) {
    assert.equal(parseRetryAfter(bad, NOW), undefined, bad);
  }
});
