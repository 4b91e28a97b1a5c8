/**
 * What the proxy learns about one request while it handles it: the facts an access log line and
 * the metrics need (which upstream answered and how fast, retries, the cache's outcome, bytes
 * sent). The caller creates one per request and reads it once `handle` has resolved.
 */
import type { CacheOutcome } from '../cache/index.ts';
import type { TunnelRecord } from './tunnel.ts';

/** One request's record, filled in by `ReverseProxy.handle`. */
export interface ProxyExchange {
  /** The request id forwarded upstream and echoed downstream (`X-Request-Id`); null: none. */
  requestId: string | null;
  /** URL of the upstream that produced the response (the last one tried), or null. */
  upstream: string | null;
  /** Milliseconds from the request's dispatch upstream to the upstream's response head. */
  upstreamMs: number | null;
  /** Attempts on another upstream after a failed one. */
  retries: number;
  /** The cache's outcome when the request went through the cache. */
  cacheOutcome: CacheOutcome | null;
  /** Response body bytes written downstream. */
  bytes: number;
  /**
   * Set when the request was switched (101) and became a tunnel: resolves with the tunnel's record
   * once both of its sockets have closed. Null when the request stayed HTTP.
   */
  tunnel: Promise<TunnelRecord> | null;
}

/** A fresh record for one request. */
export function newExchange(requestId: string | null = null): ProxyExchange {
  return { requestId, upstream: null, upstreamMs: null, retries: 0, cacheOutcome: null, bytes: 0, tunnel: null };
}
