/**
 * Cache-Control parsing (RFC 9111 §5.2) and the Pragma fallback (§5.4).
 * @module
 */
import type { HeaderList } from '../wire/headers.ts';
import { splitList } from '../wire/fields.ts';
import { trimOws } from '../wire/chars.ts';

/**
 * Parsed directives: lower-cased name -> argument (`''` when the directive has no argument).
 * A directive repeated with different arguments maps to {@link CONFLICT}: §4.2.1 lets a cache
 * either use the first or consider the response stale, and stale is the safe reading.
 */
export type Directives = ReadonlyMap<string, string>;

/** Marker value of a directive that was given conflicting arguments. */
export const CONFLICT = '\u0000conflict';

/** Parse every Cache-Control line of `headers`. */
export function parseCacheControl(headers: HeaderList): Directives {
  const out = new Map<string, string>();
  const value = headers.get('cache-control');
  if (value === undefined) return out;
  for (const item of splitList(value)) {
    const eq = item.indexOf('=');
    const name = trimOws(eq === -1 ? item : item.slice(0, eq)).toLowerCase();
    if (name === '') continue;
    let arg = eq === -1 ? '' : trimOws(item.slice(eq + 1));
    // §5.2: arguments may be a token or a quoted-string; unquote the latter.
    if (arg.length >= 2 && arg.startsWith('"') && arg.endsWith('"')) arg = arg.slice(1, -1).replace(/\\(.)/g, '$1');
    const prev = out.get(name);
    if (prev === undefined) out.set(name, arg);
    else if (prev !== arg) out.set(name, CONFLICT);
  }
  return out;
}

/**
 * Request directives, with `Pragma: no-cache` read as `Cache-Control: no-cache` when the request
 * has no Cache-Control field at all (RFC 9111 §5.4).
 */
export function parseRequestDirectives(headers: HeaderList): Directives {
  if (headers.has('cache-control')) return parseCacheControl(headers);
  const pragma = headers.get('pragma');
  if (pragma !== undefined && splitList(pragma).some((t) => t.toLowerCase() === 'no-cache')) {
    return new Map([['no-cache', '']]);
  }
  return new Map();
}

/** The largest delta-seconds a cache must handle; larger values are read as this (§1.2.2). */
export const MAX_DELTA_SECONDS = 2 ** 31;

/**
 * A delta-seconds argument (§1.2.2): `undefined` when the directive is absent, `null` when it is
 * present but invalid (not a non-negative integer, or conflicting), else the number of seconds.
 */
export function deltaSeconds(d: Directives, name: string): number | null | undefined {
  const arg = d.get(name);
  if (arg === undefined) return undefined;
  if (!/^[0-9]+$/.test(arg)) return null;
  const n = Number(arg);
  return n > MAX_DELTA_SECONDS ? MAX_DELTA_SECONDS : n;
}
