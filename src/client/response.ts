/**
 * The response `request()` resolves with, once the response head has arrived.
 */
import { HeaderList } from '../wire/index.ts';
import { reasonPhrase } from '../wire/index.ts';
import type { HeaderInit } from '../wire/index.ts';
import { ResponseBody } from './responseBody.ts';

/**
 * How a cache interceptor produced a response (the values of `holdfast/cache`'s `CacheOutcome`,
 * spelled out here because the client layer does not import the cache layer above it).
 */
export type ResponseCacheOutcome = 'hit' | 'stale' | 'revalidated' | 'miss' | 'bypass' | 'generated';

/** Fields to build a `ClientResponse` by hand (interceptors, caches, tests). */
export interface ClientResponseInit {
  status: number;
  statusText?: string;
  headers?: HeaderList | HeaderInit;
  body?: ResponseBody | Uint8Array | string | AsyncIterable<Uint8Array> | null;
  /** The URL the response answers. */
  url?: string;
  reusedConnection?: boolean;
  attempts?: number;
  cacheOutcome?: ResponseCacheOutcome;
}

/** A response: status, the head's fields as received, and a streaming body. */
export class ClientResponse {
  /** Status code. */
  readonly status: number;
  /** Reason phrase as received (may be empty). */
  readonly statusText: string;
  /** Header fields as received on the wire, in order. */
  readonly headers: HeaderList;
  /** The streaming body; it errors (never ends normally) when the body was cut short. */
  readonly body: ResponseBody;
  /** The absolute URL of the request this answers. */
  url: string;
  /** Whether the final attempt ran on a pooled connection that had served earlier requests. */
  reusedConnection: boolean;
  /** Number of attempts made, including safe automatic retries (1 when none was needed). */
  attempts: number;
  /** Trailer fields of a chunked body, once it has ended. */
  trailers: HeaderList | null = null;
  /**
   * Set by a cache interceptor (the agent's `cache` option): `hit` and `stale` were served from
   * the store (`stale` possibly after a failed attempt: stale-if-error), `revalidated` after a
   * 304, `miss` and `bypass` came from the origin, `generated` by the cache itself (504 for
   * only-if-cached, 304 for the caller's own conditions). `undefined` when no cache handled it.
   */
  cacheOutcome: ResponseCacheOutcome | undefined;

  constructor(init: ClientResponseInit) {
    this.status = init.status;
    this.statusText = init.statusText ?? reasonPhrase(init.status);
    this.headers = init.headers instanceof HeaderList ? init.headers : new HeaderList(init.headers);
    const b = init.body;
    this.body = b instanceof ResponseBody ? b : ResponseBody.from(b ?? null);
    this.url = init.url ?? '';
    this.reusedConnection = init.reusedConnection ?? false;
    this.attempts = init.attempts ?? 1;
    this.cacheOutcome = init.cacheOutcome;
  }

  /** Whether the status is 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }
}
