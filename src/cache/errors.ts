/**
 * Errors raised by the cache. Each has a stable `code` for programmatic handling.
 * @module
 */
import { HoldfastError } from '../wire/holdfastError.ts';

/** Base class of every cache error. */
export class CacheError extends HoldfastError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = new.target.name;
  }
}

/** A stored entry failed its integrity check (torn, truncated or tampered with). Treated as a miss. */
export class CorruptEntryError extends CacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HF_CACHE_CORRUPT_ENTRY', message, options);
  }
}

/**
 * The origin answered an unconditional request with 304. A caller that sent no conditions must
 * never receive a 304 (DESIGN.md, seed 003), so this is reported as an error instead.
 */
export class Unexpected304Error extends CacheError {
  constructor(url: string) {
    super('HF_CACHE_UNEXPECTED_304', `origin answered an unconditional GET ${url} with 304 Not Modified`);
  }
}

/** The store was used after `close()`. */
export class StoreClosedError extends CacheError {
  constructor() {
    super('HF_CACHE_STORE_CLOSED', 'the cache store is closed');
  }
}

/** The optional Redis client package (`@redis/client`) is not installed. */
export class RedisClientMissingError extends CacheError {
  constructor(cause: unknown) {
    super('HF_CACHE_REDIS_CLIENT_MISSING', 'the Redis store needs the optional peer dependency @redis/client (npm install @redis/client)', { cause });
  }
}

/** A cache store operation did not settle within the store timeout; the request went on without the cache. */
export class StoreTimeoutError extends CacheError {
  constructor(operation: string, timeoutMs: number) {
    super('HF_CACHE_STORE_TIMEOUT', `cache store ${operation} timed out after ${timeoutMs} ms`);
  }
}

/**
 * The store's circuit breaker is open (the store failed repeatedly): the operation was not tried.
 * `cause` is the failure that opened the breaker.
 */
export class StoreUnavailableError extends CacheError {
  constructor(operation: string, cause: unknown) {
    super('HF_CACHE_STORE_UNAVAILABLE', `cache store ${operation} skipped: the store is failing (circuit breaker open)`, { cause });
  }
}

/** A store's connection is down or was lost; the message says why (the last connection error). */
export class StoreConnectionError extends CacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HF_CACHE_STORE_CONNECTION', message, options);
  }
}

/**
 * An error's message fit for a log line. Some errors carry none: a refused connection to a
 * name with several addresses is an `AggregateError` with an empty message, its reasons inside;
 * a client's timeout may be a bare `TimeoutError`.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  let message = err.message;
  if (message === '' && err instanceof AggregateError) {
    message = [...new Set(err.errors.map((e) => describeError(e)))].join('; ');
  }
  if (message === '' && err.cause !== undefined) message = describeError(err.cause);
  if (message === '') message = err.name !== 'Error' ? err.name : err.constructor.name;
  return typeof code === 'string' && !message.includes(code) ? `${code} ${message}` : message;
}
