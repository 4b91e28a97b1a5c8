/**
 * Protocol upgrade (RFC 9110 §7.8): which requests ask for one, and which responses grant one.
 *
 * A request asks for an upgrade only when `Upgrade` is nominated by `Connection` (otherwise an
 * intermediary forgot to strip it and it must be ignored), the request is HTTP/1.1 (a 1.0 request's
 * `Upgrade` is ignored, §7.8), and it has no body. The last rule is holdfast's, not the RFC's: a
 * body before the switch leaves two framings for the same bytes (where the body ends, where the
 * new protocol begins), the ambiguity request smuggling lives on. Such a request is served as a
 * plain request and its `Upgrade` ignored, which the RFC allows.
 */
import type { HeaderList } from './headers.ts';
import { hasToken, parseTokenList } from './fields.ts';
import type { BodyFraming } from './framing.ts';

/**
 * The protocols (lower-cased tokens, `websocket`, `h2c`...) a request asks to upgrade to, in the
 * client's order of preference; empty when it asks for none (see the module comment for the rules).
 */
export function requestedUpgrade(headers: HeaderList, versionMinor: number, framing: BodyFraming): string[] {
  if (versionMinor !== 1 || framing.kind !== 'none') return [];
  const upgrade = headers.get('upgrade');
  if (upgrade === undefined || !hasToken(headers.get('connection'), 'upgrade')) return [];
  // `websocket/13`: the protocol name is what an operator allows; the version rides along.
  return parseTokenList(upgrade).map((p) => {
    const slash = p.indexOf('/');
    return slash === -1 ? p : p.slice(0, slash);
  });
}

/**
 * Whether a `101` response switches to one of `asked` (the protocols the request asked for). A 101
 * that names no protocol the client asked for, or that answers a request which asked for none, is
 * not a valid switch: the bytes after it cannot be trusted as either protocol.
 */
export function upgradeGranted(status: number, headers: HeaderList, asked: readonly string[]): string | null {
  if (status !== 101 || asked.length === 0) return null;
  const granted = parseTokenList(headers.get('upgrade') ?? '');
  for (const g of granted) {
    const slash = g.indexOf('/');
    const name = slash === -1 ? g : g.slice(0, slash);
    if (asked.includes(name)) return name;
  }
  return null;
}
