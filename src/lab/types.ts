/**
 * The vocabulary of the race lab: subjects (the clients and servers under test), scenarios
 * (a scripted loopback peer plus a short script), and their outcomes (scorecard cells).
 */

/** One request a client scenario asks a client subject to make. */
export interface LabRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

/** What a client subject reported for one request. */
export type ClientOutcome =
  | {
    kind: 'response';
    status: number;
    /** Body bytes the subject handed to its caller as a complete body. */
    bodyLength: number;
    headers: Record<string, string>;
  }
  | {
    kind: 'error';
    /** The subject's own error code or class name (`ECONNRESET`, `HF_CLIENT_...`, `ConnectionError`). */
    code: string;
    message: string;
    /** The subject's own statement that the server may have processed the request, when it makes one. */
    mayHaveBeenProcessed: boolean | undefined;
    /** The subject classified the error as a timeout. */
    timedOut: boolean;
  }
  | {
    /** The subject neither answered nor failed within the lab's guard time. */
    kind: 'hung';
    afterMs: number;
  };

/** Per-session options a client scenario may set. */
export interface ClientSessionOptions {
  /**
   * Ask the subject to give up on a response whose head has not arrived after this many ms,
   * with the subject's own idiomatic timeout option.
   */
  timeoutMs?: number;
}

/** A client under test with its connection pool: one session per scenario run. */
export interface ClientSession {
  request(req: LabRequest): Promise<ClientOutcome>;
  /** Releases every connection and child process (may be called while a request hangs). */
  close(): Promise<void>;
}

/** A client implementation the lab can test. */
export interface ClientSubject {
  readonly role: 'client';
  /** Short stable id used in `--subjects` and the table (`holdfast-request`, `node-agent`...). */
  readonly id: string;
  readonly label: string;
  /** `holdfast` rows decide the exit status; `naive` rows prove the scenarios have teeth. */
  readonly family: SubjectFamily;
  /** False for a client that opens a new connection per request (the curl command). */
  readonly reusesConnections: boolean;
  /** `true`, or why the subject cannot run here ("not installed: ..."). */
  available(): Promise<true | string>;
  open(options: ClientSessionOptions): Promise<ClientSession>;
}

/** Settings every server subject is started with, when its stack lets them be set. */
export interface ServerStartOptions {
  /** Idle keep-alive timeout to configure, in ms (subjects that cannot set it keep their default). */
  idleTimeoutMs: number;
}

/**
 * A server subject running the lab's standard application:
 * `GET /` → 200 `hello\n`; `GET /big/N` → N bytes with Content-Length; `GET /slow/MS` → 200 after
 * MS ms; `POST /early` → 413 with a body, answered without reading the request body.
 */
export interface RunningServer {
  readonly host: string;
  readonly port: number;
  /** Graceful shutdown as the stack does it idiomatically (signal, `close()`...); resolves when done. */
  shutdown(): Promise<void>;
  /** Hard stop and cleanup; safe to call more than once and after `shutdown()`. */
  stop(): Promise<void>;
}

/** A server implementation the lab can test. */
export interface ServerSubject {
  readonly role: 'server';
  readonly id: string;
  readonly label: string;
  readonly family: SubjectFamily;
  available(): Promise<true | string>;
  start(options: ServerStartOptions): Promise<RunningServer>;
}

export type Subject = ClientSubject | ServerSubject;

/** `holdfast` (ours), `naive` (built-in straw men), `peer` (everyone else). */
export type SubjectFamily = 'holdfast' | 'naive' | 'peer';

/** How one scenario went for one subject. */
export interface ScenarioOutcome {
  status: 'pass' | 'fail' | 'n/a';
  /** Failure mode ("ECONNRESET 7/50", "truncated at 983040 of 52428800", "hung 20 s") or a pass summary. */
  mode: string;
  /** Rounds that went wrong out of rounds run, when the scenario has rounds. */
  failed?: number;
  rounds?: number;
}

/** What a scenario receives besides its subject. */
export interface ScenarioContext {
  /** Multiplies the number of rounds (`--repeat`). */
  repeat: number;
  /** Aborted when the run is interrupted. */
  signal: AbortSignal;
}

interface ScenarioBase {
  /** Stable id used in `--only` (`idle-close-fin`). */
  readonly id: string;
  readonly title: string;
  /** Which seed in the design this reproduces (`000`..`004`). */
  readonly seed: string;
  /** One sentence: what the peer does, and what counts as a pass. */
  readonly description: string;
}

/** A scenario played against a client subject by a scripted loopback server peer. */
export interface ClientScenario extends ScenarioBase {
  readonly role: 'client';
  run(subject: ClientSubject, ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

/** A scenario played against a server subject by the lab acting as a raw-socket client. */
export interface ServerScenario extends ScenarioBase {
  readonly role: 'server';
  run(subject: ServerSubject, ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

export type Scenario = ClientScenario | ServerScenario;
