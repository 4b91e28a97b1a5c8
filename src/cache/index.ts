/**
 * holdfast/cache — an RFC 9111 HTTP cache that many processes can share safely.
 *
 * ```ts
 * import { createCache, SqliteStore } from 'holdfast/cache';
 * const cache = createCache({ store: new SqliteStore({ directory: '.cache/http' }) });
 * const res = await cache.handle({ method: 'GET', url, headers }, next);
 * // or through the holdfast client: `request()` and `fetch()` of this agent use the cache.
 * const agent = new Agent({ cache });
 * ```
 * @module
 */
export { Cache, createCache } from './cache.ts';
export type { CacheOptions, CacheStats } from './cache.ts';
export { cacheInterceptor } from './clientInterceptor.ts';
export type { Body, CacheMode, CacheOutcome, CacheRequest, CacheResponse, Next, StoredEntry } from './types.ts';
export { HeaderList } from '../wire/headers.ts';
export type { CacheStore, StoreLimits } from './store.ts';
export { MemoryStore } from './stores/memory.ts';
export type { MemoryStoreOptions } from './stores/memory.ts';
export { SqliteStore } from './stores/sqlite.ts';
export type { SqliteStoreOptions } from './stores/sqlite.ts';
export { RedisStore } from './stores/redis.ts';
export type { RedisStoreOptions } from './stores/redis.ts';
export { StoreGuard, breakerLog } from './storeGuard.ts';
export type { BreakerState, BreakerStateChange, StoreGuardOptions, StoreGuardStats } from './storeGuard.ts';
export { CacheError, CorruptEntryError, RedisClientMissingError, StoreClosedError, StoreConnectionError, StoreTimeoutError, StoreUnavailableError, Unexpected304Error, describeError } from './errors.ts';
export type { HeuristicOptions } from './freshness.ts';
export { HoldfastError } from '../wire/holdfastError.ts';
export { InvalidOptionError } from '../wire/optionValidation.ts';
