/**
 * Errors of the client. Every error says in which phase of the exchange it happened and whether
 * the server may have processed the request, because that is what a caller needs to decide
 * whether repeating it is safe.
 */
import { HoldfastError } from '../wire/holdfastError.ts';

/** Where in the life of a request a failure happened. */
export type ClientErrorPhase =
  | 'queue'
  | 'connect'
  | 'tls'
  | 'write'
  | 'headers'
  | 'body'
  | 'request';

/** Stable machine-readable codes of client errors. */
export type ClientErrorCode =
  | 'HF_CONNECT'
  | 'HF_TLS'
  | 'HF_STALE_CONNECTION'
  | 'HF_SOCKET_RESET'
  | 'HF_RESPONSE_PARSE'
  | 'HF_TRUNCATED_BODY'
  | 'HF_CONNECT_TIMEOUT'
  | 'HF_HEADERS_TIMEOUT'
  | 'HF_BODY_TIMEOUT'
  | 'HF_REQUEST_TIMEOUT'
  | 'HF_ABORTED'
  | 'HF_POOL_CLOSED'
  | 'HF_QUEUE_FULL'
  | 'HF_INVALID_REQUEST'
  | 'HF_REQUEST_BODY';

/** Fields every client error carries. */
export interface ClientErrorInit {
  phase: ClientErrorPhase;
  /** True when some request bytes were handed to the socket (the server may have acted). */
  mayHaveBeenProcessed: boolean;
  cause?: unknown;
}

/** Base class of every error raised by the client. */
export class ClientError extends HoldfastError {
  override readonly name: string = 'ClientError';
  /** Stable machine-readable code. */
  override readonly code: ClientErrorCode;
  /** The phase of the exchange that failed. */
  readonly phase: ClientErrorPhase;
  /**
   * Whether the server may have received and acted on the request. `false` guarantees that not
   * one byte of the request was handed to a socket, so repeating it cannot duplicate an effect.
   */
  readonly mayHaveBeenProcessed: boolean;

  constructor(code: ClientErrorCode, message: string, init: ClientErrorInit) {
    super(code, message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.phase = init.phase;
    this.mayHaveBeenProcessed = init.mayHaveBeenProcessed;
  }
}

/** TCP connection could not be established (refused, unreachable, DNS failure). */
export class ConnectError extends ClientError {
  override readonly name: string = 'ConnectError';
  constructor(message: string, cause?: unknown) {
    super('HF_CONNECT', message, { phase: 'connect', mayHaveBeenProcessed: false, cause });
  }
}

/** The TLS handshake failed (certificate, protocol, SNI). */
export class TlsError extends ClientError {
  override readonly name: string = 'TlsError';
  constructor(message: string, cause?: unknown) {
    super('HF_TLS', message, { phase: 'tls', mayHaveBeenProcessed: false, cause });
  }
}

/**
 * A reused keep-alive connection turned out to be closed by the server before any byte of the
 * response arrived: the keep-alive race. Raised only when the request could not be retried
 * safely (see `mayHaveBeenProcessed`).
 */
export class StaleConnectionError extends ClientError {
  override readonly name: string = 'StaleConnectionError';
  constructor(message: string, phase: ClientErrorPhase, mayHaveBeenProcessed: boolean, cause?: unknown) {
    super('HF_STALE_CONNECTION', message, { phase, mayHaveBeenProcessed, cause });
  }
}

/** The connection was reset or closed by the peer in the middle of an exchange. */
export class SocketResetError extends ClientError {
  override readonly name: string = 'SocketResetError';
  constructor(message: string, phase: ClientErrorPhase, mayHaveBeenProcessed: boolean, cause?: unknown) {
    super('HF_SOCKET_RESET', message, { phase, mayHaveBeenProcessed, cause });
  }
}

/** The response could not be parsed; `cause` is the `WireError`. */
export class ResponseParseError extends ClientError {
  override readonly name: string = 'ResponseParseError';
  constructor(message: string, phase: ClientErrorPhase, cause: unknown) {
    super('HF_RESPONSE_PARSE', message, { phase, mayHaveBeenProcessed: true, cause });
  }
}

/**
 * The response body ended before its framing said it would (short Content-Length, chunked body
 * without its last chunk). Raised on the body stream: a truncated body never ends normally.
 */
export class TruncatedBodyError extends ClientError {
  override readonly name: string = 'TruncatedBodyError';
  /** Body bytes received. */
  readonly received: number;
  /** Bytes announced by Content-Length, or `null` for a chunked body. */
  readonly expected: number | null;
  constructor(message: string, received: number, expected: number | null, cause?: unknown) {
    super('HF_TRUNCATED_BODY', message, { phase: 'body', mayHaveBeenProcessed: true, cause });
    this.received = received;
    this.expected = expected;
  }
}

/** Codes of the per-phase timeouts. */
export type TimeoutCode = 'HF_CONNECT_TIMEOUT' | 'HF_HEADERS_TIMEOUT' | 'HF_BODY_TIMEOUT' | 'HF_REQUEST_TIMEOUT';

/** A per-phase timeout fired. `timeout` is the limit in milliseconds. */
export class TimeoutError extends ClientError {
  override readonly name: string = 'TimeoutError';
  readonly timeout: number;
  constructor(code: TimeoutCode, message: string, phase: ClientErrorPhase, mayHaveBeenProcessed: boolean, timeout: number) {
    super(code, message, { phase, mayHaveBeenProcessed });
    this.timeout = timeout;
  }
}

/** The caller aborted the request through its `AbortSignal`; `cause` is the signal's reason. */
export class AbortedError extends ClientError {
  override readonly name: string = 'AbortedError';
  constructor(phase: ClientErrorPhase, mayHaveBeenProcessed: boolean, cause?: unknown) {
    super('HF_ABORTED', 'request aborted', { phase, mayHaveBeenProcessed, cause });
  }
}

/** The agent or pool was closed or destroyed; the request was not sent. */
export class PoolClosedError extends ClientError {
  override readonly name: string = 'PoolClosedError';
  constructor(message = 'the pool is closed', mayHaveBeenProcessed = false, phase: ClientErrorPhase = 'queue', cause?: unknown) {
    super('HF_POOL_CLOSED', message, { phase, mayHaveBeenProcessed, cause });
  }
}

/** The pool's wait queue is at its `queueLimit`; the request was not sent. */
export class QueueFullError extends ClientError {
  override readonly name: string = 'QueueFullError';
  constructor(limit: number) {
    super('HF_QUEUE_FULL', `request queue full (${limit} waiting)`, { phase: 'queue', mayHaveBeenProcessed: false });
  }
}

/** The request itself is invalid (bad URL, header, method): nothing was sent. */
export class InvalidRequestError extends ClientError {
  override readonly name: string = 'InvalidRequestError';
  constructor(message: string, cause?: unknown) {
    super('HF_INVALID_REQUEST', message, { phase: 'request', mayHaveBeenProcessed: false, cause });
  }
}

/** Reading the caller's request body failed (its stream errored). */
export class RequestBodyError extends ClientError {
  override readonly name: string = 'RequestBodyError';
  constructor(message: string, mayHaveBeenProcessed: boolean, cause?: unknown) {
    super('HF_REQUEST_BODY', message, { phase: 'write', mayHaveBeenProcessed, cause });
  }
}
