/**
 * Entity-tags (RFC 9110 §8.8.3): parsing, strong and weak comparison, and the If-Match /
 * If-None-Match conditions (§13.1.1, §13.1.2). The cache (validation, a caller's own
 * conditions) and the static file server both decide with these functions.
 */
import { splitList } from './fields.ts';

/** A parsed entity-tag. */
export interface EntityTag {
  weak: boolean;
  /** The opaque-tag including its quotes, e.g. `"abc"`. */
  opaque: string;
}

/**
 * Parses one entity-tag (`"x"` or `W/"x"`, RFC 9110 §8.8.3); `undefined` when malformed
 * (an etagc is %x21 / %x23-7E / obs-text: no quote, space or control inside).
 */
export function parseEntityTag(value: string | undefined): EntityTag | undefined {
  if (value === undefined) return undefined;
  const weak = value.startsWith('W/');
  const opaque = weak ? value.slice(2) : value;
  const n = opaque.length;
  if (n < 2 || opaque.charCodeAt(0) !== 0x22 || opaque.charCodeAt(n - 1) !== 0x22) return undefined;
  for (let i = 1; i < n - 1; i++) {
    const c = opaque.charCodeAt(i);
    if (c < 0x21 || c === 0x22 || c === 0x7f || c > 0xff) return undefined;
  }
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

/** Members of an If-Match / If-None-Match value, `'*'` for the wildcard; malformed members are dropped. */
export function parseEntityTagList(value: string): EntityTag[] | '*' {
  const members = splitList(value);
  if (members.length === 1 && members[0] === '*') return '*';
  const out: EntityTag[] = [];
  for (const member of members) {
    const tag = parseEntityTag(member);
    if (tag !== undefined) out.push(tag);
  }
  return out;
}

/**
 * Whether If-None-Match `value` evaluates to true for a current representation with entity-tag
 * `current` (RFC 9110 §13.1.2): false when `*` and a representation exists, or when any member
 * matches by weak comparison. False for a GET/HEAD means 304.
 */
export function ifNoneMatchPasses(value: string, current: EntityTag | undefined, exists = true): boolean {
  const list = parseEntityTagList(value);
  if (list === '*') return !exists;
  return current === undefined || !list.some((t) => weakMatch(t, current));
}

/**
 * Whether If-Match `value` evaluates to true (RFC 9110 §13.1.1): `*` and a representation exists,
 * or any member matches `current` by strong comparison (a weak tag never matches).
 */
export function ifMatchPasses(value: string, current: EntityTag | undefined, exists = true): boolean {
  const list = parseEntityTagList(value);
  if (list === '*') return exists;
  return current !== undefined && list.some((t) => strongMatch(t, current));
}
