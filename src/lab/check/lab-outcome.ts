/**
 * A probe's finding as a lab scorecard cell. The lab has no `warn`: a warning is not a lost race,
 * so it is a pass whose mode says what was noticed.
 */
import type { ScenarioOutcome } from '../types.ts';
import type { ProbeFinding } from './types.ts';

export function labOutcome(f: ProbeFinding): ScenarioOutcome {
  if (f.status === 'warn') return { status: 'pass', mode: `${f.summary} (warning)` };
  return { status: f.status, mode: f.summary };
}
