/**
 * Whether a selected stored response may answer a request as it is, stale, or only after
 * validation (RFC 9111 §4, §4.2.4, §5.2; RFC 5861 for stale-while-revalidate / stale-if-error).
 * Pure.
 * @module
 */
import type { CacheMode } from './types.ts';
import { deltaSeconds } from './cacheControl.ts';
import type { Directives } from './cacheControl.ts';

/** What the reuse decision looks at. */
export interface ReuseInput {
  mode: CacheMode;
  requestDirectives: Directives;
  responseDirectives: Directives;
  /** freshness_lifetime, seconds (§4.2.1). */
  lifetime: number;
  /** current_age, seconds (§4.2.3). */
  age: number;
}

/**
 * - `fresh`: serve without contacting the origin;
 * - `stale`: serve stale because the client allowed it (max-stale);
 * - `stale-while-revalidate`: serve stale and validate in the background;
 * - `validate`: a conditional request must be made first.
 */
export type Reuse = 'fresh' | 'stale' | 'stale-while-revalidate' | 'validate';

/**
 * Whether stale reuse is forbidden whatever the client allows: response no-cache (§5.2.2.4),
 * must-revalidate (§5.2.2.2), and in a shared cache proxy-revalidate (§5.2.2.8) or s-maxage,
 * which "incorporates the semantics of proxy-revalidate" (§5.2.2.10).
 */
export function staleForbidden(mode: CacheMode, res: Directives): boolean {
  if (res.has('must-revalidate') || res.has('no-cache')) return true;
  return mode === 'shared' && (res.has('proxy-revalidate') || res.has('s-maxage'));
}

/** Decide how the selected response may be reused (§4). */
export function decideReuse(x: ReuseInput): Reuse {
  const req = x.requestDirectives;
  const res = x.responseDirectives;
  // §5.2.2.4: a response no-cache (unqualified; a qualified one is treated the same, which the
  // RFC allows) must be validated before every reuse. §5.2.1.4: so must a request no-cache.
  if (res.has('no-cache') || req.has('no-cache')) return 'validate';
  // §5.2.1.1: request max-age — not willing to accept a response older than this.
  const reqMaxAge = deltaSeconds(req, 'max-age');
  if (reqMaxAge !== undefined && (reqMaxAge === null || x.age > reqMaxAge)) return 'validate';
  const remaining = x.lifetime - x.age;
  if (remaining > 0) {
    // §5.2.1.3: min-fresh — wants at least this much freshness left.
    const minFresh = deltaSeconds(req, 'min-fresh');
    if (minFresh === null || (minFresh !== undefined && remaining < minFresh)) return 'validate';
    return 'fresh';
  }
  // Stale (§4.2: fresh only while freshness_lifetime > current_age).
  if (staleForbidden(x.mode, res)) return 'validate';
  const staleness = -remaining;
  // §5.2.1.2: max-stale, with no argument any staleness, else up to that many seconds.
  if (req.has('max-stale')) {
    if (req.get('max-stale') === '') return 'stale';
    const limit = deltaSeconds(req, 'max-stale');
    if (typeof limit === 'number' && staleness <= limit) return 'stale';
  }
  // RFC 5861 §3: stale-while-revalidate=N serves stale up to N seconds past freshness.
  const swr = deltaSeconds(res, 'stale-while-revalidate');
  if (typeof swr === 'number' && staleness <= swr) return 'stale-while-revalidate';
  return 'validate';
}

/**
 * Whether a stale response may be served because validation failed (an error, or a 500, 502,
 * 503 or 504): RFC 5861 §4 stale-if-error=N in the response or the request, within N seconds
 * past freshness; never when stale reuse is forbidden (§4.2.4: must-revalidate etc.).
 */
export function staleIfErrorAllows(x: ReuseInput): boolean {
  if (staleForbidden(x.mode, x.responseDirectives)) return false;
  const staleness = x.age - x.lifetime;
  for (const d of [x.requestDirectives, x.responseDirectives]) {
    const n = deltaSeconds(d, 'stale-if-error');
    if (typeof n === 'number' && staleness <= n) return true;
  }
  return false;
}

/** Status codes RFC 5861 §4 counts as errors for stale-if-error. */
export const ERROR_STATUSES: ReadonlySet<number> = new Set([500, 502, 503, 504]);
