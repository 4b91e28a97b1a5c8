/**
 * `holdfast proxy --workers N`: one primary process and N workers sharing the listening port
 * through `node:cluster`.
 *
 * Why `node:cluster` and not `reusePort`: the primary owns the listening socket, so a worker
 * crashing or being replaced never takes part of the port's accept queue with it (with
 * SO_REUSEPORT each process has its own queue, and connections waiting in a closing process's
 * queue are reset); it also works on every platform Node runs on.
 *
 * The primary serves no traffic: it starts workers, replaces one that dies, serves the admin
 * endpoints (adding up the workers' metrics, asked for over IPC), checks a configuration before
 * telling the workers to reload it on SIGHUP, and on SIGTERM tells them to drain and exit.
 */
import cluster, { type Worker } from 'node:cluster';
import { createAdminServer } from '../proxy/admin.ts';
import { renderPrometheus, type MetricsSnapshot } from '../proxy/metrics.ts';
import type { Server } from '../server/index.ts';
import type { ProxyPlan } from './proxyConfig.ts';
import { describeRoutes, reloadServing, runUntilStopped, startServing, stopServing, type Serving } from './proxyServe.ts';

/** Reads the plan again from the command line (and its config file), for a reload. */
export type PlanSource = (argv: string[]) => ProxyPlan | 'help';

/** Messages between the primary and its workers. */
type ToWorker = { hf: 'snapshot'; id: number } | { hf: 'reload'; id: number } | { hf: 'shutdown' };
type ToPrimary =
  | { hf: 'listening'; url: string }
  | { hf: 'snapshot'; id: number; metrics: MetricsSnapshot; ready: boolean; reason: string }
  | { hf: 'reloaded'; id: number; error: string | null };

function isToPrimary(m: unknown): m is ToPrimary {
  return typeof m === 'object' && m !== null && typeof (m as { hf?: unknown }).hf === 'string';
}

/** Runs in a worker: serve the plan until the primary (or a signal) says to stop. */
export async function runWorker(argv: string[], plan: ProxyPlan, resolvePlan: PlanSource): Promise<number> {
  let s: Serving;
  try {
    s = await startServing(plan);
  } catch (err) {
    process.stderr.write(`holdfast proxy worker ${process.pid}: cannot start: ${(err as Error).message}\n`);
    // The IPC channel would keep this process alive, and the primary waiting for it.
    process.disconnect?.();
    return 1;
  }
  const send = (m: ToPrimary): void => {
    if (process.connected) process.send?.(m);
  };
  send({ hf: 'listening', url: s.front.server.url });
  let reloading: Promise<void> = Promise.resolve();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void stopServing(s, plan.shutdownTimeout).then(resolve, resolve);
    };
    process.on('message', (m: ToWorker) => {
      if (m.hf === 'shutdown') stop();
      else if (m.hf === 'snapshot') {
        const r = s.front.ready();
        send({ hf: 'snapshot', id: m.id, metrics: s.front.snapshot(), ready: r.ready, reason: r.reason });
      } else if (m.hf === 'reload') {
        reloading = reloading.then(async () => {
          try {
            const next = resolvePlan(argv);
            if (next !== 'help') await reloadServing(s, next);
            send({ hf: 'reloaded', id: m.id, error: null });
          } catch (err) {
            send({ hf: 'reloaded', id: m.id, error: (err as Error).message });
          }
        });
      }
    });
    // Ctrl-C reaches the whole process group; the primary coordinates SIGHUP.
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGHUP', () => {});
    // An orphaned worker (the primary was killed) must not serve on alone.
    process.on('disconnect', stop);
  });
  process.disconnect?.();
  return 0;
}

