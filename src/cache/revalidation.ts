/**
 * Validation of a stored response with the origin (RFC 9111 §4.3): building the conditional
 * request, deciding whether a 304 refers to the response at hand (§4.3.4), and merging the 304's
 * header fields into it (§3.2). Pure.
 * @module
 */
import type { StoredEntry } from './types.ts';
import { HeaderList } from '../wire/headers.ts';
import { parseHttpDate } from '../wire/httpDate.ts';
import { parseEntityTag, strongMatch, weakMatch } from '../wire/etag.ts';
import { connectionNominated, isHopByHop } from '../wire/hopByHop.ts';

/** Request fields by which a caller asks for a conditional response; the cache owns these upstream. */
export const CONDITIONAL_REQUEST_FIELDS: ReadonlySet<string> = new Set(['if-none-match', 'if-modified-since']);

/** Whether a stored response carries a validator the origin can be asked about. */
export function hasValidator(entry: Pick<StoredEntry, 'headers'>): boolean {
  return parseEntityTag(entry.headers.first('etag')) !== undefined || parseHttpDate(entry.headers.first('last-modified')) !== undefined;
}

/**
 * The validators to add to a request that validates `entry` (§4.3.1): its entity-tag in
 * If-None-Match and its Last-Modified in If-Modified-Since. Only this one response's validators
 * are sent, so a 304 can refer to nothing but the response held at hand.
 */
export function conditionalHeaders(entry: Pick<StoredEntry, 'headers'>): HeaderList {
  const out = new HeaderList();
  const etag = entry.headers.first('etag');
  if (parseEntityTag(etag) !== undefined) out.append('if-none-match', etag!);
  const lm = entry.headers.first('last-modified');
  if (parseHttpDate(lm) !== undefined) out.append('if-modified-since', lm!);
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
  const newTag = parseEntityTag(notModifiedHeaders.first('etag'));
  const heldTag = parseEntityTag(held.headers.first('etag'));
  if (newTag !== undefined) {
    if (heldTag === undefined) return false;
    return newTag.weak ? weakMatch(newTag, heldTag) : strongMatch(newTag, heldTag);
  }
  const newLm = parseHttpDate(notModifiedHeaders.first('last-modified'));
  if (newLm !== undefined) return parseHttpDate(held.headers.first('last-modified')) === newLm;
  return true;
}

/** Whether `other` has the same strong validator as a 304 (§4.3.4: all such responses are updated). */
export function sharesStrongValidator(other: Pick<StoredEntry, 'headers'>, notModifiedHeaders: HeaderList): boolean {
  const a = parseEntityTag(notModifiedHeaders.first('etag'));
  const b = parseEntityTag(other.headers.first('etag'));
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
  const nominated = connectionNominated(notModified);
  const incoming = notModified.entries().filter(([n]) => {
    const l = n.toLowerCase();
    return !isHopByHop(l, 'store') && !nominated.has(l) && !NOT_UPDATED.has(l);
  });
  const replaced = new Set(incoming.map(([n]) => n.toLowerCase()));
  replaced.add('age');
  const out = new HeaderList();
  for (const [n, v] of stored) {
    const l = n.toLowerCase();
    if (!replaced.has(l)) out.push(n, l, v);
  }
  for (const [n, v] of incoming) out.push(n, n.toLowerCase(), v);
  return out;
}
