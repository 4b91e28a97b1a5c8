/**
 * The primary cache key (RFC 9111 §2): the target URI of a GET, normalised (RFC 9110 §4.2.3)
 * and without a fragment.
 *
 * The normalisation is the WHATWG URL parser's (`new URL(url).href`). Parsing a URL costs a few
 * microseconds, as much as the rest of a memory-cache hit, so the common case takes a shortcut
 * with the same result: a URL made of an `http`/`https` origin and a path and query that the
 * parser provably leaves as they are (`plainPathStart` in `wire/urlPath.ts`) is keyed as the
 * parser's form of that origin (computed once per origin) followed by the path and query as
 * given. Anything else goes through `new URL()`.
 * @module
 */
import { plainPathStart } from '../wire/urlPath.ts';

/** Normalised absolute URI used as the primary cache key. Throws on an invalid URL. */
export function cacheKey(url: string): string {
  const slash = plainPathStart(url);
  if (slash !== -1) {
    const origin = url.slice(0, slash);
    let normalised = origins.get(origin);
    if (normalised === undefined) {
      normalised = parsedKey(`${origin}/`).slice(0, -1);
      // Bounded: a proxy sees a handful of hosts; a flood of distinct Host values only churns it.
      if (origins.size >= MAX_ORIGINS) origins.clear();
      origins.set(origin, normalised);
    }
    return normalised === origin ? url : normalised + url.slice(slash);
  }
  return parsedKey(url);
}

function parsedKey(url: string): string {
  const u = new URL(url);
  u.hash = '';
  return u.href;
}

/** Origins (as given, without the trailing slash) and their normalised form. */
const origins = new Map<string, string>();
const MAX_ORIGINS = 256;