/** Runs the primary: start the workers, supervise them, reload and stop them. */
export async function runPrimary(argv: string[], plan: ProxyPlan, resolvePlan: PlanSource): Promise<number> {
  let state: 'starting' | 'running' | 'stopping' = 'starting';
  let current = plan;
  const listening = new Set<Worker>();
  let nextId = 1;
  const pending = new Map<number, (m: ToPrimary) => void>();
  let failedToStart = false;
  const recentExits: number[] = [];

  const fork = (): Worker => {
    const w = cluster.fork();
    w.on('message', (m: unknown) => {
      if (!isToPrimary(m)) return;
      if (m.hf === 'listening') {
        listening.add(w);
        onListening();
      } else pending.get(m.id)?.(m);
    });
    return w;
  };

  let resolveStarted: (ok: boolean) => void = () => {};
  const started = new Promise<boolean>((resolve) => (resolveStarted = resolve));
  let url = '';
  const onListening = (): void => {
    if (state === 'starting' && listening.size === current.workers) {
      state = 'running';
      resolveStarted(true);
    }
  };

  cluster.on('message', (_w, m: unknown) => {
    if (isToPrimary(m) && m.hf === 'listening') url = m.url;
  });
  cluster.on('exit', (w, code, signal) => {
    const wasListening = listening.delete(w);
    if (state === 'stopping') return;
    if (!wasListening) {
      // It died before serving (bad certificate, port taken): starting more would loop.
      failedToStart = true;
      resolveStarted(false);
      return;
    }
    process.stderr.write(`holdfast proxy: worker ${w.process.pid} exited (${signal ?? `code ${code}`}); starting another\n`);
    // A worker that keeps dying (a bug hit by some request) must not turn into a fork storm:
    // beyond two exits per worker in 10 s, replacements wait a second.
    const now = Date.now();
    recentExits.push(now);
    while (recentExits.length > 0 && recentExits[0]! < now - 10_000) recentExits.shift();
    if (recentExits.length > 2 * current.workers) setTimeout(() => {
        if (state === 'running') fork();
      }, 1_000);
    else fork();
  });

  /** Asks every listening worker; resolves with the answers that came within 2 s. */
  const ask = (make: (id: number) => ToWorker): Promise<ToPrimary[]> =>
    Promise.all(
      [...listening].map(
        (w) =>
          new Promise<ToPrimary | null>((resolve) => {
            const id = nextId++;
            const timer = setTimeout(() => {
              pending.delete(id);
              resolve(null);
            }, 2_000);
            pending.set(id, (m) => {
              clearTimeout(timer);
              pending.delete(id);
              resolve(m);
            });
            w.send(make(id));
          }),
      ),
    ).then((all) => all.filter((m): m is ToPrimary => m !== null));

  for (let i = 0; i < plan.workers; i++) fork();
  const ok = await started;
  let admin: Server | null = null;
  const shutdown = async (): Promise<void> => {
    state = 'stopping';
    for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined && w.isConnected()) w.send({ hf: 'shutdown' } satisfies ToWorker);
    const deadline = setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    }, current.shutdownTimeout + 5_000);
    while (Object.keys(cluster.workers ?? {}).length > 0) await new Promise((r) => cluster.once('exit', r));
    clearTimeout(deadline);
    await admin?.close({ timeout: 0 });
  };
  if (!ok || failedToStart) {
    process.stderr.write('holdfast proxy: a worker could not start; stopping\n');
    await shutdown();
    return 1;
  }
  if (plan.admin !== null) {
    admin = createAdminServer({
      metrics: async () => renderPrometheus((await ask((id) => ({ hf: 'snapshot', id }))).flatMap((m) => (m.hf === 'snapshot' ? [m.metrics] : []))),
      ready: async () => {
        if (state !== 'running') return { ready: false, reason: 'shutting down' };
        const answers = (await ask((id) => ({ hf: 'snapshot', id }))).flatMap((m) => (m.hf === 'snapshot' ? [m] : []));
        const readyOne = answers.find((m) => m.ready);
        return readyOne !== undefined ? { ready: true, reason: `ready (${answers.filter((m) => m.ready).length} of ${current.workers} workers)` } : { ready: false, reason: answers[0]?.reason ?? 'no worker answered' };
      },
    });
    try {
      await admin.listen(plan.admin.port, plan.admin.host);
    } catch (err) {
      process.stderr.write(`holdfast proxy: cannot start the admin listener: ${(err as Error).message}\n`);
      await shutdown();
      return 1;
    }
  }
  const adminText = admin === null ? '' : `; admin ${admin.url}`;
  process.stdout.write(`holdfast proxy listening on ${url} ${describeRoutes(plan)}; ${plan.workers} workers${adminText} (Ctrl-C to stop)\n`);

  return runUntilStopped(async () => {
    let next;
    try {
      next = resolvePlan(argv);
    } catch (err) {
      process.stderr.write(`holdfast proxy: reload refused, keeping the running configuration: ${(err as Error).message}\n`);
      return;
    }
    if (next === 'help') return;
    const answers = await ask((id) => ({ hf: 'reload', id }));
    const errors = answers.flatMap((m) => (m.hf === 'reloaded' && m.error !== null ? [m.error] : []));
    if (errors.length > 0) process.stderr.write(`holdfast proxy: reload refused, keeping the running configuration: ${errors[0]!}\n`);
    else {
      current = { ...next, workers: current.workers };
      process.stdout.write(`holdfast proxy: configuration reloaded (${answers.length} workers)\n`);
    }
  }, shutdown);
}
