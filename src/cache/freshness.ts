/**
 * Freshness lifetime and age (RFC 9111 §4.2). Pure functions; times are milliseconds since the
 * epoch, results are seconds.
 * @module
 */
import type { CacheMode } from './types.ts';
import type { HeaderList } from '../wire/headers.ts';
import { parseHttpDate } from '../wire/httpDate.ts';
import { splitList } from '../wire/fields.ts';
import { trimOws } from '../wire/chars.ts';
import { deltaSeconds, parseCacheControl } from './cacheControl.ts';
import type { Directives } from './cacheControl.ts';

/** Status codes that are heuristically cacheable (RFC 9110 §15.1). */
export const HEURISTICALLY_CACHEABLE = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/** Tuning of heuristic freshness (§4.2.2). */
export interface HeuristicOptions {
  /** Fraction of the time since Last-Modified used as lifetime (§4.2.2 suggests 10%). */
  fraction: number;
  /** Upper bound on a heuristic lifetime, seconds. */
  maxSeconds: number;
}

export const DEFAULT_HEURISTICS: HeuristicOptions = { fraction: 0.1, maxSeconds: 86_400 };

/** The parts of a response freshness depends on. */
export interface FreshnessInput {
  status: number;
  headers: HeaderList;
  /**
   * When the response was received (ms). RFC 9110 §6.6.1: a response without a valid Date is
   * dated by its receipt, so Expires and heuristics still have a date to count from.
   */
  responseTime?: number;
}

/**
 * A date a cache computes freshness or age from (Date, Expires, Last-Modified). RFC 9111 §4.2:
 * "a cache recipient SHOULD match the field value case-insensitively"; everything else about the
 * three formats stays strict (one parser, wire/httpDate.ts).
 */
export function freshnessDate(value: string | undefined): number | undefined {
  return parseHttpDate(value, { anyCase: true });
}

/** date_value (§4.2.3): the Date field, or the time of receipt when it is missing or invalid. */
function dateValue(res: FreshnessInput): number | undefined {
  return freshnessDate(res.headers.first('date')) ?? res.responseTime;
}

/**
 * freshness_lifetime in seconds (§4.2.1): s-maxage (shared caches only), then max-age, then
 * Expires − Date, then a heuristic (§4.2.2) only when the response has no explicit expiration
 * and its status is heuristically cacheable or it is marked `public`. `useExpires` is false when
 * `cc` came from a targeted field (RFC 9213 §2.2: Expires is then ignored too).
 */
export function freshnessLifetime(res: FreshnessInput, mode: CacheMode, cc: Directives = parseCacheControl(res.headers), heuristics: HeuristicOptions = DEFAULT_HEURISTICS, useExpires = true): number {
  if (mode === 'shared') {
    const s = deltaSeconds(cc, 's-maxage');
    if (s !== undefined) return s ?? 0; // invalid -> stale (§4.2.1)
  }
  const maxAge = deltaSeconds(cc, 'max-age');
  if (maxAge !== undefined) return maxAge ?? 0;
  const expiresLines = useExpires ? res.headers.getAll('expires') : [];
  if (expiresLines.length > 0) {
    // §4.2.1: several differing Expires values may be read as stale; §5.3: an invalid Expires
    // (e.g. "0") means "already expired".
    if (new Set(expiresLines).size > 1) return 0;
    const expires = freshnessDate(expiresLines[0]);
    if (expires === undefined) return 0;
    const date = dateValue(res);
    if (date === undefined) return 0;
    return Math.max(0, (expires - date) / 1000);
  }
  // §4.2.2: heuristics only without explicit expiration, and only where allowed (§3 / §4.2.2).
  if (!HEURISTICALLY_CACHEABLE.has(res.status) && !cc.has('public')) return 0;
  const lastModified = freshnessDate(res.headers.first('last-modified'));
  const date = dateValue(res);
  if (lastModified === undefined || date === undefined || lastModified >= date) return 0;
  return Math.min(heuristics.maxSeconds, Math.floor(((date - lastModified) / 1000) * heuristics.fraction));
}

/** Whether the lifetime came from explicit expiration information (for storability, §3). */
export function hasExplicitExpiration(headers: HeaderList, mode: CacheMode, cc: Directives = parseCacheControl(headers), useExpires = true): boolean {
  return cc.has('max-age') || (mode === 'shared' && cc.has('s-maxage')) || (useExpires && headers.has('expires'));
}

/** The timing facts age is computed from. */
export interface AgeInput {
  headers: HeaderList;
  /** When the request that produced the response was sent (ms). */
  requestTime: number;
  /** When the response was received (ms). */
  responseTime: number;
}

/**
 * current_age in seconds at `now` (§4.2.3):
 * apparent_age = max(0, response_time − date_value);
 * corrected_age_value = age_value + (response_time − request_time);
 * corrected_initial_age = max(apparent_age, corrected_age_value);
 * current_age = corrected_initial_age + (now − response_time).
 */
export function currentAge(entry: AgeInput, now: number): number {
  const date = freshnessDate(entry.headers.first('date')) ?? entry.responseTime;
  const ageValue = ageFieldValue(entry.headers);
  const apparentAge = Math.max(0, (entry.responseTime - date) / 1000);
  const responseDelay = Math.max(0, (entry.responseTime - entry.requestTime) / 1000);
  const correctedAgeValue = ageValue + responseDelay;
  const correctedInitialAge = Math.max(apparentAge, correctedAgeValue);
  const residentTime = Math.max(0, (now - entry.responseTime) / 1000);
  return correctedInitialAge + residentTime;
}

/**
 * age_value (§5.1): the Age field in seconds, 0 when absent or invalid. A list-valued Age (or
 * several lines) uses its first member; an invalid value (not a non-negative integer) is
 * ignored. Larger than 2^31 reads as 2^31 (§1.2.2).
 */
export function ageFieldValue(headers: HeaderList): number {
  const line = headers.first('age');
  if (line === undefined) return 0;
  const member = trimOws(splitList(line)[0] ?? '');
  if (!/^[0-9]+$/.test(member)) return 0;
  return Math.min(MAX_AGE_VALUE, Number(member));
}

/** The Age field value to send with a stored response (§5.1: whole seconds). */
export function ageHeaderValue(ageSeconds: number): string {
  return String(Math.min(MAX_AGE_VALUE, Math.floor(ageSeconds)));
}

const MAX_AGE_VALUE = 2 ** 31;
