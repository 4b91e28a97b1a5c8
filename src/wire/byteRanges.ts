/**
 * Byte ranges (RFC 9110 §14.1.2, §14.2): a `Range: bytes=...` field resolved against a
 * representation's length. Pure.
 * @module
 */
import { splitList } from './fields.ts';
import { trimOws } from './chars.ts';

/** An inclusive byte range, `first` <= `last` < length. */
export interface ByteRange {
  first: number;
  last: number;
}

/**
 * More ranges than this in one request are answered with the whole representation (§14.2 lets a
 * server ignore a Range it finds abusive: many small or overlapping ranges cost more than the
 * whole).
 */
export const MAX_RANGES = 32;

/**
 * The satisfiable ranges of `value` for a representation of `length` bytes, in request order:
 * - `null`: ignore the field and answer with the whole representation (another unit, a syntax
 *   error, too many ranges);
 * - `[]`: no range is satisfiable (answer 416);
 * - else the ranges, with `last` clipped to the end (§14.1.2).
 */
export function resolveByteRanges(value: string, length: number): ByteRange[] | null {
  const v = trimOws(value);
  const eq = v.indexOf('=');
  if (eq === -1 || v.slice(0, eq).toLowerCase() !== 'bytes') return null;
  const specs = splitList(v.slice(eq + 1));
  if (specs.length === 0 || specs.length > MAX_RANGES) return null;
  const out: ByteRange[] = [];
  for (const spec of specs) {
    const m = /^([0-9]*)-([0-9]*)$/.exec(spec);
    if (m === null || (m[1] === '' && m[2] === '')) return null;
    if (m[1] === '') {
      // suffix-range: the last N bytes.
      const n = Number(m[2]);
      if (n > 0 && length > 0) out.push({ first: Math.max(0, length - n), last: length - 1 });
      continue;
    }
    const first = Number(m[1]);
    if (m[2] !== '' && Number(m[2]) < first) return null; // §14.1.1: invalid, so the whole field is
    const last = m[2] === '' ? length - 1 : Number(m[2]);
    if (first < length) out.push({ first, last: Math.min(last, length - 1) });
  }
  return out;
}
