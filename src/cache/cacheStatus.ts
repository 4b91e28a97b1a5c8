/**
 * The `Cache-Status` response field (RFC 9211): what this cache did with a request, as one list
 * member appended after those of the caches before it. Pure.
 * @module
 */
import { serializeString } from '../wire/structuredFields.ts';

/**
 * RFC 9211 §2.2 `fwd` values this cache uses: `bypass` (the request is not one the cache
 * handles), `method` (not GET/HEAD), `uri-miss` (nothing stored for the URI), `vary-miss` (stored
 * responses, none selected by Vary), `request` (the request's directives asked for it), `stale`
 * (the stored response needed validation), `partial` (only part of the response was stored, and
 * not the part asked for).
 */
export type ForwardReason = 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'request' | 'stale' | 'partial';

/** What a request's entry says; filled in as the cache handles it. */
export class CacheStatusNote {
  /** Answered from storage without forwarding (§2.1). */
  hit = false;
  /** Why the request went forward (§2.2). */
  fwd: ForwardReason | undefined = undefined;
  /** The status of the forwarded request's response (§2.3). */
  fwdStatus: number | undefined = undefined;
  /** Remaining freshness of the response used, seconds; negative when stale (§2.4). */
  ttl: number | undefined = undefined;
  /** The forwarded response was stored (§2.5). */
  stored = false;
  /** The request waited for another request's forward (§2.6). */
  collapsed = false;
  /** The cache key (§2.7), when asked for. */
  key: string | undefined = undefined;
  /** Why a stored response was served stale after a failed forward, or why one was generated (§2.8). */
  detail: 'stale-if-error' | 'disconnected' | 'only-if-cached' | undefined = undefined;
}

/** The list member for a cache whose name is already serialised (`id`, see `serializeTokenOrString`). */
export function cacheStatusMember(id: string, note: CacheStatusNote): string {
  // Parameters appended to one string (no array and join: this runs on every cache hit).
  let out = id;
  // A request that waited for another's forward and then found its response stored is a hit:
  // the forward reason noted before the wait is not what happened.
  if (note.hit) out += '; hit';
  else if (note.fwd !== undefined) {
    out += `; fwd=${note.fwd}`;
    if (note.fwdStatus !== undefined) out += `; fwd-status=${note.fwdStatus}`;
  }
  if (note.ttl !== undefined) out += `; ttl=${note.ttl}`;
  if (note.stored) out += '; stored';
  if (note.collapsed) out += '; collapsed';
  if (note.key !== undefined) {
    const key = serializeString(note.key);
    if (key !== undefined) out += `; key=${key}`;
  }
  if (note.detail !== undefined) out += `; detail=${note.detail}`;
  return out;
}
