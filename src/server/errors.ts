/**
 * Typed errors of the server. Every error has a stable `code`; errors that describe a bad
 * request also carry the `status` the server answers with.
 */
import { HoldfastError } from '../wire/holdfastError.ts';

/** Stable codes of `holdfast/server` errors. */
export type ServerErrorCode =
  | 'HF_SERVER_BODY_TOO_LARGE'
  | 'HF_SERVER_BODY_TRUNCATED'
  | 'HF_SERVER_BODY_TIMEOUT'
  | 'HF_SERVER_REQUEST_TIMEOUT'
  | 'HF_SERVER_BODY_MALFORMED'
  | 'HF_SERVER_BODY_CONSUMED'
  | 'HF_SERVER_CONNECTION_CLOSED'
  | 'HF_SERVER_HEAD_SENT'
  | 'HF_SERVER_RESPONSE_ENDED'
  | 'HF_SERVER_CONTENT_LENGTH_MISMATCH'
  | 'HF_SERVER_INVALID_RESPONSE'
  | 'HF_SERVER_NOT_LISTENING'
  | 'HF_SERVER_ALREADY_LISTENING'
  | 'HF_SERVER_REUSEPORT_UNSUPPORTED'
  | 'HF_SERVER_NOT_UPGRADABLE';

/** Base class of all errors raised by `holdfast/server`. */
export class ServerError extends HoldfastError {
  override readonly name: string = 'ServerError';
  /** Stable machine-readable code. */
  override readonly code: ServerErrorCode;
  /** The status the server answers with when this error escapes a handler before the head was sent. */
  readonly status: number;

  constructor(code: ServerErrorCode, message: string, status = 500, options?: { cause?: unknown }) {
    super(code, message, options);
    this.code = code;
    this.status = status;
  }
}
