/**
 * `holdfast/wire`: bytes <-> HTTP/1.1 messages. Parsers, chunked codec, serializers, fields.
 * Pure code: no sockets, no timers.
 */
export { HoldfastError } from './holdfastError.ts';
export { InvalidOptionError } from './optionValidation.ts';
export { WireError, TruncatedMessageError, type WireErrorCode } from './errors.ts';
export { HeaderList, assertFieldName, assertFieldValue, type HeaderInit } from './headers.ts';
export { splitList, parseTokenList, hasToken, parseDirectives, parseKeepAlive, type KeepAliveHint } from './fields.ts';
export { parseHttpDate, formatHttpDate, currentHttpDate, type HttpDateOptions } from './httpDate.ts';
export {
  parseEntityTag, parseEntityTagList, strongMatch, weakMatch, ifNoneMatchPasses, ifMatchPasses, type EntityTag,
} from './etag.ts';
export { stripHopByHop, isHopByHop, connectionNominated, type HopByHopUse } from './hopByHop.ts';
export { isToken, isTarget, isStrictTarget, trimOws, isOws } from './chars.ts';
export { parseAuthority, parseAbsoluteTarget, formatAuthority, requestUrl, type Authority, type AbsoluteTarget } from './authority.ts';
export {
  requestFraming, responseFraming, responseHasNoBody, statusHasNoBody, parseContentLength,
  NO_BODY, CHUNKED, CLOSE_DELIMITED, type BodyFraming,
} from './framing.ts';
export { ChunkedDecoder, encodeChunk, encodeLastChunk, type ChunkedLimits } from './chunked.ts';
export {
  RequestParser, ResponseParser, DEFAULT_LIMITS,
  type ParserLimits, type ParserHandlers, type RequestHead, type ResponseHead,
} from './parser.ts';
export {
  serializeRequestHead, serializeResponseHead, serializeStatusLine, serializeFieldLine, reasonPhrase,
  type RequestHeadInit, type ResponseHeadInit, type SerializableHeaders,
} from './serializer.ts';
