/**
 * `holdfast/proxy`: a caching reverse proxy that makes a fragile backend safe to put in front of
 * browsers and scripts — holdfast's server downstream, holdfast's client upstream, and the
 * shared-mode RFC 9111 cache with request collapsing in between.
 *
 * ```ts
 * import { createProxy } from 'holdfast/proxy';
 * const proxy = createProxy({ upstreams: ['http://127.0.0.1:8000'], upstreamConcurrency: 1 });
 * await proxy.listen(8080, '127.0.0.1');
 * ```
 */
export {
  ReverseProxy, createProxy, type ReverseProxyOptions, type ReverseProxyTimeouts, type ReverseProxyStats, type ReverseProxyTunnelStats,
} from './proxy.ts';
export type { TunnelRecord, TunnelCloseReason } from './tunnel.ts';
export { ProxyError, type ProxyErrorCode } from './errors.ts';
export type { ForwardedStyle } from './forwarded.ts';
export type { UpstreamKeepAlive, UpstreamStatus, HealthOptions } from './upstream.ts';
export type { ActiveHealthOptions } from './healthCheck.ts';
export type { ProxyExchange } from './exchange.ts';
export { HoldfastError } from '../wire/holdfastError.ts';
export { InvalidOptionError } from '../wire/optionValidation.ts';
