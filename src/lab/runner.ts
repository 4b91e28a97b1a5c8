/**
 * Runs scenarios against subjects and collects the scorecard: client scenarios × client
 * subjects, server scenarios × server subjects. Cells run a few at a time; a subject that is not
 * installed gets "not installed" cells, never a pass.
 */
import { cpus } from 'node:os';
import type { Scenario, ScenarioOutcome, Subject, SubjectFamily } from './types.ts';
import { scenarios as allScenarios } from './scenarios/index.ts';
import { subjects as allSubjects } from './subjects/index.ts';
import { LabError } from './errors.ts';
import { errorMessage, within } from './util.ts';

/** One cell of the scorecard. */
export interface ScoreCell {
  scenario: string;
  subject: string;
  status: 'pass' | 'fail' | 'n/a' | 'not installed' | 'error';
  mode: string;
  failed?: number;
  rounds?: number;
  ms: number;
}

export interface ScenarioInfo { id: string; role: 'client' | 'server'; title: string; seed: string; description: string }
export interface SubjectInfo { id: string; role: 'client' | 'server'; label: string; family: SubjectFamily; available: true | string }

/** The lab's result: everything `--json` prints and the HTML report shows. */
export interface Scorecard {
  startedAt: string;
  durationMs: number;
  repeat: number;
  machine: { node: string; platform: string; cpus: number };
  scenarios: ScenarioInfo[];
  subjects: SubjectInfo[];
  cells: ScoreCell[];
  /** True when every holdfast cell that ran passed (the command's exit status). */
  holdfastPassed: boolean;
}

/** Progress events, for a progress display. */
export type LabProgress =
  | { type: 'start'; total: number }
  | { type: 'cell-start'; scenario: string; subject: string; done: number; total: number }
  | { type: 'cell-done'; cell: ScoreCell; done: number; total: number };

export interface LabRunOptions {
  /** Scenario ids to run (default all). */
  only?: string[];
  /** Subject ids to run (default all). */
  subjects?: string[];
  /** Multiplies every scenario's rounds (default 1). */
  repeat?: number;
  /** Cells run at once (default 3). */
  concurrency?: number;
  /** Bound on one cell (default 60 s). */
  cellTimeoutMs?: number;
  onProgress?: (event: LabProgress) => void;
  signal?: AbortSignal;
  /** Extra subjects (users' own clients or servers) added to the built-in ones. */
  extraSubjects?: Subject[];
}

function pick<T extends { id: string }>(items: readonly T[], ids: string[] | undefined, code: 'HF_LAB_UNKNOWN_SCENARIO' | 'HF_LAB_UNKNOWN_SUBJECT'): T[] {
  if (ids === undefined || ids.length === 0) return [...items];
  for (const id of ids) {
    if (!items.some((i) => i.id === id)) throw new LabError(code, `unknown ${code === 'HF_LAB_UNKNOWN_SCENARIO' ? 'scenario' : 'subject'} '${id}' (known: ${items.map((i) => i.id).join(', ')})`);
  }
  return items.filter((i) => ids.includes(i.id));
}

async function runCell(scenario: Scenario, subject: Subject, ctx: { repeat: number; signal: AbortSignal }, timeoutMs: number): Promise<ScenarioOutcome | { status: 'error'; mode: string }> {
  const run = scenario.role === 'client' && subject.role === 'client'
    ? scenario.run(subject, ctx)
    : scenario.role === 'server' && subject.role === 'server'
      ? scenario.run(subject, ctx)
      : Promise.resolve<ScenarioOutcome>({ status: 'n/a', mode: 'role mismatch' });
  try {
    return await within(run, timeoutMs, () => ({ status: 'error' as const, mode: `lab gave up after ${timeoutMs / 1000} s` }));
  } catch (err) {
    return { status: 'error', mode: `lab error: ${errorMessage(err).slice(0, 200)}` };
  }
}

/** Runs the lab and returns its scorecard. */
export async function runLab(options: LabRunOptions = {}): Promise<Scorecard> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const repeat = options.repeat ?? 1;
  const signal = options.signal ?? new AbortController().signal;
  const scenarios = pick(allScenarios, options.only, 'HF_LAB_UNKNOWN_SCENARIO');
  const known = [...allSubjects, ...(options.extraSubjects ?? [])];
  const chosen = pick(known, options.subjects, 'HF_LAB_UNKNOWN_SUBJECT')
    .filter((s) => scenarios.some((sc) => sc.role === s.role));
  const availability = await Promise.all(chosen.map((s) => s.available().catch((err: unknown) => `not installed: ${errorMessage(err)}`)));
  const subjectInfo: SubjectInfo[] = chosen.map((s, i) => ({ id: s.id, role: s.role, label: s.label, family: s.family, available: availability[i]! }));

  const cells: ScoreCell[] = [];
  const jobs: Array<{ scenario: Scenario; subject: Subject; index: number }> = [];
  // Scenario-major order interleaves slow cells (guards, idle timeouts) of different subjects.
  for (const scenario of scenarios) {
    for (const [i, subject] of chosen.entries()) {
      if (subject.role !== scenario.role) continue;
      const available = subjectInfo[i]!.available;
      if (available !== true) {
        cells.push({ scenario: scenario.id, subject: subject.id, status: 'not installed', mode: available, ms: 0 });
        continue;
      }
      jobs.push({ scenario, subject, index: cells.length });
      cells.push({ scenario: scenario.id, subject: subject.id, status: 'error', mode: 'not run', ms: 0 });
    }
  }
  const total = jobs.length;
  let done = 0;
  options.onProgress?.({ type: 'start', total });
  const concurrency = Math.max(1, options.concurrency ?? 3);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length && !signal.aborted) {
      const job = jobs[next++]!;
      options.onProgress?.({ type: 'cell-start', scenario: job.scenario.id, subject: job.subject.id, done, total });
      const t0 = performance.now();
      const outcome = await runCell(job.scenario, job.subject, { repeat, signal }, options.cellTimeoutMs ?? 60_000);
      const cell: ScoreCell = { scenario: job.scenario.id, subject: job.subject.id, ...outcome, ms: Math.round(performance.now() - t0) };
      cells[job.index] = cell;
      done++;
      options.onProgress?.({ type: 'cell-done', cell, done, total });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, jobs.length)) }, worker));

  const family = new Map(subjectInfo.map((s) => [s.id, s.family]));
  const holdfastPassed = cells
    .filter((c) => family.get(c.subject) === 'holdfast')
    .every((c) => c.status === 'pass' || c.status === 'n/a');
  return {
    startedAt,
    durationMs: Math.round(performance.now() - started),
    repeat,
    machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length },
    scenarios: scenarios.map((s) => ({ id: s.id, role: s.role, title: s.title, seed: s.seed, description: s.description })),
    subjects: subjectInfo,
    cells,
    holdfastPassed,
  };
}
