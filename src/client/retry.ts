/**
 * When a request may be sent again. Two layers:
 *
 * 1. Safe retries (always on unless `retry: false`), decided in `Agent`: only for the
 *    keep-alive race — the attempt ran on a reused connection, no byte of the response arrived,
 *    and either nothing was written or the request is replayable (`isReplayable`). Go's
 *    `shouldRetryRequest` and curl follow the same rules.
 * 2. An opt-in policy (`retry: { ... }`), like got's: retry replayable requests on chosen status
 *    codes and error codes, with backoff and `Retry-After`.
 */
import type { Dispatch, DispatchRequest } from './dispatch.ts';
import type { ClientResponse } from './response.ts';
import { ClientError } from './errors.ts';
import { parseHttpDate } from '../wire/httpDate.ts';
import { trimOws } from '../wire/chars.ts';
import { amountOption, durationOption } from '../wire/optionValidation.ts';

/** Methods whose repetition has the same effect as one request (RFC 9110 §9.2.2). */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * A request may be sent twice without changing its effect: an idempotent method or an
 * `Idempotency-Key` (or the caller's `idempotent: true`), and a body that can be sent again.
 */
export function isReplayable(req: DispatchRequest): boolean {
  const idempotent = IDEMPOTENT_METHODS.has(req.method) || req.idempotent === true || req.headers.has('idempotency-key');
  if (!idempotent) return false;
  return req.body === null || req.body.replayable;
}

/** Opt-in retry policy (like got's `retry`). */
export interface RetryPolicy {
  /** Retries after the first attempt (default 2). */
  limit?: number;
  /** Methods retried (default GET, HEAD, OPTIONS, TRACE, PUT, DELETE). `Idempotency-Key` adds any. */
  methods?: string[];
  /** Statuses retried (default 408, 413, 429, 500, 502, 503, 504, 521, 522, 524). */
  statusCodes?: number[];
  /** Error codes retried (`ClientError.code`; default connect, reset, stale, timeouts of connect). */
  errorCodes?: string[];
  /** Delay before retry `n` (1-based), in ms. Default: 100 · 2^(n-1) with jitter, at most `maxBackoff`. */
  backoff?: (attempt: number) => number;
  /** Upper bound of the default backoff (default 10000). */
  maxBackoff?: number;
  /** Honour `Retry-After` on 413, 429 and 503 up to this many ms; longer means no retry (default 60000). */
  maxRetryAfter?: number;
}

/** A policy with defaults filled in. */
export interface ResolvedRetryPolicy {
  run(req: DispatchRequest, next: Dispatch): Promise<ClientResponse>;
}

const DEFAULT_STATUS = [408, 413, 429, 500, 502, 503, 504, 521, 522, 524];
const DEFAULT_ERRORS = ['HF_CONNECT', 'HF_CONNECT_TIMEOUT', 'HF_SOCKET_RESET', 'HF_STALE_CONNECTION'];

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = trimOws(value);
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = parseHttpDate(v, now);
  if (t === undefined) return undefined;
  return Math.max(0, t - now);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function resolveRetryPolicy(p: RetryPolicy): ResolvedRetryPolicy {
  const limit = amountOption('retry.limit', p.limit ?? 2, true, true);
  const methods = new Set((p.methods ?? [...IDEMPOTENT_METHODS]).map((m) => m.toUpperCase()));
  const statuses = new Set(p.statusCodes ?? DEFAULT_STATUS);
  const errors = new Set(p.errorCodes ?? DEFAULT_ERRORS);
  const maxBackoff = durationOption('retry.maxBackoff', p.maxBackoff ?? 10_000, true);
  const maxRetryAfter = durationOption('retry.maxRetryAfter', p.maxRetryAfter ?? 60_000, true);
  const backoff = p.backoff ?? ((n: number) => Math.min(maxBackoff, 100 * 2 ** (n - 1) + Math.random() * 100));
  const eligible = (req: DispatchRequest): boolean => {
    const allowed = methods.has(req.method) || req.idempotent === true || req.headers.has('idempotency-key');
    return allowed && (req.body === null || req.body.replayable);
  };
  return {
    async run(req, next) {
      let attemptsBefore = 0;
      for (let retry = 0; ; retry++) {
        let res: ClientResponse;
        try {
          res = await next(req);
        } catch (err) {
          const code = err instanceof ClientError ? err.code : (err as NodeJS.ErrnoException).code;
          if (retry >= limit || !eligible(req) || code === undefined || !errors.has(code)) throw err;
          attemptsBefore += 1;
          await sleep(backoff(retry + 1), req.signal);
          continue;
        }
        res.attempts += attemptsBefore;
        if (retry >= limit || !statuses.has(res.status) || !eligible(req)) return res;
        let delay = backoff(retry + 1);
        if (res.status === 413 || res.status === 429 || res.status === 503) {
          const ra = parseRetryAfter(res.headers.get('retry-after'));
          if (ra !== undefined) {
            if (ra > maxRetryAfter) return res;
            delay = ra;
          }
        }
        attemptsBefore = res.attempts;
        await res.body.dump();
        await sleep(delay, req.signal);
      }
    },
  };
}
