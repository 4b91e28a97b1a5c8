/**
 * Field-line parsing shared by message heads and chunked trailers (RFC 9112 §5). One place
 * decides what a valid field line is, so a head and a trailer section can never disagree.
 */
import { WireError } from './errors.ts';
import type { HeaderList } from './headers.ts';
import { TOKEN, FIELD_VALUE, invalidFieldValueAt, invalidTokenAt } from './chars.ts';

/**
 * Parses one field line (its CR, if any, already removed) and appends it to `headers`.
 * Rejects obs-fold, an empty or non-token name (incl. whitespace before the colon), and any
 * control character in the value (a bare CR gets its own code).
 */
export function parseFieldLine(line: string, headers: HeaderList): void {
  const first = line.charCodeAt(0);
  // obs-fold (RFC 9112 §5.2): rejected, since recipients that unfold and those that do not
  // would see different fields.
  if (first === 0x20 || first === 0x09) throw new WireError('HF_WIRE_OBS_FOLD', 'obsolete line folding');
  const colon = line.indexOf(':');
  if (colon <= 0) throw new WireError('HF_WIRE_INVALID_HEADER_NAME', `field line without a name: ${JSON.stringify(line.slice(0, 40))}`);
  const name = line.slice(0, colon);
  const badNameAt = invalidTokenAt(name);
  if (badNameAt !== -1) {
    // Whitespace between name and colon must be rejected (RFC 9112 §5.1): it is how
    // "Transfer-Encoding : chunked" slips past one parser and not another.
    const c = name.charCodeAt(badNameAt);
    if (c === 0x0d) throw new WireError('HF_WIRE_BARE_CR', `bare CR in field name ${JSON.stringify(name)}`);
    const what = c === 0x20 || c === 0x09 ? 'whitespace before colon' : `invalid character 0x${c.toString(16)}`;
    throw new WireError('HF_WIRE_INVALID_HEADER_NAME', `invalid field name ${JSON.stringify(name)}: ${what}`);
  }
  let vs = colon + 1;
  let ve = line.length;
  let c = line.charCodeAt(vs);
  while (vs < ve && (c === 0x20 || c === 0x09)) c = line.charCodeAt(++vs);
  c = line.charCodeAt(ve - 1);
  while (ve > vs && (c === 0x20 || c === 0x09)) c = line.charCodeAt(--ve - 1);
  const value = vs === colon + 1 && ve === line.length ? line.slice(vs) : line.slice(vs, ve);
  const badValueAt = invalidFieldValueAt(value);
  if (badValueAt !== -1) {
    const b = value.charCodeAt(badValueAt);
    if (b === 0x0d) throw new WireError('HF_WIRE_BARE_CR', `bare CR in field ${name}`);
    throw new WireError('HF_WIRE_INVALID_HEADER_VALUE', `invalid character 0x${b.toString(16)} in field ${name}`);
  }
  headers.push(name, name.toLowerCase(), value);
}

/**
 * Lower-cased names of common fields, looked up by a hash taken while the name is scanned, so most lines get their
 * key without allocating a string (`toLowerCase` of a capitalised name always allocates).
 */
const COMMON_NAMES = [
  'host', 'user-agent', 'accept', 'accept-language', 'accept-encoding', 'accept-charset', 'accept-ranges',
  'referer', 'origin', 'connection', 'keep-alive', 'proxy-connection', 'cookie', 'set-cookie',
  'upgrade', 'upgrade-insecure-requests', 'sec-fetch-dest', 'sec-fetch-mode', 'sec-fetch-site', 'sec-fetch-user',
  'sec-ch-ua', 'sec-ch-ua-mobile', 'sec-ch-ua-platform', 'priority', 'dnt', 'te', 'trailer',
  'date', 'server', 'content-type', 'content-length', 'content-encoding', 'content-language',
  'content-range', 'content-disposition', 'content-location', 'transfer-encoding', 'cache-control',
  'pragma', 'expires', 'age', 'etag', 'last-modified', 'vary', 'via', 'location', 'expect', 'range',
  'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range',
  'authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate',
  'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'x-request-id',
  'x-requested-with', 'access-control-allow-origin', 'strict-transport-security', 'alt-svc',
  'x-content-type-options', 'x-frame-options', 'content-security-policy', 'link', 'retry-after',
];
/**
 * The names above in an open-addressing table keyed by `nameHash` (stores index + 1; 0 = empty),
 * so a line's name costs one probe and one byte comparison instead of a `toLowerCase`.
 */
