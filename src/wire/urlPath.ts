/**
 * Where the WHATWG URL parser provably leaves a URL as written, so that code on a hot path (the
 * cache key, the client's request target) can skip `new URL()` — which costs a few microseconds,
 * as much as a memory-cache hit — without ever giving a different answer: the checks are
 * conservative, and a "no" only means "ask the parser".
 * @module
 */

function table(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ORIGIN_CHAR = table(`${ALNUM}.-_~%:[]`);
const PATH_CHAR = table(`${ALNUM}-._~!$&()*+,;=:@%/`);

/**
 * Whether the authority `url[from, to)` has nothing that could move where the parser ends it:
 * no userinfo (`@`), no backslash (a path separator in special schemes), no `?` or `#`, no
 * whitespace or control. Host letters, digits, `.`, `-`, `_`, `~`, `%`, `:` and brackets (IPv6)
 * only; the parser's own reading of the origin is still what callers use, so case and default
 * ports are its business.
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
 * Whether the parser keeps `s` from `from` (a `/`) to its end as written. In the path: unreserved
 * characters, sub-delims but `'`, `:`, `@`, `%` and `/`, with no segment starting with `.` or `%`
 * (a dot-segment may be spelt `%2e`) and no empty first segment (`//host` would name an
 * authority). In the query: the same set plus `?` (the parser encodes `'` there, so it is
 * refused), and not empty. No fragment.
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

/**
 * Whether `new URL()` leaves an origin-form path and query (starting with `/`) exactly as they are
 * (no percent-encoding added, no dot-segment removed, no backslash turned into a slash), judged
 * conservatively: `false` means "maybe not", and the caller then asks the parser itself.
 */
export function urlKeepsPath(pathAndQuery: string): boolean {
  return pathAndQuery.charCodeAt(0) === 0x2f && keepsPath(pathAndQuery, 0);
}

/**
 * For an absolute `http:` or `https:` URL whose authority is plain and whose path and query the
 * parser keeps as written (see {@link urlKeepsPath}), the index of the `/` that starts the path;
 * otherwise -1. `url.slice(0, i)` is then the origin as written (to be normalised by the parser
 * once per distinct value) and `url.slice(i)` is exactly `pathname + search` of `new URL(url)`.
 */
export function plainPathStart(url: string): number {
  const scheme = url.startsWith('http://') ? 7 : url.startsWith('https://') ? 8 : 0;
  if (scheme === 0) return -1;
  const slash = url.indexOf('/', scheme);
  return slash !== -1 && plainOrigin(url, scheme, slash) && keepsPath(url, slash) ? slash : -1;
}
