/**
 * Command-line parsing shared by the `holdfast` commands: `node:util` `parseArgs` in strict mode
 * (an unknown flag, a missing value or a stray argument is a usage error, never silently
 * ignored or taken as something else), and one validation for flag values that must be numbers.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that cannot run as given: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  readonly code = 'HF_CLI_USAGE';
}

/** `parseArgs` (strict unless the config says otherwise); its errors become `UsageError`s. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
}

/**
 * Writes a usage error the way every command does (`holdfast <command>: message`, then the
 * command's usage) and returns the exit status for it, 2. Rethrows anything else.
 */
export function usageFailure(command: string, err: unknown, usage: string): number {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`holdfast ${command}: ${err.message}\n\n${usage}`);
  return 2;
}

/**
 * The value of an integer flag, within `[min, max]`; `undefined` when the flag was not given.
 * Decimal digits only: `Number()` alone would also take `''` (as 0), `0x10`, `1e3` and `-0`.
 */
export function integerFlag(flag: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${flag} needs an integer ${range}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The value of a flag that takes a positive decimal number (`2`, `0.5`); `undefined` when absent. */
export function positiveNumberFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(value) || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${flag} needs a positive number, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The value of a string flag that must not be empty (`--host=`); `undefined` when absent. */
export function nonEmptyFlag(flag: string, value: string | undefined): string | undefined {
  if (value === '') throw new UsageError(`--${flag} needs a value`);
  return value;
}

/** The value of a flag that takes one of `choices`; `undefined` when absent. */
export function choiceFlag<C extends string>(flag: string, value: string | undefined, choices: readonly C[]): C | undefined {
  if (value === undefined) return undefined;
  const choice = choices.find((c) => c === value);
  if (choice === undefined) throw new UsageError(`--${flag} must be ${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]!}, got ${JSON.stringify(value)}`);
  return choice;
}
