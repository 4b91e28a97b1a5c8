/**
 * The one base of every error holdfast raises, in every layer: `err instanceof HoldfastError`
 * tells a holdfast failure from anything else, and `err.code` (`HF_...`) says which one without
 * parsing a message. It lives in `wire/`, the bottom layer, so every layer above can extend it.
 */

/** Base class of every holdfast error: a stable machine-readable `code`, and an optional `cause`. */
export class HoldfastError extends Error {
  override name: string = 'HoldfastError';
  /** Stable machine-readable code (`HF_...`); messages may change, codes do not. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
