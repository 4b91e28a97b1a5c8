/**
 * The primary cache key (RFC 9111 §2): the target URI of a GET, normalised (RFC 9110 §4.2.3)
 * and without a fragment.
 * @module
 */

/** Normalised absolute URI used as the primary cache key. Throws on an invalid URL. */
export function cacheKey(url: string): string {
  const u = new URL(url);
  u.hash = '';
  return u.href;
}
