/**
 * The vocabulary of `holdfast check`: a target (a server someone runs, named by a URL), probes
 * (each replays one connection-lifecycle race against it) and their verdicts with evidence.
 */

/** Where a probe connects, and what it writes in `Host`. */
export interface Endpoint {
  host: string;
  port: number;
  /** The Host header: the URL's authority (`127.0.0.1:8000`). */
  authority: string;
}

/** The server under check, from its URL and the command's options. */
export interface CheckTarget extends Endpoint {
  url: string;
  /** Path and query of the URL: what ordinary probes request. */
  path: string;
  /** Where the early-answer probe POSTs its upload (`--upload-path`; default `path`). */
  uploadPath: string;
  /** What the close-with-unread-bytes probe downloads (`--large-path`; default `path`). */
  largePath: string;
}

/**
 * A probe's verdict. `warn`: the race is not lost here, but the server does something a client or
 * a front end may trip over (an RST on idle close, an accepted obs-fold). `n/a`: the race cannot
 * happen with this server (it closes after every response; it read the whole upload).
 */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'n/a';

/** What one probe found: a verdict, a one-line summary, and the evidence behind it. */
export interface ProbeFinding {
  status: CheckStatus;
  summary: string;
  /** Observations, one per line: timings, bytes, what came back. */
  evidence: string[];
}

/** A probe's finding in a report. */
export interface ProbeResult extends ProbeFinding {
  probe: string;
  title: string;
  ms: number;
}

/** What a probe receives. */
export interface ProbeContext {
  target: CheckTarget;
  /** Multiplies every wait and time limit (`--timeout-scale`). */
  scale: number;
  signal: AbortSignal;
}

/** One race replayed against a running server. */
export interface CheckProbe {
  /** Stable id used in `--only`. */
  readonly id: string;
  readonly title: string;
  /** What the probe sends and what counts as a pass. */
  readonly description: string;
  /** The lab's server scenario that plays the same race against the servers the lab starts, if any. */
  readonly labScenario: string | null;
  /** The probe's own time limit at scale 1, in ms (the runner gives up after it). */
  readonly limitMs: number;
  run(ctx: ProbeContext): Promise<ProbeFinding>;
}
