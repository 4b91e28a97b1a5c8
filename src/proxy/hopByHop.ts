/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): they describe one connection, so a proxy must never pass
 * them on. Besides the fixed set, `Connection` may name any other field as hop-by-hop for this
 * hop; those go too. Framing fields (Content-Length, Transfer-Encoding) are removed as well:
 * the proxy re-derives framing for each side from what it actually sends, so a framing
 * disagreement can never travel from one connection to the next (request smuggling).
 */
import { HeaderList, parseTokenList } from '../wire/index.ts';

/** Fields that are always connection-specific (plus every `Proxy-*` field). */
const ALWAYS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
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

/** Whether `key` (lower-cased) is hop-by-hop by itself. */
export function isHopByHop(key: string): boolean {
  return ALWAYS.has(key) || key.startsWith('proxy-');
}

/**
 * A copy of `headers` without hop-by-hop and framing fields. `keep` lists lower-cased names that
 * survive even though `isHopByHop` says otherwise (none by default).
 */
export function stripHopByHop(headers: HeaderList, keep: ReadonlySet<string> = EMPTY_SET): HeaderList {
  const named = nominated(headers);
  const out = new HeaderList();
  const checkNamed = named.size > 0;
  // `entries()` and a first-letter test instead of the generator and a Set lookup per line:
  // this runs twice per proxied exchange. Every always-hop-by-hop name starts with c, k, p, t
  // or u (see ALWAYS and `proxy-`).
  for (const [name, value] of headers.entries()) {
    const key = name.toLowerCase();
    const c = key.charCodeAt(0);
    const maybeHop = (c === 0x63 || c === 0x6b || c === 0x70 || c === 0x74 || c === 0x75) && isHopByHop(key);
    if ((maybeHop || (checkNamed && named.has(key))) && !keep.has(key)) continue;
    out.push(name, key, value);
  }
  return out;
}

const EMPTY_SET: ReadonlySet<string> = new Set();
const KEEP_ALIVE_SET: ReadonlySet<string> = new Set(['keep-alive']);
