/**
 * Whether a response may be stored (RFC 9111 §3, §3.5, §5.2). Pure.
 * @module
 */
import type { CacheMode } from './types.ts';
import type { HeaderList } from '../wire/headers.ts';
import type { Directives } from './cacheControl.ts';
import { HEURISTICALLY_CACHEABLE, hasExplicitExpiration } from './freshness.ts';
import { varyFields } from './vary.ts';
import { parseContentRange } from '../wire/byteRanges.ts';

/**
 * Status codes this cache understands (§3: "the cache understands the response status code";
 * also what `must-understand` is checked against, §5.2.2.3). A 206 is stored as an incomplete
 * response (§3.3, ranges.ts); a 304 is understood but never stored: it only freshens.
 */
export const UNDERSTOOD_STATUS = new Set([200, 203, 204, 206, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 421, 451, 500, 501, 502, 503, 504]);

/** What the storability decision looks at. */
export interface StorabilityInput {
  mode: CacheMode;
  method: string;
  requestHeaders: HeaderList;
  requestDirectives: Directives;
  status: number;
  responseHeaders: HeaderList;
  responseDirectives: Directives;
  /** False when the directives came from a targeted field (RFC 9213 §2.2: Expires is ignored). */
  useExpires?: boolean;
}

/** `undefined` when the response may be stored, else the reason it may not. */
export function whyNotStorable(x: StorabilityInput): string | undefined {
  const cc = x.responseDirectives;
  // §3: only methods whose responses are defined cacheable and that this cache knows: GET.
  if (x.method !== 'GET') return 'method';
  // §3: the status must be final, and understood by the cache. A 1xx is interim: never stored,
  // and the final response that follows it is judged on its own.
  if (x.status < 200 || x.status === 304) return 'status';
  // §3.3: a 206 may be stored as an incomplete response when the cache understands its range
  // unit: one part of bytes, with the complete length known (a multipart/byteranges 206 or an
  // unknown length is passed on unstored).
  if (x.status === 206 && parseContentRange(x.responseHeaders.first('content-range')) === undefined) return 'partial';
  if (cc.has('must-understand')) {
    // §5.2.2.3: with must-understand, an understood status overrides no-store; else never store.
    if (!UNDERSTOOD_STATUS.has(x.status)) return 'must-understand';
  } else if (cc.has('no-store')) return 'no-store'; // §5.2.2.5
  // §5.2.1.5: a request no-store forbids storing any response to it.
  if (x.requestDirectives.has('no-store')) return 'request no-store';
  // §5.2.2.7: a shared cache must not store a `private` response (qualified or not: treating the
  // qualified form as unqualified is allowed and safer).
  if (x.mode === 'shared' && cc.has('private')) return 'private';
  // §3.5: a shared cache stores a response to an Authorization request only when the response
  // explicitly allows it.
  if (x.mode === 'shared' && x.requestHeaders.has('authorization') && !cc.has('must-revalidate') && !cc.has('public') && !cc.has('s-maxage')) {
    return 'authorization';
  }
  // §4.1: `Vary: *` never matches a later request, so storing it is pointless.
  if (varyFields(x.responseHeaders).includes('*')) return 'vary *';
  // §3: one of: public, private (private cache), Expires, max-age, s-maxage (shared), or a
  // heuristically cacheable status.
  if (cc.has('public')) return undefined;
  if (x.mode === 'private' && cc.has('private')) return undefined;
  if (hasExplicitExpiration(x.responseHeaders, x.mode, cc, x.useExpires ?? true)) return undefined;
  if (HEURISTICALLY_CACHEABLE.has(x.status)) return undefined;
  return 'no freshness information';
}
