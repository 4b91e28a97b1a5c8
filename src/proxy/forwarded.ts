/**
 * The fields a proxy adds so the backend and the client can see the path a message took:
 * `Via` (RFC 9110 §7.6.3, required of proxies in both directions), and the de-facto
 * `X-Forwarded-For` / `-Proto` / `-Host` or the standard `Forwarded` (RFC 7239).
 */
import type { HeaderList } from '../wire/index.ts';
import { isToken, trimOws } from '../wire/chars.ts';

/** Which client-information fields the proxy adds to upstream requests. */
export type ForwardedStyle = 'x-forwarded' | 'forwarded' | 'both' | 'none';

/** Facts about the downstream hop. */
export interface HopInfo {
  /** The downstream client's IP address. */
  remoteAddress: string;
  /** `http` or `https`: how the client reached the proxy. */
  proto: 'http' | 'https';
  /** The Host the client asked for (undefined when it sent none). */
  host: string | undefined;
  /** 0 for HTTP/1.0 requests, 1 for HTTP/1.1. */
  versionMinor: number;
}

/** Appends this hop to `Via` (`1.1 holdfast`): one more line, earlier hops kept. */
export function appendVia(headers: HeaderList, versionMinor: number, pseudonym: string): void {
  // Twice per proxied exchange with the same pseudonym: the value is built once per pseudonym.
  if (pseudonym !== viaPseudonym) {
    viaPseudonym = pseudonym;
    viaValues = [`1.0 ${pseudonym}`, `1.1 ${pseudonym}`];
  }
  headers.append('via', versionMinor === 0 || versionMinor === 1 ? viaValues[versionMinor]! : `1.${versionMinor} ${pseudonym}`);
}
let viaPseudonym = '';
let viaValues: readonly string[] = ['1.0 ', '1.1 '];

/** An RFC 7239 node: IPv6 addresses are quoted and bracketed, others are tokens. */
function forwardedNode(address: string): string {
  const ip = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/** A quoted-string when the value is not a token (hosts with ports contain ':'). */
function forwardedValue(value: string): string {
  // Nearly every request of a proxy carries the same Host: remember the last answer.
  if (value === lastValue) return lastQuoted;
  const quoted = isToken(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
  lastValue = value;
  lastQuoted = quoted;
  return quoted;
}
let lastValue = '';
let lastQuoted = '""'; // what the empty value quotes to

/**
 * Adds the client-information fields to an upstream request. `X-Forwarded-For` and `Forwarded`
 * are appended to (a chain of proxies each adds its hop, as Go's ReverseProxy and nginx's
 * `$proxy_add_x_forwarded_for` do); `X-Forwarded-Proto` / `-Host` describe only the first hop
 * the proxy can see, so they are set.
 */
export function addForwarded(headers: HeaderList, hop: HopInfo, style: ForwardedStyle): void {
  const ip = hop.remoteAddress.startsWith('::ffff:') && hop.remoteAddress.includes('.') ? hop.remoteAddress.slice(7) : hop.remoteAddress;
  if (style === 'x-forwarded' || style === 'both') {
    const prior = headers.get('x-forwarded-for');
    headers.set('x-forwarded-for', prior === undefined || trimOws(prior) === '' ? ip : `${prior}, ${ip}`);
    headers.set('x-forwarded-proto', hop.proto);
    if (hop.host !== undefined) headers.set('x-forwarded-host', hop.host);
  }
  if (style === 'forwarded' || style === 'both') {
    let element = `for=${forwardedNode(ip)}`;
    if (hop.host !== undefined) element += `;host=${forwardedValue(hop.host)}`;
    element += `;proto=${hop.proto}`;
    headers.append('forwarded', element);
  }
}
