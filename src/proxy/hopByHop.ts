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
  const out = new Set<string>();
  for (const line of headers.getAll('connection')) for (const t of parseTokenList(line)) out.add(t);
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
  const named = connectionNominated(headers);
  const out = new HeaderList();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    if ((isHopByHop(key) || named.has(key)) && !keep.has(key)) continue;
    out.push(name, key, value);
  }
  return out;
}

const EMPTY_SET: ReadonlySet<string> = new Set();
