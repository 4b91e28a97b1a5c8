/**
 * `holdfast/wire`: bytes <-> HTTP/1.1 messages. Parsers, chunked codec, serializers, fields.
 * Pure code: no sockets, no timers.
 */
export { HoldfastError } from './holdfastError.ts';
export { InvalidOptionError } from './optionValidation.ts';
export { WireError, TruncatedMessageError, type WireErrorCode } from './errors.ts';
export { HeaderList, assertFieldName, assertFieldValue, type HeaderInit } from './headers.ts';
export { parseTokenList, hasToken, parseDirectives, parseKeepAlive, type KeepAliveHint } from './fields.ts';
export { isToken, isTarget, trimOws, isOws } from './chars.ts';
export {
  requestFraming, responseFraming, responseHasNoBody, parseContentLength,
  NO_BODY, CHUNKED, CLOSE_DELIMITED, type BodyFraming,
} from './framing.ts';
export { ChunkedDecoder, encodeChunk, encodeLastChunk, type ChunkedLimits } from './chunked.ts';
export {
  RequestParser, ResponseParser, DEFAULT_LIMITS,
  type ParserLimits, type ParserHandlers, type RequestHead, type ResponseHead,
} from './parser.ts';
export {
  serializeRequestHead, serializeResponseHead, reasonPhrase,
  type RequestHeadInit, type ResponseHeadInit, type SerializableHeaders,
} from './serializer.ts';
