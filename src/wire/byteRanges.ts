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

/** A `Content-Range` of one satisfied byte range (RFC 9110 §14.4): `bytes first-last/complete`. */
export interface ContentRange extends ByteRange {
  /** The complete length of the representation. */
  complete: number;
}

/**
 * `Content-Range: bytes first-last/complete` (RFC 9110 §14.4), strictly: `undefined` for another
 * unit, an unsatisfied-range (`bytes *\/n`), an unknown complete length (`/*`), or a range that is
 * invalid (`last` < `first`, `last` >= `complete`, RFC 9110 §14.4: "MUST consider invalid").
 */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes ([0-9]{1,15})-([0-9]{1,15})\/([0-9]{1,15})$/i.exec(trimOws(value));
  if (m === null) return undefined;
  const first = Number(m[1]);
  const last = Number(m[2]);
  const complete = Number(m[3]);
  if (last < first || last >= complete) return undefined;
  return { first, last, complete };
}
