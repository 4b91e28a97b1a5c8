/**
 * `node:diagnostics_channel` events of the server, the counterpart of the client's, so an operator
 * can trace both ends of a connection with the same tools. Messages are published only when a
 * channel has subscribers: an untraced server pays one property read per event.
 *
 * | channel                                   | message                                                    |
 * |-------------------------------------------|------------------------------------------------------------|
 * | `holdfast:server:connection:created`      | `{ connectionId, socket, secure }`                         |
 * | `holdfast:server:connection:closed`       | `{ connectionId, reason, requestCount, error? }`           |
 * | `holdfast:server:request:start`           | `{ connectionId, request }`                                |
 * | `holdfast:server:request:end`             | `{ connectionId, request, status, keepAlive, error? }`     |
 *
 * `request:start` is published when a request head has been parsed (a pipelined request starts
 * before the one ahead of it ends); `request:end` when its response was completely handed to the
 * socket (`keepAlive`: whether the connection stays open for another request), or — with `error`
 * and `keepAlive: false` — when the response could not be completed. `connection:closed` comes
 * once, when the socket is closed, with the `reason` the server decided to close for (see
 * `ServerCloseReason`) and, for a malformed request, the `WireError` it was answered with.
 */
import diagnostics from 'node:diagnostics_channel';

/**
 * Why a server connection closed.
 * - `headers-timeout`: a request head did not arrive in time (silent for a connection that sent nothing, else 408).
 * - `idle-timeout`: no new request within the keep-alive time.
 * - `bad-request`: a malformed request was answered with an error status (`error` says which).
 * - `connection-close`: the response was the last one (`Connection: close`, HTTP/1.0, the request limit, a 413...).
 * - `unread-body`: the handler left more request body unread than the server drains, or the body failed.
 * - `peer-closed`: the client ended its side (FIN) and everything it asked for was answered.
 * - `shutdown`: graceful shutdown closed the connection.
 * - `response-aborted`: the response could not be completed; closing shows the client it is truncated.
 * - `upgraded`: the upgrade hook took the socket; it closed when its new owner closed it.
 * - `socket-closed`: the socket closed before the server decided anything (a reset, or a forced close).
 */
export type ServerCloseReason =
  | 'headers-timeout'
  | 'body-timeout'
  | 'request-timeout'
  | 'idle-timeout'
  | 'bad-request'
  | 'connection-close'
  | 'unread-body'
  | 'peer-closed'
  | 'shutdown'
  | 'response-aborted'
  | 'upgraded'
  | 'socket-closed';

export const serverConnectionCreatedChannel = diagnostics.channel('holdfast:server:connection:created');
export const serverConnectionClosedChannel = diagnostics.channel('holdfast:server:connection:closed');
export const serverRequestStartChannel = diagnostics.channel('holdfast:server:request:start');
export const serverRequestEndChannel = diagnostics.channel('holdfast:server:request:end');
