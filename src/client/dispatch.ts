/**
 * The interception contract. Every request, from `request()` or `fetch()`, becomes one
 * `DispatchRequest` that runs through the agent's interceptors and then reaches the network.
 * An interceptor (a cache, a logger, an auth layer) wraps the next dispatch function, as in
 * undici's `compose`:
 *
 * ```ts
 * const logging: Interceptor = (next) => async (req) => {
 *   const res = await next(req);
 *   console.log(req.method, req.url, res.status);
 *   return res;
 * };
 * const agent = new Agent({ interceptors: [logging] });
 * ```
 */
import type { HeaderList } from '../wire/index.ts';
import type { OutgoingBody } from './outgoingBody.ts';
import type { ClientResponse } from './response.ts';

/** Per-request timeouts in milliseconds; 0 disables one. */
export interface Timeouts {
  /** DNS + TCP + TLS of a new connection. */
  connect?: number;
  /** From the end of writing the request to the response head. */
  headers?: number;
  /** Longest pause between two body chunks while the body is being read. */
  body?: number;
  /** The whole request, from the call to the end of the response body. */
  request?: number;
  /** `Expect: 100-continue`: how long to wait for `100 Continue` before sending the body anyway. */
  expectContinue?: number;
}

/** One request as it travels through interceptors. Interceptors may pass a modified copy on. */
export interface DispatchRequest {
  /** Absolute URL (`http:` or `https:`). Without `target`, its path and query are sent. */
  url: string;
  /**
   * The method, sent exactly as it stands here: methods are case-sensitive (RFC 9110 §9.1).
   * `request()` upper-cases its `method` option unless `exactMethod` is set (the reverse proxy
   * sets it, so a client's `get` is forwarded as `get`); `fetch()` upper-cases only the common
   * methods (`get`, `post`, ...). An interceptor that compares methods compares exactly.
   */
  method: string;
  /** Request header fields (Host and framing fields are added by the connection if absent). */
  headers: HeaderList;
  /** The body, normalised; `null` for none. `body.replayable` says whether a retry may resend it. */
  body: OutgoingBody | null;
  /** Aborts the request and its response body. */
  signal?: AbortSignal | undefined;
  /** Overrides of the agent's timeouts. */
  timeouts?: Timeouts | undefined;
  /**
   * Declares the request safe to repeat even if the method is not idempotent (as an
   * `Idempotency-Key` header does). Read by both retry layers: through `isReplayable` the
   * built-in safe retry may replay it after the keep-alive race even though its bytes were
   * written, and the opt-in retry policy retries it like an idempotent method. Either way its
   * body must be replayable too.
   */
  idempotent?: boolean | undefined;
  /** Send `Expect: 100-continue` and wait for `100 Continue` before sending the body. */
  expectContinue?: boolean | undefined;
  /**
   * The exact origin-form request-target to send instead of `url`'s path and query (which
   * `new URL()` normalises). `url` still decides the origin. An interceptor that changes `url` to
   * another resource must drop it.
   */
  target?: string | undefined;
}

/** Sends a request and resolves with the response once its head has arrived. */
export type Dispatch = (req: DispatchRequest) => Promise<ClientResponse>;

/** Wraps the next dispatch function. */
export type Interceptor = (next: Dispatch) => Dispatch;

/** Builds one dispatch function; the first interceptor is the outermost (sees requests first). */
export function compose(base: Dispatch, interceptors: readonly Interceptor[]): Dispatch {
  let d = base;
  for (let i = interceptors.length - 1; i >= 0; i--) d = interceptors[i]!(d);
  return d;
}
