/**
 * Errors of the race lab. Each has a stable `code` (`HF_LAB_...`).
 */
import { HoldfastError } from '../wire/holdfastError.ts';

/** Stable codes for the lab's own failures (not a subject's failures: those are scorecard cells). */
export type LabErrorCode =
  | 'HF_LAB_UNKNOWN_SCENARIO'
  | 'HF_LAB_UNKNOWN_SUBJECT'
  | 'HF_LAB_SUBJECT_START'
  | 'HF_LAB_DRIVER'
  | 'HF_LAB_PROXY'
  | 'HF_LAB_BAD_TOXIC'
  | 'HF_LAB_SUBJECT_MODULE'
  | 'HF_LAB_CHECK_TARGET'
  | 'HF_LAB_UNKNOWN_PROBE';

/** An error raised by the lab itself (bad arguments, a subject that would not start...). */
export class LabError extends HoldfastError {
  override readonly name: string = 'LabError';
  /** Stable machine-readable code. */
  override readonly code: LabErrorCode;

  constructor(code: LabErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.code = code;
  }
}
