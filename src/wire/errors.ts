/**
 * Typed errors of the wire codec. Every error has a stable `code` and, for request parsing,
 * the HTTP status a server should answer with before closing.
 */

/** Stable codes for every way bytes can fail to be an HTTP/1.1 message. */
export type WireErrorCode =
  | 'HF_WIRE_URI_TOO_LONG'
  | 'HF_WIRE_HEADERS_TOO_LARGE'
  | 'HF_WIRE_TOO_MANY_HEADERS'
  | 'HF_WIRE_INVALID_START_LINE'
  | 'HF_WIRE_INVALID_METHOD'
  | 'HF_WIRE_INVALID_TARGET'
  | 'HF_WIRE_INVALID_VERSION'
  | 'HF_WIRE_UNSUPPORTED_VERSION'
  | 'HF_WIRE_INVALID_STATUS'
  | 'HF_WIRE_INVALID_HEADER_NAME'
  | 'HF_WIRE_INVALID_HEADER_VALUE'
  | 'HF_WIRE_OBS_FOLD'
  | 'HF_WIRE_BARE_CR'
  | 'HF_WIRE_BARE_LF'
  | 'HF_WIRE_MISSING_HOST'
  | 'HF_WIRE_DUPLICATE_HOST'
  | 'HF_WIRE_INVALID_HOST'
  | 'HF_WIRE_INVALID_CONTENT_LENGTH'
  | 'HF_WIRE_CONFLICTING_FRAMING'
  | 'HF_WIRE_INVALID_TRANSFER_ENCODING'
  | 'HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING'
  | 'HF_WIRE_INVALID_CHUNK'
  | 'HF_WIRE_CHUNK_TOO_LARGE'
  | 'HF_WIRE_TRAILERS_TOO_LARGE'
  | 'HF_WIRE_BODY_TOO_LARGE'
  | 'HF_WIRE_TRUNCATED_HEAD'
  | 'HF_WIRE_TRUNCATED_BODY'
  | 'HF_WIRE_UNEXPECTED_DATA'
  | 'HF_WIRE_HEADER_INJECTION';

/** Base class of all errors raised by `holdfast/wire`. */
export class WireError extends Error {
  override readonly name: string = 'WireError';
  /** Stable machine-readable code. */
  readonly code: WireErrorCode;
  /** The status a server answers with when this error comes from parsing a request. */
  readonly status: number;

  constructor(code: WireErrorCode, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * The peer's stream ended inside a message. For a body, `received` and `expected` say how far it
 * got (`expected` is `null` for a chunked body, whose length was never announced).
 */
export class TruncatedMessageError extends WireError {
  override readonly name: string = 'TruncatedMessageError';
  readonly received: number;
  readonly expected: number | null;

  constructor(code: 'HF_WIRE_TRUNCATED_HEAD' | 'HF_WIRE_TRUNCATED_BODY', message: string, received: number, expected: number | null) {
    super(code, message, 400);
    this.received = received;
    this.expected = expected;
  }
}
