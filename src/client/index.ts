/**
 * `holdfast`: a pooled HTTP/1.1 client that never surfaces a connection-lifecycle race.
 *
 * ```ts
 * import { request, fetch, Agent } from 'holdfast';
 * const res = await request('http://127.0.0.1:8080/items', { method: 'POST', body: '{}' });
 * console.log(res.status, await res.body.json());
 * ```
 */
import { Agent, type RequestOptions } from './agent.ts';
import type { ClientResponse } from './response.ts';

export { Agent, type AgentOptions, type AgentCache, type RequestOptions, type UpgradeOptions, type UpgradeResult } from './agent.ts';
export type { CloseReason } from './connection.ts';
export { ClientResponse, type ClientResponseInit, type ResponseCacheOutcome } from './response.ts';
export { ResponseBody } from './responseBody.ts';
export type { RequestBodyInit, StreamBodySource } from './outgoingBody.ts';
export type { Dispatch, DispatchRequest, Interceptor, Timeouts } from './dispatch.ts';
export type { RetryPolicy } from './retry.ts';
export { HoldfastDispatcher, type DispatchOptions, type DispatchHandler, type DispatchController, type LegacyDispatchHandler, type AnyDispatchHandler, type DispatchFn, type DispatchInterceptor } from './dispatcher.ts';
export { installGlobalDispatcher, uninstallGlobalDispatcher, installedGlobalDispatcher } from './globalDispatcher.ts';
export type { ClientTlsOptions } from '../transport/connect.ts';
export { HeaderList, HoldfastError } from '../wire/index.ts';
export { InvalidOptionError } from '../wire/optionValidation.ts';
export {
  ClientError,
  ConnectError,
  TlsError,
  StaleConnectionError,
  SocketResetError,
  ResponseParseError,
  TruncatedBodyError,
  TimeoutError,
  AbortedError,
  PoolClosedError,
  QueueFullError,
  InvalidRequestError,
  RequestBodyError,
  type ClientErrorCode,
  type ClientErrorPhase,
  type TimeoutCode,
} from './errors.ts';

let defaultAgent: Agent | null = null;

/** The agent used by the module-level `request()` and `fetch()` (created on first use). */
export function getDefaultAgent(): Agent {
  if (defaultAgent === null) defaultAgent = new Agent();
  return defaultAgent;
}

/** Replaces the default agent (the previous one is not closed). */
export function setDefaultAgent(agent: Agent): void {
  defaultAgent = agent;
}

/** `request()` on the default agent. */
export function request(url: string | URL, options?: RequestOptions): Promise<ClientResponse> {
  return getDefaultAgent().request(url, options);
}

/** `fetch()` on the default agent: the WHATWG contract, returning the global `Response`. */
export function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  return getDefaultAgent().fetch(input, init);
}
