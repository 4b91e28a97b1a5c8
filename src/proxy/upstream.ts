/**
 * One upstream (a backend process or machine): its holdfast client `Agent`, its concurrency
 * limit, its keep-alive policy towards the backend, and its passive health (nginx's
 * `max_fails` / `fail_timeout`: after enough consecutive failures it is skipped for a while, then
 * real traffic probes it again).
 */
import { Agent, type AgentOptions, type ClientError } from '../client/index.ts';
import { InvalidOptionError } from '../wire/optionValidation.ts';

/**
 * How the proxy keeps connections to an upstream open between requests.
 * - `always`: ordinary pooling (idle connections kept until the client's idle timeout).
 * - `while-queued`: a connection is kept only to hand it straight to a request that is already
 *   waiting; as soon as nobody waits, idle connections are closed. A single-threaded backend
 *   (Python's `HTTPServer`, `runserver --nothreading`) serves one connection at a time, so an idle
 *   keep-alive connection from the proxy would block every other client of it.
 * - `never`: every request says `Connection: close` and its connection is closed afterwards.
 */
export type UpstreamKeepAlive = 'always' | 'while-queued' | 'never';

/** Passive health settings. */
export interface HealthOptions {
  /** Consecutive failures that mark an upstream down (default 1, as nginx). */
  maxFails?: number;
  /** How long (ms) a down upstream is skipped (default 10 000, as nginx's `fail_timeout`). */
  failTimeout?: number;
}

/** Settings of one upstream. */
export interface UpstreamSettings {
  url: string;
  concurrency: number;
  keepAlive: UpstreamKeepAlive;
  health: Required<HealthOptions>;
  agent: AgentOptions;
}

/** A read-only view of an upstream's state (for `proxy.upstreams`, monitoring and tests). */
export interface UpstreamStatus {
  readonly url: string;
  /** Requests holding one of its slots now (from dispatch to the end of the response body). */
  readonly active: number;
  readonly healthy: boolean;
  /** Requests sent to it (attempts, including ones that failed). */
  readonly requests: number;
  /** Attempts that failed with a connection-level error. */
  readonly failures: number;
  /** Connections open to it now (busy and idle). */
  readonly connections: number;
}

/** Client error codes that say something about the upstream's health. */
const HEALTH_CODES = new Set<string>([
  'HF_CONNECT',
  'HF_TLS',
  'HF_CONNECT_TIMEOUT',
  'HF_HEADERS_TIMEOUT',
  'HF_SOCKET_RESET',
  'HF_STALE_CONNECTION',
  'HF_RESPONSE_PARSE',
]);

/** Whether a client error counts against the upstream (not the downstream client's doing). */
export function isUpstreamFailure(err: ClientError): boolean {
  return HEALTH_CODES.has(err.code);
}

/** One backend. */
export class Upstream implements UpstreamStatus {
  /** `scheme://host:port` plus an optional path prefix without its trailing slash. */
  readonly url: string;
  readonly origin: string;
  readonly prefix: string;
  readonly agent: Agent;
  readonly limit: number;
  readonly keepAlive: UpstreamKeepAlive;
  private readonly health: Required<HealthOptions>;
  active = 0;
  requests = 0;
  failures = 0;
  private consecutive = 0;
  /** performance.now() until which the upstream is skipped; 0 when healthy. */
  downUntil = 0;
  /** Taken out by active health checks (until a check passes again). */
  activelyDown = false;

  constructor(settings: UpstreamSettings) {
    let u: URL;
    try {
      u = new URL(settings.url);
    } catch {
      throw new InvalidOptionError('upstreams', `invalid upstream URL ${JSON.stringify(settings.url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new InvalidOptionError('upstreams', `upstream must be http: or https:, got ${u.protocol}`);
    }
    if (u.search !== '' || u.hash !== '') {
      throw new InvalidOptionError('upstreams', `upstream URL must not have a query or fragment: ${settings.url}`);
    }
    this.origin = u.origin;
    this.prefix = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
    this.url = this.origin + this.prefix;
    if (!(settings.concurrency >= 1)) throw new InvalidOptionError('upstreamConcurrency', `upstream concurrency must be >= 1, got ${settings.concurrency}`);
    this.limit = settings.concurrency;
    this.keepAlive = settings.keepAlive;
    this.health = settings.health;
    // The agent never needs more connections than the slots we hand out; with a limit of 1 the
    // backend sees at most one connection from this proxy at any moment.
    const connections = Number.isFinite(this.limit) ? this.limit : (settings.agent.connections ?? 256);
    this.agent = new Agent({ ...settings.agent, connections });
  }

  /** Whether the upstream is not in its skip window at `now` (performance.now()). */
  isHealthy(now = performance.now()): boolean {
    return !this.activelyDown && (this.downUntil === 0 || now >= this.downUntil);
  }

  get healthy(): boolean {
    return this.isHealthy();
  }

  get connections(): number {
    return this.agent.pool(this.origin)?.size ?? 0;
  }

  /** Whether a slot is free. */
  get hasSlot(): boolean {
    return this.active < this.limit;
  }

  /** The upstream answered: it is healthy again. */
  recordSuccess(): void {
    this.consecutive = 0;
    this.downUntil = 0;
  }

  /** A connection-level failure: after `maxFails` in a row, skip it for `failTimeout`. */
  recordFailure(): void {
    this.failures++;
    this.consecutive++;
    if (this.consecutive >= this.health.maxFails) this.downUntil = performance.now() + this.health.failTimeout;
  }

  /**
   * Called when a slot was given back and no waiting request took this upstream: under the
   * `while-queued` and `never` policies no idle connection is kept.
   */
  idleNow(): void {
    if (this.keepAlive !== 'always') this.agent.closeIdle();
  }

  status(): UpstreamStatus {
    return { url: this.url, active: this.active, healthy: this.healthy, requests: this.requests, failures: this.failures, connections: this.connections };
  }
}
