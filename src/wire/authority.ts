/**
 * The authority of a request: the `Host` field (RFC 9112 §3.2, RFC 9110 §7.2) or the authority of
 * an absolute-form target, parsed into typed parts.
 *
 * Why it exists: a server that builds a request's URL, or a cache that builds its key, by pasting
 * `Host` in front of the target lets the client choose where the host ends. Behind a front proxy
 * that blocks `/admin`, `GET /public` with `Host: x\admin?` becomes `http://x\admin?/public`, which
 * a WHATWG URL parser reads as path `/admin`; through a cache, `GET /evil` with `Host: victim#`
 * becomes `http://victim#/evil`, stored under `http://victim/`. So the authority is parsed once,
 * strictly, and URLs are built from its parts, whose characters cannot end the authority early.
 *
 * The grammar is RFC 3986 `host [ ":" port ]` without userinfo, narrowed where a WHATWG URL
 * parser would rewrite the text into another host (so the host a backend sees and the host a
 * URL or cache key names could differ): no percent-encoding (`a%2ecom` is `a.com` to `new URL`),
 * no comma (two Host values joined as a list, RFC 9110 §5.3), and a name whose last label is
 * numeric must be a plain dotted-quad IPv4 address (`127.1` and `0x7f.1` are `127.0.0.1` to
 * `new URL`).
 */
import { isIPv6 } from 'node:net';

/** A validated authority: a host (lower-cased) and an optional port. */
export interface Authority {
  /** A reg-name or IPv4 address, lower-cased; an IPv6 address keeps its brackets (`[::1]`). */
  readonly hostname: string;
  /** The port, or null when none was given. */
  readonly port: number | null;
}

/** unreserved / sub-delims of RFC 3986 that may appear in a reg-name, minus ",". */
const REG_NAME = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) REG_NAME[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) REG_NAME[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) REG_NAME[c] = 1;
for (const c of "-._~!$&'()*+;=") REG_NAME[c.charCodeAt(0)] = 1;

const DEC_OCTET_RE = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** A label WHATWG's host parser reads as a number (decimal, or hex with 0x). */
const NUMERIC_LABEL_RE = /^(?:\d+|0[xX][0-9a-fA-F]*)$/;

function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => DEC_OCTET_RE.test(p));
}

function isRegNameOrIPv4(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || REG_NAME[c] !== 1) return false;
  }
  // The last label (before a trailing dot): a name ending in a letter is the usual case.
  let end = s.length;
  if (end > 1 && s.charCodeAt(end - 1) === 0x2e /* . */) end--;
  const last = s.slice(s.lastIndexOf('.', end - 1) + 1, end);
  return !NUMERIC_LABEL_RE.test(last) || isIPv4(s);
}

/**
 * Parses `host [ ":" port ]` (a `Host` value or the authority of an absolute-form target), or
 * returns null when it is not one: a space, `/`, `?`, `#`, `@`, `\`, `%`, `,`, a non-numeric or
 * out-of-range port, an empty host or non-ASCII bytes. The result is frozen: the request parser
 * shares it between the requests of a connection that repeat their Host.
 */
export function parseAuthority(value: string): Authority | null {
  let host: string;
  let rest: string;
  if (value.charCodeAt(0) === 0x5b /* [ */) {
    const close = value.indexOf(']');
    if (close === -1) return null;
    const address = value.slice(1, close);
    // IPvFuture and zone identifiers are refused: `new URL` knows neither.
    if (address.indexOf('%') !== -1 || !isIPv6(address)) return null;
    host = `[${address.toLowerCase()}]`;
    rest = value.slice(close + 1);
  } else {
    const colon = value.indexOf(':');
    host = colon === -1 ? value : value.slice(0, colon);
    rest = colon === -1 ? '' : value.slice(colon);
    if (host.length === 0 || !isRegNameOrIPv4(host)) return null;
    host = host.toLowerCase();
  }
  if (rest === '') return Object.freeze({ hostname: host, port: null });
  // ":" port, 1 to 5 digits up to 65535 (an empty port is refused: no client sends one).
  if (!/^:\d{1,5}$/.test(rest)) return null;
  const port = Number(rest.slice(1));
  if (port > 65535) return null;
  return Object.freeze({ hostname: host, port });
}

/** `host[:port]` of `a`, as it goes into a URL or a `Host` field. */
export function formatAuthority(a: Authority): string {
  // The same authority request after request (a keep-alive client repeats its Host; the request
  // parser then hands out the same parsed value): its text is kept rather than joined again (compared by parts, not identity, so no caller's object can go stale).
  if (a.hostname === formattedHost && a.port === formattedPort) return formattedText;
  const text = a.port === null ? a.hostname : `${a.hostname}:${a.port}`;
  formattedHost = a.hostname;
  formattedPort = a.port;
  formattedText = text;
  return text;
}
let formattedHost = '';
let formattedPort: number | null = null;
let formattedText = '';

/**
 * The absolute URL of a request from validated parts: `scheme`, its authority (null: the
 * `fallbackHost`, for a request without one) and an origin-form `pathAndQuery` (starting with
 * "/"). Throws a TypeError on a path that does not start with "/".
 */
export function requestUrl(scheme: 'http' | 'https', authority: Authority | null, pathAndQuery: string, fallbackHost = 'localhost'): string {
  if (pathAndQuery.charCodeAt(0) !== 0x2f) throw new TypeError(`not an origin-form path: ${JSON.stringify(pathAndQuery)}`);
  // Safe to join: the host has no character that ends an authority, and the path starts with
  // "/", so neither can move the other's boundary.
  return `${scheme}://${authority === null ? fallbackHost : formatAuthority(authority)}${pathAndQuery}`;
}

/** An absolute-form request-target (RFC 9112 §3.2.2) split into validated parts. */
export interface AbsoluteTarget {
  readonly scheme: 'http' | 'https';
  readonly authority: Authority;
  /** The path and query exactly as sent ("/" when the path is empty). */
  readonly pathAndQuery: string;
}

/**
 * Splits an absolute-form target (`http://host:port/path?query`) into its parts, or returns null
 * when it is not an `http` or `https` URI with a valid authority (userinfo included: RFC 9110
 * §4.2.4 has recipients treat it as an error, since `http://trusted@evil/` misleads).
 */
export function parseAbsoluteTarget(target: string): AbsoluteTarget | null {
  const sep = target.indexOf('://');
  if (sep === -1) return null;
  const scheme = target.slice(0, sep).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return null;
  const start = sep + 3;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) break;
    end++;
  }
  const authority = parseAuthority(target.slice(start, end));
  if (authority === null) return null;
  const rest = target.slice(end);
  return { scheme, authority, pathAndQuery: rest.charCodeAt(0) === 0x2f ? rest : `/${rest}` };
}
