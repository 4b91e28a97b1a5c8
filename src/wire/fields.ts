/**
 * Parsers for list-valued fields (RFC 9110 §5.6.1) used to make connection decisions:
 * `Connection`, `Keep-Alive`, `Transfer-Encoding`, `Vary`, and directive lists like
 * `Cache-Control`. Members are trimmed of OWS (SP and HTAB) only, never with `String.trim`.
 */
import { trimOws } from './chars.ts';

/**
 * Splits `value` on `separator` outside quoted-strings, trimming each member of OWS. Quoted-strings
 * are kept as they are, quotes and escapes included: a comma inside `"a, b"` does not split.
 * `keepEmpty` keeps empty members, for grammars where one is an error (`chunked;`).
 */
function splitOutsideQuotes(value: string, separator: number, keepEmpty: boolean): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === separator) {
      const m = trimOws(value.slice(start, i));
      if (keepEmpty || m.length > 0) out.push(m);
      start = i + 1;
    }
  }
  const m = trimOws(value.slice(start));
  if (keepEmpty || m.length > 0) out.push(m);
  return out;
}

/**
 * Splits a list-based field value (RFC 9110 §5.6.1) on commas outside quoted-strings, trimming
 * each member of OWS and dropping empty members (`a, , b` is `a`, `b`). Quoted-strings are kept
 * as they are, quotes and escapes included: a comma inside `"a, b"` does not split.
 */
export function splitList(value: string): string[] {
  return splitOutsideQuotes(value, 0x2c /* , */, false);
}

/**
 * Splits a list member into its first part and its `;` parameters (RFC 9110 §5.6.6), outside
 * quoted-strings, each trimmed of OWS; empty parts are kept so that the caller can refuse them.
 */
export function splitParameters(member: string): string[] {
  return splitOutsideQuotes(member, 0x3b /* ; */, true);
}

/** Splits a comma-separated list into lower-cased, trimmed, non-empty members. */
export function parseTokenList(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out = splitList(value);
  for (let i = 0; i < out.length; i++) out[i] = out[i]!.toLowerCase();
  return out;
}

/** True when the list `value` has the token `token` (case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return parseTokenList(value).includes(token.toLowerCase());
}

/**
 * Parses `name[=value]` directives separated by commas, honouring quoted-strings (which may
 * contain commas). Names are lower-cased; a missing value is `true`. The first occurrence wins,
 * as RFC 9111 §4.2.1 asks for duplicated Cache-Control directives in freshness decisions.
 */
export function parseDirectives(value: string | undefined): Map<string, string | true> {
  const out = new Map<string, string | true>();
  if (value === undefined) return out;
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && (value[i] === ' ' || value[i] === '\t' || value[i] === ',')) i++;
    const start = i;
    while (i < n && value[i] !== '=' && value[i] !== ',') i++;
    const name = trimOws(value.slice(start, i)).toLowerCase();
    let v: string | true = true;
    if (i < n && value[i] === '=') {
      i++;
      while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
      if (value[i] === '"') {
        i++;
        let s = '';
        while (i < n && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < n) i++;
          s += value[i];
          i++;
        }
        i++;
        v = s;
        while (i < n && value[i] !== ',') i++;
      } else {
        const vs = i;
        while (i < n && value[i] !== ',') i++;
        v = trimOws(value.slice(vs, i));
      }
    }
    if (name.length > 0 && !out.has(name)) out.set(name, v);
  }
  return out;
}

/** The parameters of a `Keep-Alive: timeout=N, max=M` hint (RFC 2068 §19.7.1.1). */
export interface KeepAliveHint {
  /** Seconds the server keeps an idle connection open, if it said. */
  timeout?: number;
  /** Requests the server still accepts on this connection, if it said. */
  max?: number;
}

/** Parses a `Keep-Alive` header; malformed parameters are ignored rather than guessed. */
export function parseKeepAlive(value: string | undefined): KeepAliveHint {
  const out: KeepAliveHint = {};
  for (const [k, v] of parseDirectives(value)) {
    if (v === true || !/^\d+$/.test(v)) continue;
    if (k === 'timeout') out.timeout = Number(v);
    else if (k === 'max') out.max = Number(v);
  }
  return out;
}
