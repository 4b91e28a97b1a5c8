/**
 * `holdfast/internals`: the parts the public entries use to build themselves — the client's pool
 * and connection, the server's fetch adapter, the transport's lingering close, the cache's policy
 * functions and entry codec, the proxy's balancer and read-ahead, the lab's tallies.
 *
 * **No stability promise.** Anything here may change or disappear in any release, patch releases
 * included. It exists for tests, benchmarks and adapters that need to reach one layer down; an
 * application should need only `holdfast`, `holdfast/server`, `holdfast/cache`, `holdfast/proxy`,
 * `holdfast/wire` and `holdfast/lab`.
 * @module
 */
// transport
export { lingeringClose, DEFAULT_LINGER, type LingerOptions, type LingerOutcome } from './transport/lingeringClose.ts';
// options
export { durationOption, amountOption, booleanOption, oneOfOption, invalidOption, MAX_TIMER_MS } from './wire/optionValidation.ts';
// client
export { Pool, type PoolOptions, type CheckoutHandle } from './client/pool.ts';
export { ClientConnection, type ClientConnectionState, type CloseReason } from './client/connection.ts';
export type { BodySource } from './client/responseBody.ts';
export { OutgoingBody } from './client/outgoingBody.ts';
export { compose } from './client/dispatch.ts';
export { isReplayable, parseRetryAfter } from './client/retry.ts';
// server
export { supportsReusePort, refuseListenOptions } from './server/server.ts';
export { lazyRequest, writeResponse, fetchToStreaming } from './server/fetchAdapter.ts';
export { mimeType } from './server/mime.ts';
export { installLightResponse } from './server/lightResponse.ts';
// cache
export { encodeEntry, decodeEntry } from './cache/entryCodec.ts';
export { parseCacheControl, parseRequestDirectives, type Directives } from './cache/cacheControl.ts';
export { freshnessLifetime, currentAge } from './cache/freshness.ts';
export { whyNotStorable } from './cache/storability.ts';
export { selectVariant, varyFields, normalizedFieldValue } from './cache/vary.ts';
export { conditionalHeaders, notModifiedMatches, mergeNotModified } from './cache/revalidation.ts';
export { decideReuse, staleIfErrorAllows, type Reuse } from './cache/reuse.ts';
export { invalidationKeys } from './cache/invalidation.ts';
export { cacheKey } from './cache/cacheKey.ts';
// proxy
export { addForwarded, appendVia, type HopInfo } from './proxy/forwarded.ts';
export { prepareRequestBody, type PreparedBody } from './proxy/requestBuffer.ts';
export { ReadAhead } from './proxy/readAhead.ts';
export { Balancer, type Lease, type BalancerOptions } from './proxy/balancer.ts';
export { Upstream, isUpstreamFailure, type UpstreamSettings } from './proxy/upstream.ts';
// lab
export { shortCell } from './lab/scorecard.ts';
export { failureRate } from './lab/html-report.ts';
export { rawLabel } from './lab/raw-client.ts';
export { Tally } from './lab/util.ts';
export { EARLY_BODY_LENGTH, BIG_SIZES } from './lab/subjects/server-app.ts';
