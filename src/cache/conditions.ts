/**
 * A caller's own conditional GET/HEAD (RFC 9110 §13.1.2, §13.1.3, §13.2.2) evaluated against the
 * response the cache is about to return, and the 304 it then sends (RFC 9110 §15.4.5). Pure.
 * @module
 */
import type { CacheResponse, HeaderList } from './types.ts';
import { getFirstHeader, getHeader, parseHttpDate } from './headers.ts';
import { parseETag, parseETagList, weakMatch } from './etag.ts';

/** Whether the request carries If-None-Match or If-Modified-Since. */
export function hasCallerConditions(headers: HeaderList): boolean {
  return getHeader(headers, 'if-none-match') !== undefined || getHeader(headers, 'if-modified-since') !== undefined;
}

/**
 * Whether a 304 answers the caller's conditions for `response` (a 200 to a GET/HEAD):
 * If-None-Match uses weak comparison and, when present, If-Modified-Since is ignored (§13.2.2
 * steps 3–4); If-Modified-Since is false when the representation was modified after the date.
 */
export function conditionsSayNotModified(requestHeaders: HeaderList, response: Pick<CacheResponse, 'status' | 'headers'>): boolean {
  if (response.status !== 200) return false;
  const inm = getHeader(requestHeaders, 'if-none-match');
  if (inm !== undefined) {
    const list = parseETagList(inm);
    const tag = parseETag(getFirstHeader(response.headers, 'etag'));
    if (list === '*') return true; // a current representation exists
    return tag !== undefined && list.some((t) => weakMatch(t, tag));
  }
  const ims = parseHttpDate(getHeader(requestHeaders, 'if-modified-since'));
  if (ims === undefined) return false; // §13.1.3: an invalid date is ignored
  const lm = parseHttpDate(getFirstHeader(response.headers, 'last-modified'));
  return lm !== undefined && lm <= ims;
}

/** Fields a 304 carries from the 200 it stands for (RFC 9110 §15.4.5), plus Age from the cache. */
const KEPT_IN_304 = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified', 'age']);

/** The 304 that stands for `response`. */
export function notModifiedFor(response: Pick<CacheResponse, 'headers'>): CacheResponse {
  return {
    status: 304,
    statusText: 'Not Modified',
    headers: response.headers.filter(([n]) => KEPT_IN_304.has(n.toLowerCase())),
    body: new Uint8Array(0),
    cacheOutcome: 'generated',
  };
}
