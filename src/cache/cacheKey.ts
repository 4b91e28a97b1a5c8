/**
 * The primary cache key (RFC 9111 §2): the target URI of a GET, normalised (RFC 9110 §4.2.3)
 * and without a fragment.
 *
 * The normalisation is the WHATWG URL parser's (`new URL(url).href`). Parsing a URL costs a few
 * microseconds, as much as the rest of a memory-cache hit, so the common case takes a shortcut
 * with the same result: a URL made of an `http`/`https` origin and a path and query that the
 * parser provably leaves as they are ({@link urlKeepsPath}) is keyed as the parser's form of that
 * origin (computed once per origin) followed by the path and query as given. Anything else goes
 * through `new URL()`.
 * @module
 */

/** Normalised absolute URI used as the primary cache key. Throws on an invalid URL. */
export function cacheKey(url: string): string {
  const scheme = url.startsWith('http://') ? 7 : url.startsWith('https://') ? 8 : 0;
  if (scheme !== 0) {
    const slash = url.indexOf('/', scheme);
    if (slash !== -1 && plainOrigin(url, scheme, slash) && keepsPath(url, slash)) {
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

/**
 * Whether the authority `url[from, to)` has nothing that could move where the parser ends it:
 * no userinfo (`@`), no backslash (a path separator in special schemes), no `?` or `#`, no
 * whitespace or control. Host letters, digits, `.`, `-`, `_`, `~`, `%`, `:` and brackets (IPv6) only;
 * the parser's own result for the origin is what is used, so case and default ports are its business.
 */
function plainOrigin(url: string, from: number, to: number): boolean {
  if (to === from) return false;
  for (let i = from; i < to; i++) {
    const c = url.charCodeAt(i);
    if (c >= 0x80 || ORIGIN_CHAR[c] !== 1) return false;
  }
  return true;
}

/**
 * Whether `new URL()` leaves an origin-form path and query (starting with `/`) exactly as they are
 * (no percent-encoding added, no dot-segment removed, no backslash turned into a slash), judged
 * conservatively: `false` means "maybe not", and the caller then asks the parser itself.
 */
export function urlKeepsPath(pathAndQuery: string): boolean {
  return pathAndQuery.charCodeAt(0) === 0x2f && keepsPath(pathAndQuery, 0);
}

/**
 * `urlKeepsPath` for `s` from `from` (a `/`). In the path: unreserved characters, sub-delims but
 * `'`, `:`, `@`, `%` and `/`, with no segment starting with `.` or `%` (a dot-segment may be spelt
 * `%2e`) and no empty first segment (`//host` would name an authority). In the query: the same set
 * plus `?` (the parser encodes `'` there, so it is refused), and not empty. No fragment.
 */
function keepsPath(s: string, from: number): boolean {
  let query = false;
  const n = s.length;
  if (from + 1 < n && s.charCodeAt(from + 1) === 0x2f) return false;
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || PATH_CHAR[c] !== 1) {
      // An empty query (a final `?`) reads back as no search at all from `URL.search`.
      if (c === 0x3f /* ? */ && i + 1 < n) {
        query = true;
        continue;
      }
      return false;
    }
    if (c === 0x2f && !query) {
      const next = s.charCodeAt(i + 1);
      if (next === 0x2e /* . */ || next === 0x25 /* % */) return false;
    }
  }
  return true;
}

function table(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ORIGIN_CHAR = table(`${ALNUM}.-_~%:[]`);
const PATH_CHAR = table(`${ALNUM}-._~!$&()*+,;=:@%/`);