const COMMON_MASK = 1023;
const COMMON_TABLE = new Uint16Array(COMMON_MASK + 1);
const COMMON_BYTES: Uint8Array[] = [];
const COMMON_HASHES: number[] = [];
/** Hash step over a name byte, case-folded: `b | 0x20` maps A-Z onto a-z. */
function hashStep(h: number, b: number): number {
  return (Math.imul(h, 31) + (b | 0x20)) | 0;
}
for (const key of COMMON_NAMES) {
  // commonKey's comparison is exact only for keys made of a-z, 0-9 and "-" (see there).
  if (!/^[a-z0-9-]+$/.test(key)) throw new Error(`bad common field name ${key}`);
  let h = 0;
  for (let k = 0; k < key.length; k++) h = hashStep(h, key.charCodeAt(k));
  let slot = h & COMMON_MASK;
  while (COMMON_TABLE[slot] !== 0) slot = (slot + 1) & COMMON_MASK;
  COMMON_BYTES.push(new Uint8Array(Buffer.from(key, 'latin1')));
  COMMON_HASHES.push(h);
  COMMON_TABLE[slot] = COMMON_BYTES.length;
}

/**
 * The interned lower-cased name of the token `buf[start, end)`, whose `hashStep` hash is `h`,
 * if it is a common field name; else null. `(b | 0x20) === key byte` is exact here: for a key
 * letter it admits just the two cases, and for "-" or a digit it admits only a control byte
 * besides, which a token cannot hold.
 */
function commonKey(buf: Uint8Array, start: number, end: number, h: number): string | null {
  const len = end - start;
  for (let slot = h & COMMON_MASK; COMMON_TABLE[slot] !== 0; slot = (slot + 1) & COMMON_MASK) {
    const j = COMMON_TABLE[slot]! - 1;
    const bytes = COMMON_BYTES[j]!;
    if (COMMON_HASHES[j] !== h || bytes.length !== len) continue;
    let k = 0;
    while (k < len && (buf[start + k]! | 0x20) === bytes[k]) k++;
    if (k === len) return COMMON_NAMES[j]!;
  }
  return null;
}

const COLON = 0x3a;
const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;

/**
 * One pass over the field lines of a head, from `from` up to and including its final empty
 * line, reading no byte at or past `limit`. Checks each line as `parseFieldLine` does — no
 * obs-fold, a token name directly followed by ":", value bytes in VCHAR / SP / HTAB / obs-text,
 * CRLF (or LF when `allowBareLF`) at the end — and appends to `keys` and `offs` (name start,
 * name end, value start, value end, relative to `base`, values trimmed of SP/HTAB) without
 * slicing any string; a name that is not a common one gets the key "" (names are never empty),
 * for `fillKeys` once the head's text exists. Returns the index after the empty line, or -1 at
 * the first line that does not pass or when `limit` comes first: the caller then takes the
 * general path, whose `parseFieldLine` throws the precise error, so the two never disagree
 * about what is accepted.
 */
export function scanFieldLines(
  buf: Uint8Array, from: number, limit: number, allowBareLF: boolean, base: number, keys: string[], offs: number[],
): number {
  let i = from;
  while (i < limit) {
    let b = buf[i]!;
    if (b === CR) return i + 1 < limit && buf[i + 1] === LF ? i + 2 : -1;
    if (b === LF) return allowBareLF ? i + 1 : -1;
    const ns = i;
    let h = 0;
    while (TOKEN[b] === 1) {
      h = hashStep(h, b);
      if (++i === limit) return -1;
      b = buf[i]!;
    }
    if (b !== COLON || i === ns) return -1;
    const ne = i;
    if (++i === limit) return -1;
    b = buf[i]!;
    while (b === SP || b === HTAB) {
      if (++i === limit) return -1;
      b = buf[i]!;
    }
    const vs = i;
    while (FIELD_VALUE[b] === 1) {
      if (++i === limit) return -1;
      b = buf[i]!;
    }
    let ve = i;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    if (b === CR) {
      if (i + 1 === limit || buf[i + 1] !== LF) return -1;
      i += 2;
    } else if (b === LF && allowBareLF) {
      i++;
    } else {
      return -1;
    }
    keys.push(commonKey(buf, ns, ne, h) ?? '');
    offs.push(ns - base, ne - base, vs - base, ve - base);
  }
  return -1;
}

/** Gives each "" key left by `scanFieldLines` its lower-cased name from the head's `text`. */
export function fillKeys(text: string, keys: string[], offs: number[]): void {
  for (let k = 0; k < keys.length; k++) {
    if (keys[k] === '') keys[k] = text.slice(offs[4 * k], offs[4 * k + 1]).toLowerCase();
  }
}
