/**
 * Character classes of RFC 9110 §5.6.2 (token) and §5.5 (field values), as lookup tables:
 * the parser checks every byte of every head, so this is on the hot path.
 */

/**
 * RFC 9110 §5.6.2 tchar as a regex character class: the one definition of a token byte. `TOKEN`
 * is built from it, and so is every regex that has a token in its grammar (a transfer-parameter).
 */
export const TCHAR_CLASS = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";

/** 1 for RFC 9110 token bytes; exported so the head scanner can index it directly. */
export const TOKEN = new Uint8Array(256);
{
  const tchar = new RegExp(TCHAR_CLASS);
  for (let c = 0; c <= 0xff; c++) if (tchar.test(String.fromCharCode(c))) TOKEN[c] = 1;
}

/** field-vchar / SP / HTAB; obs-text (0x80-0xFF) is allowed as RFC 9110 §5.5 permits. */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/**
 * request-target characters: visible ASCII only (RFC 9112 §3.2 uses the URI grammar of RFC 3986,
 * which is ASCII); no whitespace, no controls, no raw non-ASCII bytes (they must be
 * percent-encoded). A few visible characters RFC 3986 excludes ('"', '<', '>', '\\', '^', '`',
 * '{', '|', '}') are tolerated in paths, as Node's parser and real clients do.
 */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

/** True when `s` is a non-empty RFC 9110 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] !== 1) return false;
  }
  return true;
}

/** Index of the first character of `s` that is not a token byte, or -1 (`isToken` for a non-empty `s`). */
export function invalidTokenAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] !== 1) return i;
  }
  return -1;
}

/** Index of the first character not allowed in a field value, or -1. */
export function invalidFieldValueAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) return i;
  }
  return -1;
}

/** True when `s` is a plausible request-target (no whitespace or control characters). */
export function isTarget(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TARGET[c] !== 1) return false;
  }
  return true;
}

/** absolute-form (RFC 9112 §3.2.2) as HTTP uses it: scheme "://" authority, then path/query. */
const ABSOLUTE_FORM_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]*(?:[/?]|$)/;

/**
 * request-target bytes: visible ASCII except "#". A fragment is never part of a request-target
 * (RFC 9112 §3.2), and where one appears, peers disagree on the path: a front proxy that takes
 * "#" as an ordinary byte and removes dot-segments reads `/admin#/../public` as `/public`, and
 * a URL parser behind it reads path `/admin` (Apache answers 400; nginx cuts at the "#").
 */
const TARGET_RE = /^[\x21-\x22\x24-\x7e]+$/;

/**
 * Which form of request-target `target` is (RFC 9112 §3.2), or null for none: origin-form
 * ("/path?query"), absolute-form ("http://host/path"), asterisk-form ("*"). authority-form
 * ("host:port") is only meaningful for CONNECT, which the caller checks by method.
 */
export function targetForm(target: string): 'origin' | 'absolute' | 'asterisk' | null {
  if (!TARGET_RE.test(target)) return null;
  const c = target.charCodeAt(0);
  if (c === 0x2f /* / */) return 'origin';
  if (target === '*') return 'asterisk';
  if (ABSOLUTE_FORM_RE.test(target)) return 'absolute';
  return null;
}

/**
 * True when every character of `target` is one RFC 3986 allows in a URI, with every "%" starting
 * a percent-encoded octet. Stricter than what the server accepts (which tolerates `"`, `<`, `>`,
 * `{`... in paths as real clients send them): an intermediary passing such a target on lets the
 * next hop guess what it means, so a proxy refuses the characters no URI contains.
 */
export function isStrictTarget(target: string): boolean {
  if (!TARGET_RE.test(target)) return false;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x22 /* " */ || c === 0x3c /* < */ || c === 0x3e /* > */) return false;
    if (c === 0x25 /* % */ && !(isHex(target.charCodeAt(i + 1)) && isHex(target.charCodeAt(i + 2)))) return false;
  }
  return true;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Byte-level token check used by the parser on raw slices. */
export function isTokenByte(c: number): boolean {
  return TOKEN[c] === 1;
}

/** Byte-level field-value check used by the parser on raw slices. */
export function isFieldValueByte(c: number): boolean {
  return FIELD_VALUE[c] === 1;
}

/**
 * `value` without leading and trailing OWS (RFC 9110 §5.6.3: SP and HTAB only). Never use
 * `String.prototype.trim` on wire input: it also strips U+00A0 and other Unicode spaces, so
 * `Content-Length: \xa05` would read as `5` here while a front proxy reads it literally, and
 * the two would disagree about where a message ends.
 */
export function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** SP or HTAB: the only optional whitespace HTTP/1.1 knows (RFC 9110 §5.6.3). */
export function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
