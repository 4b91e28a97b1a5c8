/**
 * Targeted cache control (RFC 9213): `CDN-Cache-Control`, or a field named for one cache, takes
 * the place of `Cache-Control` and `Expires` for the caches it targets. Pure.
 * @module
 */
import type { HeaderList } from '../wire/headers.ts';
import { parseDictionary } from '../wire/structuredFields.ts';
import { parseCacheControl } from './cacheControl.ts';
import type { Directives } from './cacheControl.ts';
import type { CacheMode } from './types.ts';

/** The targeted field every CDN-like shared cache obeys (RFC 9213 §2). */
export const CDN_CACHE_CONTROL = 'cdn-cache-control';

/** The response directives that govern storing and reuse, and where they came from. */
export interface ResponsePolicy {
  directives: Directives;
  /** The targeted field used, or `undefined` when `Cache-Control` (and `Expires`) apply. */
  targeted: string | undefined;
}

/**
 * RFC 9213 §2.2: a cache with a target list uses the first field of the list, in list order,
 * with a valid non-empty value, and then ignores `Cache-Control` and `Expires`; with none, it
 * falls back to them. A value that is not a valid Dictionary (RFC 8941) is ignored, as if absent.
 * Only shared caches are targeted (a private cache has an empty list).
 *
 * Dictionary members map to directives as §2.1 says: a bare `private` is `true`, `max-age=60` an
 * integer; a `false` member is absent; a String argument (`no-cache="x"`) reads as its content.
 */
export function responsePolicy(headers: HeaderList, mode: CacheMode, targets: readonly string[]): ResponsePolicy {
  if (mode === 'shared') {
    for (const name of targets) {
      const value = headers.get(name);
      if (value === undefined) continue;
      const dict = parseDictionary(value);
      if (dict === undefined || dict.size === 0) continue;
      const directives = new Map<string, string>();
      for (const [k, item] of dict) {
        if (item.type === 'boolean') {
          if (item.value) directives.set(k, '');
        } else if (item.type === 'integer') {
          // A negative integer stays as written: delta-seconds rejects it (invalid = stale).
          directives.set(k, String(item.value));
        } else if (item.type === 'string' || item.type === 'token') directives.set(k, item.value);
        // Decimals, byte sequences and inner lists are no directive argument RFC 9111 defines:
        // keep the directive, with an argument delta-seconds rejects.
        else directives.set(k, '?');
      }
      return { directives, targeted: name };
    }
  }
  return { directives: parseCacheControl(headers), targeted: undefined };
}
