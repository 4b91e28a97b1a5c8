/**
 * Validation of a stored response with the origin (RFC 9111 §4.3): building the conditional
 * request, deciding whether a 304 refers to the response at hand (§4.3.4), and merging the 304's
 * header fields into it (§3.2). Pure.
 * @module
 */
import type { HeaderList, StoredEntry } from './types.ts';
import { getFirstHeader, hopByHopNames, parseHttpDate, withoutHeaders } from './headers.ts';
import { parseETag, strongMatch, weakMatch } from './etag.ts';

/** Request fields by which a caller asks for a conditional response; the cache owns these upstream. */
export const CONDITIONAL_REQUEST_FIELDS: ReadonlySet<string> = new Set(['if-none-match', 'if-modified-since']);

/** Whether a stored response carries a validator the origin can be asked about. */
export function hasValidator(entry: Pick<StoredEntry, 'headers'>): boolean {
  return parseETag(getFirstHeader(entry.headers, 'etag')) !== undefined || parseHttpDate(getFirstHeader(entry.headers, 'last-modified')) !== undefined;
}

/**
 * The validators to add to a request that validates `entry` (§4.3.1): its entity-tag in
 * If-None-Match and its Last-Modified in If-Modified-Since. Only this one response's validators
 * are sent, so a 304 can refer to nothing but the response held at hand.
 */
export function conditionalHeaders(entry: Pick<StoredEntry, 'headers'>): HeaderList {
  const out: HeaderList = [];
  const etag = getFirstHeader(entry.headers, 'etag');
  if (parseETag(etag) !== undefined) out.push(['if-none-match', etag!.trim()]);
  const lm = getFirstHeader(entry.headers, 'last-modified');
  if (parseHttpDate(lm) !== undefined) out.push(['if-modified-since', lm!.trim()]);
  return out;
}

/**
 * Whether a 304 received for a conditional request built from `held` identifies `held` for
 * update (§4.3.4):
 * - the 304 has an entity-tag: it must match the held one (strong comparison for a strong tag,
 *   weak comparison when the 304's tag is weak);
 * - else it has Last-Modified: it must equal the held one;
 * - else it carries no validator: it answers the only validators we sent, which were held's.
 */
export function notModifiedMatches(held: Pick<StoredEntry, 'headers'>, notModifiedHeaders: HeaderList): boolean {
  const newTag = parseETag(getFirstHeader(notModifiedHeaders, 'etag'));
  const heldTag = parseETag(getFirstHeader(held.headers, 'etag'));
  if (newTag !== undefined) {
    if (heldTag === undefined) return false;
    return newTag.weak ? weakMatch(newTag, heldTag) : strongMatch(newTag, heldTag);
  }
  const newLm = parseHttpDate(getFirstHeader(notModifiedHeaders, 'last-modified'));
  if (newLm !== undefined) return parseHttpDate(getFirstHeader(held.headers, 'last-modified')) === newLm;
  return true;
}

/** Whether `other` has the same strong validator as a 304 (§4.3.4: all such responses are updated). */
export function sharesStrongValidator(other: Pick<StoredEntry, 'headers'>, notModifiedHeaders: HeaderList): boolean {
  const a = parseETag(getFirstHeader(notModifiedHeaders, 'etag'));
  const b = parseETag(getFirstHeader(other.headers, 'etag'));
  return a !== undefined && b !== undefined && strongMatch(a, b);
}

/**
 * Fields a 304 never overwrites in a stored response (§3.2): Content-Length, and the fields the
 * stored body's integrity depends on (Content-Encoding, Content-Type, Content-Range, ETag: the
 * body is the one the stored ETag names).
 */
const NOT_UPDATED = new Set(['content-length', 'content-encoding', 'content-type', 'content-range', 'etag']);

/**
 * The stored header section updated by a 304 (§3.2, §4.3.4): every field of the 304 replaces the
 * stored field of the same name, except hop-by-hop fields (§3.1) and {@link NOT_UPDATED}. A stored
 * Age is dropped unless the 304 brings its own: the response was just validated by the origin,
 * and age is recomputed from this exchange (§4.2.3).
 */
export function mergeNotModified(stored: HeaderList, notModified: HeaderList): HeaderList {
  const skip = hopByHopNames(notModified);
  const incoming = notModified.filter(([n]) => {
    const l = n.toLowerCase();
    return !skip.has(l) && !NOT_UPDATED.has(l);
  });
  const replaced = new Set(incoming.map(([n]) => n.toLowerCase()));
  replaced.add('age');
  return [...withoutHeaders(stored, replaced), ...incoming];
}
