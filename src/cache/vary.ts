/**
 * Vary: secondary cache keys and selection among stored variants (RFC 9111 §4.1). Pure.
 * @module
 */
import type { StoredEntry } from './types.ts';
import type { HeaderList } from '../wire/headers.ts';
import { parseHttpDate } from '../wire/httpDate.ts';
import { splitList } from '../wire/fields.ts';

/** Lower-cased field names listed by the Vary field(s) of a response; may include `*`. */
export function varyFields(headers: HeaderList): string[] {
  const raw = headers.get('vary');
  if (raw === undefined) return [];
  const names = splitList(raw).map((n) => n.toLowerCase());
  return [...new Set(names)].sort();
}

/** Fields whose values are lists of case-insensitive tokens, so lower-casing keeps their meaning. */
const CASE_INSENSITIVE = new Set(['accept-encoding', 'accept-charset', 'accept-language', 'te']);

/**
 * Normalise a request field for comparison (§4.1: "normalizing both header field values in a way
 * that is known to have identical semantics"): combine all lines, drop whitespace around commas
 * and empty list members; lower-case fields known to be case-insensitive. `null` = absent.
 */
export function normalizedFieldValue(headers: HeaderList, name: string): string | null {
  const raw = headers.get(name);
  if (raw === undefined) return null;
  const lower = name.toLowerCase();
  let v = splitList(raw).join(', ');
  if (CASE_INSENSITIVE.has(lower)) v = v.toLowerCase();
  return v;
}

/** Secondary key of a response: its Vary names with the request's normalised values for them. */
export function variantKey(vary: readonly string[], values: ReadonlyArray<string | null>): string {
  return JSON.stringify([vary, values]);
}

/** Whether a stored response's Vary'd values match the presented request (§4.1). */
export function variantMatches(entry: Pick<StoredEntry, 'vary' | 'varyValues'>, requestHeaders: HeaderList): boolean {
  for (let i = 0; i < entry.vary.length; i++) {
    const name = entry.vary[i]!;
    // §4.1: "A stored response with a Vary header field value containing a member '*' always fails to match."
    if (name === '*') return false;
    // §4.1: absent in both counts as a match; present in one only does not.
    if (normalizedFieldValue(requestHeaders, name) !== (entry.varyValues[i] ?? null)) return false;
  }
  return true;
}

/**
 * Select the stored response to use for a request (§4.1): among the variants whose Vary'd
 * values match, "the most recent response (as determined by the Date header field) is used";
 * ties go to the one received last.
 */
export function selectVariant<E extends Pick<StoredEntry, 'vary' | 'varyValues' | 'headers' | 'responseTime'>>(entries: readonly E[], requestHeaders: HeaderList): E | undefined {
  let best: E | undefined;
  // Dates are read only once a second match needs comparing: a hit usually has one variant.
  let bestDate = NaN;
  for (const e of entries) {
    if (!variantMatches(e, requestHeaders)) continue;
    if (best === undefined) {
      best = e;
      continue;
    }
    if (Number.isNaN(bestDate)) bestDate = dateOf(best);
    const date = dateOf(e);
    if (date > bestDate || (date === bestDate && e.responseTime > best.responseTime)) {
      best = e;
      bestDate = date;
    }
  }
  return best;
}

/** The Date of a stored response (§4.1 "as determined by the Date header field"), else when it was received. */
function dateOf(e: Pick<StoredEntry, 'headers' | 'responseTime'>): number {
  return parseHttpDate(e.headers.first('date')) ?? e.responseTime;
}
