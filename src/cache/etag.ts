/**
 * Entity-tag parsing and comparison (RFC 9110 §8.8.3).
 * @module
 */
import { splitList } from './headers.ts';

/** A parsed entity-tag. */
export interface EntityTag {
  weak: boolean;
  /** The opaque-tag including its quotes. */
  opaque: string;
}

/** Parse one entity-tag (`"x"` or `W/"x"`); `undefined` when malformed. */
export function parseETag(value: string | undefined): EntityTag | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const weak = v.startsWith('W/');
  const opaque = weak ? v.slice(2) : v;
  if (opaque.length < 2 || !opaque.startsWith('"') || !opaque.endsWith('"') || opaque.slice(1, -1).includes('"')) return undefined;
  return { weak, opaque };
}

/** Strong comparison: both strong and identical (RFC 9110 §8.8.3.2). */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison: identical opaque-tags, weakness ignored (RFC 9110 §8.8.3.2). */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

/** Members of an If-None-Match / If-Match value; `'*'` for the wildcard. */
export function parseETagList(value: string): EntityTag[] | '*' {
  if (value.trim() === '*') return '*';
  const out: EntityTag[] = [];
  for (const member of splitList(value)) {
    const tag = parseETag(member);
    if (tag !== undefined) out.push(tag);
  }
  return out;
}
