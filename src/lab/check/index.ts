/**
 * `holdfast check URL`: the lab's server races replayed against a server someone runs. Probes run
 * one after another (a server that serves one connection at a time would otherwise fail them all
 * for the same reason), each bounded by its own time limit, and connect to the named host only.
 */
import { cpus } from 'node:os';
import type { CheckProbe, CheckStatus, CheckTarget, ProbeResult } from './types.ts';
import { checkTarget } from './target.ts';
import { LabError } from '../errors.ts';
import { errorMessage, within } from '../util.ts';
import { idleTimeoutProbe } from './idle-timeout.ts';
import { unsolicitedProbe } from './unsolicited.ts';
import { preconnectProbe } from './preconnect.ts';
import { slowlorisProbe } from './slowloris.ts';
import { pipeliningProbe } from './pipelining.ts';
import { earlyAnswerProbe } from './early-answer.ts';
import { closeUnreadProbe } from './close-unread.ts';
import { framingProbe } from './framing.ts';
import { trackConnections } from './connections.ts';

/** Every probe, in report order. */
export const checkProbes: readonly CheckProbe[] = [
  idleTimeoutProbe, unsolicitedProbe, preconnectProbe, slowlorisProbe, pipeliningProbe, earlyAnswerProbe, closeUnreadProbe, framingProbe,
];

export interface CheckOptions {
  /** Path the early-answer probe POSTs its upload to (default: the URL's path). */
  uploadPath?: string;
  /** Path the close-with-unread-bytes probe downloads (default: the URL's path). */
  largePath?: string;
  /** Probe ids to run (default all). */
  only?: string[];
  /** Multiplies every wait and time limit (default 1; tests use less, slow links more). */
  timeoutScale?: number;
  signal?: AbortSignal;
  onProgress?: (event: CheckProgress) => void;
}

/** Progress events, for a progress display. */
export type CheckProgress =
  | { type: 'start'; total: number; target: string }
  | { type: 'probe-start'; probe: string; done: number; total: number }
  | { type: 'probe-done'; result: ProbeResult; done: number; total: number };

/** What `check()` returns, `--json` prints and `--html` shows. */
export interface CheckReport {
  url: string;
  target: CheckTarget;
  startedAt: string;
  durationMs: number;
  timeoutScale: number;
  machine: { node: string; platform: string; cpus: number };
  results: ProbeResult[];
  /** True when no probe failed (the command's exit status 0). */
  passed: boolean;
  counts: Record<CheckStatus, number>;
}

/** Runs the probes against a running server; resolves with the report (never rejects for a probe's failure). */
export async function check(url: string, options: CheckOptions = {}): Promise<CheckReport> {
  const target = checkTarget(url, options);
  const scale = options.timeoutScale ?? 1;
  if (!(Number.isFinite(scale) && scale > 0)) throw new LabError('HF_LAB_CHECK_TARGET', `the timeout scale must be a positive number, got ${scale}`);
  const only = options.only ?? [];
  for (const id of only) {
    if (!checkProbes.some((p) => p.id === id)) throw new LabError('HF_LAB_UNKNOWN_PROBE', `unknown probe '${id}' (known: ${checkProbes.map((p) => p.id).join(', ')})`);
  }
  const probes = only.length === 0 ? [...checkProbes] : checkProbes.filter((p) => only.includes(p.id));
  const signal = options.signal ?? new AbortController().signal;
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const results: ProbeResult[] = [];
  options.onProgress?.({ type: 'start', total: probes.length, target: target.url });
  for (const probe of probes) {
    if (signal.aborted) break;
    options.onProgress?.({ type: 'probe-start', probe: probe.id, done: results.length, total: probes.length });
    const t0 = performance.now();
    const limit = probe.limitMs * scale;
    const own = trackConnections(target);
    let finding;
    try {
      finding = await within(probe.run({ target: own.ep, scale, signal }), limit, () => ({ status: 'fail' as const, summary: `no verdict within the probe's ${(limit / 1000).toFixed(1)} s limit`, evidence: [] }));
    } catch (err) {
      // A connection refused or reset before the probe could start: the server is not there.
      finding = { status: 'fail' as const, summary: `probe could not run: ${errorMessage(err).slice(0, 200)}`, evidence: [] };
    } finally {
      own.destroyAll();
    }
    const result: ProbeResult = { probe: probe.id, title: probe.title, ...finding, ms: Math.round(performance.now() - t0) };
    results.push(result);
    options.onProgress?.({ type: 'probe-done', result, done: results.length, total: probes.length });
  }
  const counts: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, 'n/a': 0 };
  for (const r of results) counts[r.status]++;
  return {
    url: target.url,
    target,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    timeoutScale: scale,
    machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length },
    results,
    passed: counts.fail === 0,
    counts,
  };
}

export { checkTarget };
export type { CheckProbe, CheckStatus, CheckTarget, Endpoint, ProbeContext, ProbeFinding, ProbeResult } from './types.ts';
