/**
 * Structured Field Values (RFC 8941): the Dictionary parser, as far as fields built on it need
 * (RFC 9213's `CDN-Cache-Control`), and the serialisation of the items RFC 9211's `Cache-Status`
 * writes. Parsing is strict, as §4.2 requires: a value that does not parse fails as a whole, and
 * the caller ignores the field.
 * @module
 */
import { HoldfastError } from './holdfastError.ts';

/** A bare item (§3.3). Byte sequences and inner lists are kept as markers: no field here uses their content. */
export type BareItem =
  | { type: 'integer' | 'decimal'; value: number }
  | { type: 'string' | 'token'; value: string }
  | { type: 'boolean'; value: boolean }
  | { type: 'bytes' | 'inner-list' };

const KEY_START = /[a-z*]/;
const KEY_CHAR = /[a-z0-9_\-.*]/;
const TOKEN_START = /[A-Za-z*]/;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
const BASE64_CHAR = /[A-Za-z0-9+/=]/;

/** A Dictionary (§4.2.2): member name -> bare item (parameters are parsed and dropped). `undefined` when invalid. */
export function parseDictionary(input: string): Map<string, BareItem> | undefined {
  const p = { s: input, i: 0 };
  const out = new Map<string, BareItem>();
  skip(p, / /);
  try {
    while (p.i < p.s.length) {
      const key = parseKey(p);
      let item: BareItem = { type: 'boolean', value: true };
      if (p.s[p.i] === '=') {
        p.i++;
        item = p.s[p.i] === '(' ? parseInnerList(p) : parseBareItem(p);
      }
      parseParameters(p);
      // §4.2.2: a repeated key overwrites the earlier value.
      out.set(key, item);
      skip(p, /[ \t]/);
      if (p.i >= p.s.length) return out;
      if (p.s[p.i] !== ',') return undefined;
      p.i++;
      skip(p, /[ \t]/);
      if (p.i >= p.s.length) return undefined; // trailing comma
    }
  } catch {
    return undefined;
  }
  return out;
}

interface Cursor {
  s: string;
  i: number;
}

/** Internal: unwinds the parser on the first syntax error; never escapes {@link parseDictionary}. */
class SyntaxFailure extends HoldfastError {
  constructor(where: string) {
    super('HF_SF_SYNTAX', `structured field: invalid ${where}`);
  }
}

function skip(p: Cursor, re: RegExp): void {
  while (p.i < p.s.length && re.test(p.s[p.i]!)) p.i++;
}

function parseKey(p: Cursor): string {
  if (!KEY_START.test(p.s[p.i] ?? '')) throw new SyntaxFailure('key');
  const start = p.i++;
  skip(p, KEY_CHAR);
  return p.s.slice(start, p.i);
}

function parseParameters(p: Cursor): void {
  while (p.s[p.i] === ';') {
    p.i++;
    skip(p, / /);
    parseKey(p);
    if (p.s[p.i] === '=') {
      p.i++;
      parseBareItem(p);
    }
  }
}

function parseInnerList(p: Cursor): BareItem {
  p.i++; // (
  for (;;) {
    skip(p, / /);
    if (p.s[p.i] === ')') {
      p.i++;
      parseParameters(p);
      return { type: 'inner-list' };
    }
    parseBareItem(p);
    parseParameters(p);
    const c = p.s[p.i];
    if (c !== ' ' && c !== ')') throw new SyntaxFailure('inner list');
  }
}

function parseBareItem(p: Cursor): BareItem {
  const c = p.s[p.i] ?? '';
  if (c === '-' || (c >= '0' && c <= '9')) return parseNumber(p);
  if (c === '"') return { type: 'string', value: parseString(p) };
  if (c === '?') {
    const v = p.s[p.i + 1];
    if (v !== '0' && v !== '1') throw new SyntaxFailure('boolean');
    p.i += 2;
    return { type: 'boolean', value: v === '1' };
  }
  if (c === ':') {
    const end = p.s.indexOf(':', p.i + 1);
    if (end === -1) throw new SyntaxFailure('bytes');
    for (let j = p.i + 1; j < end; j++) if (!BASE64_CHAR.test(p.s[j]!)) throw new SyntaxFailure('bytes');
    p.i = end + 1;
    return { type: 'bytes' };
  }
  if (TOKEN_START.test(c)) {
    const start = p.i++;
    skip(p, TOKEN_CHAR);
    return { type: 'token', value: p.s.slice(start, p.i) };
  }
  throw new SyntaxFailure('item');
}

function parseNumber(p: Cursor): BareItem {
  const m = /^-?([0-9]{1,15})(\.[0-9]{1,3})?/.exec(p.s.slice(p.i, p.i + 20));
  if (m === null) throw new SyntaxFailure('number');
  const integerDigits = m[1]!.length;
  if (m[2] !== undefined && integerDigits > 12) throw new SyntaxFailure('decimal');
  p.i += m[0].length;
  // §4.2.4: more digits than allowed is a failure, not a shorter number.
  if (/[0-9.]/.test(p.s[p.i] ?? '')) throw new SyntaxFailure('number');
  return { type: m[2] === undefined ? 'integer' : 'decimal', value: Number(m[0]) };
}

function parseString(p: Cursor): string {
  p.i++; // "
  let out = '';
  for (;;) {
    const c = p.s[p.i++];
    if (c === undefined) throw new SyntaxFailure('string');
    if (c === '"') return out;
    if (c === '\\') {
      const e = p.s[p.i++];
      if (e !== '"' && e !== '\\') throw new SyntaxFailure('string escape');
      out += e;
    } else {
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) throw new SyntaxFailure('string char');
      out += c;
    }
  }
}

/** Serialises a String (§4.1.6), or `undefined` when it has characters a String cannot carry. */
export function serializeString(value: string): string | undefined {
  if (!/^[\x20-\x7e]*$/.test(value)) return undefined;
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/** Serialises a Token (§4.1.7) when `value` is one, else as a String; `undefined` when neither. */
export function serializeTokenOrString(value: string): string | undefined {
  if (/^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(value)) return value;
  return serializeString(value);
}
