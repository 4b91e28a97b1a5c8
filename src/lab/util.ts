/**
 * Small helpers shared by scenarios and subjects: bounded waits, error naming, tallies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientOutcome, ScenarioOutcome } from './types.ts';

export { sleep };

/** Resolves with `promise`'s value, or with `onTimeout()` after `ms` (the timer never keeps the process alive). */
export async function within<T, U>(promise: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<U>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** The most telling short name of an error: its code, else its class name. */
export function errorCode(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const e = err as { code?: unknown; name?: unknown; cause?: unknown };
    // fetch wraps the socket error: `TypeError: fetch failed` with the real one as `cause`.
    if (typeof e.code === 'string' && e.code !== '') return e.code;
    if (e.cause !== undefined && e.cause !== null) {
      const inner = errorCode(e.cause);
      if (inner !== 'Error') return inner;
    }
    if (typeof e.name === 'string' && e.name !== '') return e.name;
  }
  return 'Error';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

/** Heuristic for peers' timeout errors (each library names them differently). */
export function looksLikeTimeout(err: unknown): boolean {
  const text = `${errorCode(err)} ${errorMessage(err)}`.toLowerCase();
  return /timeout|timed ?out|etimedout|aborterror/.test(text);
}

/** Turns a thrown error into an error outcome. */
export function errorOutcome(err: unknown, mayHaveBeenProcessed?: boolean): ClientOutcome {
  return {
    kind: 'error',
    code: errorCode(err),
    message: errorMessage(err),
    mayHaveBeenProcessed,
    timedOut: looksLikeTimeout(err),
  };
}

/** A one-word description of an outcome for failure-mode strings. */
export function outcomeLabel(o: ClientOutcome): string {
  if (o.kind === 'response') return `got ${o.status}`;
  if (o.kind === 'hung') return `hung ${formatSeconds(o.afterMs)}`;
  return o.code;
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${s >= 10 ? Math.round(s) : Number(s.toFixed(1))} s`;
}

/**
 * Counts failures of a multi-round scenario by label and renders the usual failure mode:
 * `ECONNRESET 7/50`, or `ECONNRESET 3/50, got 408 2/50` when several labels occur.
 */
export class Tally {
  private readonly counts = new Map<string, number>();
  rounds = 0;
  failed = 0;

  private note: string | undefined;

  /** A good round; `note` (the first one given) is shown in the pass summary, e.g. the error code. */
  pass(note?: string): void {
    this.rounds++;
    this.note ??= note;
  }

  fail(label: string): void {
    this.rounds++;
    this.failed++;
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
  }

  outcome(passSummary?: string): ScenarioOutcome {
    if (this.failed === 0) {
      const note = this.note === undefined ? '' : ` (${this.note})`;
      return { status: 'pass', mode: passSummary ?? `${this.rounds}/${this.rounds} ok${note}`, failed: 0, rounds: this.rounds };
    }
    const parts = [...this.counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([label, n]) => `${label} ${n}/${this.rounds}`);
    return { status: 'fail', mode: parts.join(', '), failed: this.failed, rounds: this.rounds };
  }
}

/** Bytes of a given length, cheap to produce (the lab sends and serves large bodies). */
export function filler(length: number, byte = 0x78): Buffer {
  return Buffer.alloc(length, byte);
}

/**
 * Runs a scenario whose every round gives its own verdict `n` times (`--repeat`), stopping early
 * when the run is aborted or a round says n/a (a property of the subject, not of the round).
 * At one round the outcome is that round's, unchanged; with more, the first failure's mode is
 * kept and the count of failed rounds added (`hung 3 s (2/3 rounds)`).
 */
export async function repeatRounds(n: number, signal: AbortSignal, round: (index: number) => Promise<ScenarioOutcome>): Promise<ScenarioOutcome> {
  let failed = 0;
  let ran = 0;
  let firstPass: string | null = null;
  let firstFail: string | null = null;
  for (let i = 0; i < n && !(i > 0 && signal.aborted); i++) {
    const r = await round(i);
    if (r.status === 'n/a') return r;
    ran++;
    if (r.status === 'fail') {
      failed++;
      firstFail ??= r.mode;
    } else {
      firstPass ??= r.mode;
    }
  }
  if (failed === 0) return { status: 'pass', mode: ran > 1 ? `${firstPass!} (${ran}/${ran} rounds)` : firstPass!, failed: 0, rounds: ran };
  return { status: 'fail', mode: ran > 1 ? `${firstFail!} (${failed}/${ran} rounds)` : firstFail!, failed, rounds: ran };
}
