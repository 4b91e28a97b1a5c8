/**
 * The response `request()` resolves with, once the response head has arrived.
 */
import { HeaderList } from '../wire/index.ts';
import { reasonPhrase } from '../wire/index.ts';
import type { HeaderInit } from '../wire/index.ts';
import { ResponseBody } from './responseBody.ts';

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

  constructor(init: ClientResponseInit) {
    this.status = init.status;
    this.statusText = init.statusText ?? reasonPhrase(init.status);
    this.headers = init.headers instanceof HeaderList ? init.headers : new HeaderList(init.headers);
    const b = init.body;
    this.body = b instanceof ResponseBody ? b : ResponseBody.from(b ?? null);
    this.url = init.url ?? '';
    this.reusedConnection = init.reusedConnection ?? false;
    this.attempts = init.attempts ?? 1;
  }

  /** Whether the status is 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }
}
