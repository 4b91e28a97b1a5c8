/**
 * `holdfast/server`: an HTTP/1.1 server that never truncates, never stalls, and closes the way
 * RFC 9112 §9.6 asks. Two handler styles: a web-standard fetch handler and a streaming API.
 */
export { Server, createServer, serve, type ListenOptions, type CloseOptions, type ServeOptions } from './server.ts';
export type { ServerOptions, StreamingHandler, FetchHandler, FetchInfo, AutoResponse } from './options.ts';
export { ServerRequest } from './serverRequest.ts';
export { IncomingBody } from './incomingBody.ts';
export { ResponseWriter, type ResponseHeaders, type BodyChunk, type SwitchedConnection } from './responseWriter.ts';
export { ServerError, type ServerErrorCode } from './errors.ts';
export type { ServerConnectionState } from './connection.ts';
export type { UpgradeHook, UpgradeRequest } from './upgrade.ts';
export type { ServerCloseReason } from './diagnostics.ts';
export type { LingerOptions } from '../transport/lingeringClose.ts';
export { serveStatic, type StaticOptions } from './serveStatic.ts';
export { LightResponse, NativeResponse } from './lightResponse.ts';
export { HoldfastError } from '../wire/holdfastError.ts';
export { InvalidOptionError } from '../wire/optionValidation.ts';
