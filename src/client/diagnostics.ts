/**
 * `node:diagnostics_channel` events, so that tracing tools can follow a request through
 * retries and connections. Messages are published only when a channel has subscribers.
 *
 * | channel                                   | message                                              |
 * |-------------------------------------------|------------------------------------------------------|
 * | `holdfast:client:request:start`           | `{ request, attempt }`                               |
 * | `holdfast:client:request:headers`         | `{ request, response, connectionId, reused }`        |
 * | `holdfast:client:request:body:done`       | `{ request, response, bytes }`                       |
 * | `holdfast:client:request:error`           | `{ request, error, response? }`                      |
 * | `holdfast:client:request:retry`           | `{ request, attempt, error }`                        |
 * | `holdfast:client:connection:created`      | `{ connectionId, origin, socket }`                   |
 * | `holdfast:client:connection:reused`       | `{ connectionId, origin, socket, requestCount }`     |
 * | `holdfast:client:connection:closed`       | `{ connectionId, origin, reason, requestCount }`     |
 *
 * `connection:reused` is published after the liveness check, immediately before the request is
 * written to the socket.
 *
 * `request:error` is the end of a request that failed: once, with no `response`, when no head
 * came (after the safe retries: each retried attempt is a `request:retry` instead); or with the
 * `response` whose body then failed (truncated, body or request timeout, aborted). So a request
 * answered from the network ends in one `request:body:done` or one `request:error`; a body the
 * consumer cancels (or `dump()` gives up on) publishes neither, being no failure of the request.
 */
import diagnostics from 'node:diagnostics_channel';

export const requestStartChannel = diagnostics.channel('holdfast:client:request:start');
export const requestHeadersChannel = diagnostics.channel('holdfast:client:request:headers');
export const requestBodyDoneChannel = diagnostics.channel('holdfast:client:request:body:done');
export const requestErrorChannel = diagnostics.channel('holdfast:client:request:error');
export const requestRetryChannel = diagnostics.channel('holdfast:client:request:retry');
export const connectionCreatedChannel = diagnostics.channel('holdfast:client:connection:created');
export const connectionReusedChannel = diagnostics.channel('holdfast:client:connection:reused');
export const connectionClosedChannel = diagnostics.channel('holdfast:client:connection:closed');
