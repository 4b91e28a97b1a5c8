/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): they describe one connection, so they are never passed on
 * to the next hop nor kept in a cache (RFC 9111 §3.1). Besides the fixed set, `Connection` may
 * name any other field as hop-by-hop for this hop; those go too.
 *
 * The proxy and the cache drop the same fields but one, and the difference is named here as a
 * {@link HopByHopUse}:
 * - `'forward'` (the proxy passing a message on) also drops Content-Length: the proxy re-derives
 *   framing for each side from what it actually sends, so a framing disagreement can never travel
 *   from one connection to the next (request smuggling).
 * - `'store'` (the cache, RFC 9111 §3.1) keeps Content-Length: a stored body is whole, and the
 *   cache sets the field to that body's length before storing.
 */
import { HeaderList } from './headers.ts';
import { parseTokenList } from './fields.ts';

/** What hop-by-hop fields are removed for: passing a message on, or storing it. See the module comment. */
export type HopByHopUse = 'forward' | 'store';

/** Fields that always describe one connection (RFC 9110 §7.6.1), plus every `Proxy-*` field. */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Lower-cased names the `Connection` field(s) of `headers` declare hop-by-hop. */
export function connectionNominated(headers: HeaderList): Set<string> {
  return new Set(nominated(headers));
}

/** `connectionNominated`, sharing read-only sets for the common cases. */
function nominated(headers: HeaderList): ReadonlySet<string> {
  const lines = headers.getAll('connection');
  // Per message on the hot path: no Set and no token parsing when there is nothing to parse,
  // and `keep-alive` alone (the usual line) names only a field that goes anyway.
  if (lines.length === 0) return EMPTY_SET;
  if (lines.length === 1 && lines[0]!.toLowerCase() === 'keep-alive') return KEEP_ALIVE_SET;
  const out = new Set<string>();
  for (const line of lines) for (const t of parseTokenList(line)) out.add(t);
  // `close` is an option, not a field name; and a client must not be able to make the proxy drop
  // Host by naming it (the upstream would then see the proxy's idea of the host, or none).
  out.delete('close');
  out.delete('host');
  return out;
}

/** Whether `key` (lower-cased) is hop-by-hop by itself, whatever `Connection` says, for `use`. */
export function isHopByHop(key: string, use: HopByHopUse = 'forward'): boolean {
  return CONNECTION_SPECIFIC.has(key) || key.startsWith('proxy-') || (use === 'forward' && key === 'content-length');
}

/** A copy of `headers` without the hop-by-hop fields for `use` (fixed set and Connection-nominated). */
export function stripHopByHop(headers: HeaderList, use: HopByHopUse = 'forward'): HeaderList {
  const named = nominated(headers);
  const checkNamed = named.size > 0;
  // Line by line from the list as it is (a parsed head is not sliced into arrays first) into
  // arrays the copy takes over; no pair per line, keys already lower-cased, and a first-letter
  // test instead of a Set lookup per line: this runs twice per proxied exchange. Every
  // always-hop-by-hop name starts with c, k, p, t or u (see CONNECTION_SPECIFIC, `proxy-` and
  // content-length).
  // Grown by push from empty: the first push reserves room for 16 lines, so the fields a proxy
  // then appends (Via, X-Forwarded-*, Content-Length) fit without copying the arrays again, as
  // arrays sized to the lines kept would be (and packed arrays, not holey ones).
  const n = headers.size;
  const names: string[] = [];
  const keys: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < n; i++) {
    const key = headers.keyAt(i);
    const c = key.charCodeAt(0);
    const maybeHop = (c === 0x63 || c === 0x6b || c === 0x70 || c === 0x74 || c === 0x75) && isHopByHop(key, use);
    if (maybeHop || (checkNamed && named.has(key))) continue;
    names.push(headers.nameAt(i));
    keys.push(key);
    values.push(headers.valueAt(i));
  }
  return HeaderList.fromLines(names, keys, values, headers.verified);
}

const EMPTY_SET: ReadonlySet<string> = new Set();
const KEEP_ALIVE_SET: ReadonlySet<string> = new Set(['keep-alive']);
