/**
 * A caller's own conditional GET/HEAD (RFC 9110 §13.1.2, §13.1.3, §13.2.2) evaluated against the
 * response the cache is about to return, and the 304 it then sends (RFC 9110 §15.4.5). Pure.
 * @module
 */
import type { CacheResponse } from './types.ts';
import { HeaderList } from '../wire/headers.ts';
import { parseHttpDate } from '../wire/httpDate.ts';
import { ifNoneMatchPasses, parseEntityTag } from '../wire/etag.ts';

/** Whether the request carries If-None-Match or If-Modified-Since. */
export function hasCallerConditions(headers: HeaderList): boolean {
  return headers.has('if-none-match') || headers.has('if-modified-since');
}

/**
 * Whether a 304 answers the caller's conditions for `response` (a 200 to a GET/HEAD):
 * If-None-Match uses weak comparison and, when present, If-Modified-Since is ignored (§13.2.2
 * steps 3–4); If-Modified-Since is false when the representation was modified after the date.
 */
export function conditionsSayNotModified(requestHeaders: HeaderList, response: Pick<CacheResponse, 'status' | 'headers'>): boolean {
  if (response.status !== 200) return false;
  const inm = requestHeaders.get('if-none-match');
  // A current representation exists: `*` matches it.
  if (inm !== undefined) return !ifNoneMatchPasses(inm, parseEntityTag(response.headers.first('etag')));
  const ims = parseHttpDate(requestHeaders.get('if-modified-since'));
  if (ims === undefined) return false; // §13.1.3: an invalid date is ignored
  const lm = parseHttpDate(response.headers.first('last-modified'));
  return lm !== undefined && lm <= ims;
}

/** Fields a 304 carries from the 200 it stands for (RFC 9110 §15.4.5), plus Age from the cache. */
const KEPT_IN_304 = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified', 'age']);

/** The 304 that stands for `response`. */
export function notModifiedFor(response: Pick<CacheResponse, 'headers'>): CacheResponse {
  return {
    status: 304,
    statusText: 'Not Modified',
    headers: new HeaderList(response.headers.entries().filter(([n]) => KEPT_IN_304.has(n.toLowerCase()))),
    body: new Uint8Array(0),
    cacheOutcome: 'generated',
  };
}
