/**
 * Field-line parsing shared by message heads and chunked trailers (RFC 9112 §5). One place
 * decides what a valid field line is, so a head and a trailer section can never disagree.
 */
import { WireError } from './errors.ts';
import type { HeaderList } from './headers.ts';

/** RFC 9110 §5.6.2 token, as a regex: V8 runs it natively, faster than a per-char JS loop. */
export const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Any byte not allowed in a field value (RFC 9110 §5.5: VCHAR, SP, HTAB, obs-text). */
export const BAD_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/;

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
  if (!TOKEN_RE.test(name)) {
    // Whitespace between name and colon must be rejected (RFC 9112 §5.1): it is how
    // "Transfer-Encoding : chunked" slips past one parser and not another.
    const m = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/.exec(name)!;
    const c = m[0].charCodeAt(0);
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
  const bad = BAD_VALUE_RE.exec(value);
  if (bad !== null) {
    const b = bad[0].charCodeAt(0);
    if (b === 0x0d) throw new WireError('HF_WIRE_BARE_CR', `bare CR in field ${name}`);
    throw new WireError('HF_WIRE_INVALID_HEADER_VALUE', `invalid character 0x${b.toString(16)} in field ${name}`);
  }
  headers.push(name, name.toLowerCase(), value);
}

/**
 * One native pass over a whole head: true when it holds no byte that is invalid anywhere in a
 * head (controls other than HTAB, DEL, a CR not followed by LF). Heads that pass skip the
 * per-value check; the rare ones that fail are re-checked line by line for a precise error.
 */
const HEAD_BAD_CHAR_RE = /[^\t\n\r\x20-\x7e\x80-\xff]/;
export function headLooksClean(text: string): boolean {
  if (HEAD_BAD_CHAR_RE.test(text)) return false;
  // Every CR must start a CRLF: one native indexOf per line.
  for (let i = text.indexOf('\r'); i !== -1; i = text.indexOf('\r', i + 2)) {
    if (text.charCodeAt(i + 1) !== 0x0a) return false;
  }
  return true;
}

/**
 * Parses the field line `text[start, end)` (its CRLF excluded) of a head already known clean
 * (see `headLooksClean`): only the name and the line shape still need checking.
 */
export function parseCleanFieldLine(text: string, start: number, end: number, headers: HeaderList): void {
  const colon = text.indexOf(':', start);
  const first = text.charCodeAt(start);
  if (colon === -1 || colon >= end || colon === start || first === 0x20 || first === 0x09) {
    parseFieldLine(text.slice(start, end), headers); // throws the precise error
    return;
  }
  const name = text.slice(start, colon);
  if (!TOKEN_RE.test(name)) {
    parseFieldLine(text.slice(start, end), headers);
    return;
  }
  let vs = colon + 1;
  let ve = end;
  let c = text.charCodeAt(vs);
  while (vs < ve && (c === 0x20 || c === 0x09)) c = text.charCodeAt(++vs);
  c = text.charCodeAt(ve - 1);
  while (ve > vs && (c === 0x20 || c === 0x09)) c = text.charCodeAt(--ve - 1);
  headers.push(name, name.toLowerCase(), text.slice(vs, ve));
}
