/**
 * Active health checks: a GET of a known path on each upstream at an interval, beside the passive
 * checks of real traffic. Passive checks notice a dead backend only by failing a request on it
 * (and then retrying elsewhere); active checks take a backend out before traffic meets it, and
 * put it back only once it answers again.
 */
import { Agent, type ClientTlsOptions } from '../client/index.ts';
import { amountOption, durationOption } from '../wire/optionValidation.ts';
import type { Upstream } from './upstream.ts';

/** Settings of active health checks. */
export interface ActiveHealthOptions {
  /** Path requested with GET; a 2xx or 3xx answer passes. */
  path: string;
  /** Milliseconds between checks (default 5 000). */
  interval?: number;
  /** Milliseconds a check may take (default 2 000). */
  timeout?: number;
  /** Consecutive failed checks that take an upstream out (default 2). */
  fails?: number;
  /** Consecutive passed checks that put it back (default 1). */
  passes?: number;
}

/** Runs checks for a set of upstreams until `stop()`. */
export class ActiveHealthCheck {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly agents: Agent[] = [];
  private stopped = false;

  constructor(upstreams: readonly Upstream[], options: ActiveHealthOptions, tls?: ClientTlsOptions) {
    const interval = durationOption('healthCheck.interval', options.interval ?? 5_000);
    const timeout = durationOption('healthCheck.timeout', options.timeout ?? 2_000);
    const fails = amountOption('healthCheck.fails', options.fails ?? 2);
    const passes = amountOption('healthCheck.passes', options.passes ?? 1);
    for (const u of upstreams) {
      // Its own connection: a check must not wait behind traffic for one of the upstream's slots.
      const agent = new Agent({ connections: 1, connectTimeout: timeout, headersTimeout: timeout, bodyTimeout: timeout, ...(tls === undefined ? {} : { tls }) });
      this.agents.push(agent);
      let failed = 0;
      let passed = 0;
      let running = false;
      const check = async (): Promise<void> => {
        if (running || this.stopped) return;
        running = true;
        let ok = false;
        try {
          const res = await agent.request(u.url + options.path, { method: 'GET', headers: { 'user-agent': 'holdfast-health-check' } });
          await res.body.bytes();
          ok = res.status >= 200 && res.status < 400;
        } catch {
          ok = false;
        }
        running = false;
        if (this.stopped) return;
        if (ok) {
          failed = 0;
          passed++;
          if (u.activelyDown && passed >= passes) u.activelyDown = false;
        } else {
          passed = 0;
          failed++;
          if (failed >= fails) u.activelyDown = true;
        }
      };
      const timer = setInterval(() => void check(), interval);
      // Checks alone must not keep the process alive.
      timer.unref();
      this.timers.push(timer);
      void check();
    }
  }

  /** Stops checking and closes the checks' connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.all(this.agents.map((a) => a.destroy()));
  }
}
