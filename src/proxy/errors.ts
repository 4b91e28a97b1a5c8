/**
 * Errors of the reverse proxy. Each has a stable `code`; the ones that become an answer to the
 * downstream client also carry the HTTP `status` the proxy sends.
 */
import { HoldfastError } from '../wire/holdfastError.ts';

/** Stable machine-readable codes of proxy errors. */
export type ProxyErrorCode =
  | 'HF_PROXY_QUEUE_TIMEOUT'
  | 'HF_PROXY_QUEUE_FULL'
  | 'HF_PROXY_NO_UPSTREAM'
  | 'HF_PROXY_BAD_TARGET'
  | 'HF_PROXY_CLOSED'
  | 'HF_PROXY_UPSTREAM_PROTOCOL';

/** An error raised by the proxy itself (not by the upstream client). */
export class ProxyError extends HoldfastError {
  override readonly name: string = 'ProxyError';
  /** Stable machine-readable code. */
  override readonly code: ProxyErrorCode;
  /** The status the proxy answers with when this error ends a request. */
  readonly status: number;

  constructor(code: ProxyErrorCode, message: string, status = 502, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.status = status;
  }
}
