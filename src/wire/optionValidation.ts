/**
 * One way to refuse a bad option, for every layer: `InvalidOptionError` names the option, and the
 * validators below are the only place the rules for a duration, a size or a flag are written. A
 * bad value is refused when the object is built — not discovered later as a timer that fires at
 * once (`setTimeout` runs a delay above 2^31-1 ms immediately), a `NaN` that compares false
 * everywhere, or a string `'1000'` that concatenates.
 */
import { HoldfastError } from './holdfastError.ts';

/** An option had a value the constructor refuses. `option` is its name as the caller wrote it (`linger.idleTimeout`). */
export class InvalidOptionError extends HoldfastError {
  override name = 'InvalidOptionError';
  declare readonly code: 'HF_INVALID_OPTION';
  /** The option's name, with a dotted path for nested options. */
  readonly option: string;

  constructor(option: string, message: string, options?: ErrorOptions) {
    super('HF_INVALID_OPTION', message, options);
    this.option = option;
  }
}

/** setTimeout's largest delay; a longer one fires at once (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function shown(v: unknown): string {
  return typeof v === 'number' ? String(v) : typeof v === 'bigint' ? `${v}n` : JSON.stringify(v) ?? String(v);
}

/** The error for `option`, with the message `<option> must be <want>, got <value>`. */
export function invalidOption(option: string, value: unknown, want: string): InvalidOptionError {
  return new InvalidOptionError(option, `${option} must be ${want}, got ${shown(value)}`);
}

/** A timer length in ms: a number > 0 (>= 0 with `zero`, where 0 means "no timer") that setTimeout can hold. */
export function durationOption(option: string, value: unknown, zero = false): number {
  if (typeof value !== 'number' || !(zero ? value >= 0 : value > 0) || value > MAX_TIMER_MS) {
    throw invalidOption(option, value, `a number of ms ${zero ? '>= 0' : '> 0'} and <= ${MAX_TIMER_MS}`);
  }
  return value;
}

/** A size or count: > 0 (>= 0 with `zero`), an integer with `integer`; Infinity means unbounded. NaN is refused. */
export function amountOption(option: string, value: unknown, zero = false, integer = false): number {
  if (typeof value !== 'number' || !(zero ? value >= 0 : value > 0) || (integer && value !== Infinity && !Number.isInteger(value))) {
    throw invalidOption(option, value, `${integer ? 'an integer' : 'a number'} ${zero ? '>= 0' : '> 0'} (or Infinity)`);
  }
  return value;
}

/** `true` or `false`; a truthy string is not a boolean. */
export function booleanOption(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidOption(option, value, 'true or false');
  return value;
}

/** One of `allowed`, compared with `===`. */
export function oneOfOption<const T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(value)) throw invalidOption(option, value, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  return value as T;
}
