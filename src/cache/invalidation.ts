/**
 * Invalidation after unsafe methods (RFC 9111 §4.4). Pure.
 * @module
 */
import type { HeaderList } from '../wire/headers.ts';
import { trimOws } from '../wire/chars.ts';
import { cacheKey } from './cacheKey.ts';

/** Safe methods (RFC 9110 §9.2.1); every other method, known or not, is treated as unsafe. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/**
 * Cache keys to invalidate after `method` on `url` answered with `status` (§4.4): none unless the
 * method is unsafe and the status is a non-error (2xx, 3xx); then the target URI, and the
 * Location and Content-Location URIs when they have the same origin (a cache "MUST NOT trigger an
 * invalidation" for another host, which would let one origin evict another's responses).
 */
export function invalidationKeys(method: string, url: string, status: number, responseHeaders: HeaderList): string[] {
  if (SAFE_METHODS.has(method) || status < 200 || status >= 400) return [];
  const target = new URL(url);
  const keys = new Set([cacheKey(url)]);
  for (const field of ['location', 'content-location']) {
    const v = responseHeaders.first(field);
    if (v === undefined) continue;
    let u: URL;
    try {
      u = new URL(trimOws(v), target);
    } catch {
      continue;
    }
    if (u.origin === target.origin) keys.add(cacheKey(u.href));
  }
  return [...keys];
}
