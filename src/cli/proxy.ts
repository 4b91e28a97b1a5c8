/**
 * `holdfast proxy`: the caching reverse proxy from the command line — one route from flags, or
 * many from `--config FILE`; TLS termination, access log, admin endpoints, worker processes.
 *
 * Signals: SIGTERM / SIGINT stop accepting, let in-flight requests finish (at most
 * `--shutdown-timeout` ms) and exit 0. SIGHUP reads the configuration and certificates again and
 * switches to them without dropping a request; a configuration that does not load is reported
 * on stderr and the running one stays.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { UsageError, choiceFlag, integerFlag, nonEmptyFlag, parseCommandLine, usageFailure } from './args.ts';
import {
  ConfigError,
  FORWARDED_STYLES,
  KEEP_ALIVE_MODES,
  LOG_FORMATS,
  cacheSpecProblem,
  defaultPlan,
  defaultRoute,
  loadConfigFile,
  parseHostPort,
  type ProxyPlan,
} from './proxyConfig.ts';
import { describeRoutes, reloadServing, runUntilStopped, startServing, stopServing, type Serving } from './proxyServe.ts';
import { createAdminServer } from '../proxy/admin.ts';
import { isToken, parseTokenList } from '../wire/index.ts';
import { renderPrometheus } from '../proxy/metrics.ts';

const USAGE = `Usage: holdfast proxy --upstream URL [--upstream URL ...] [options]
       holdfast proxy --config proxy.json [options]

A caching reverse proxy in front of one or more HTTP/1.1 backends.

  --config FILE              routes and settings from a JSON file (see the README); the flags
                             below marked * override the file's settings
  --listen HOST:PORT       * address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --workers N|auto         * worker processes sharing the port (default 1; auto: one per core)
  --shutdown-timeout MS    * time in-flight requests get on SIGTERM (default 10000)
  --tls-cert FILE          * PEM certificate chain: serve HTTPS (needs --tls-key)
  --tls-key FILE           * PEM private key
  --access-log FILE|-      * access log file (- for stdout)
  --log-format FMT         * combined | json (default combined)
  --admin HOST:PORT        * serve /metrics, /healthz and /readyz there
  --upstream URL             a backend (repeat for round-robin with passive health)
  --upstream-ca FILE         PEM CA certificates trusted for https:// upstreams
  --cache SPEC               shared RFC 9111 cache: memory[:SIZE] (such as memory:256m),
                             a SQLite directory or a Redis URL (rediss:// for TLS;
                             credentials in the URL or in HOLDFAST_REDIS_USERNAME /
                             HOLDFAST_REDIS_PASSWORD)
  --cache-timeout MS         longest wait for one cache store operation (default 500);
                             when 5 of the last 10 fail, the cache is skipped for
  --cache-cool-down MS       this long (default 2000), then tried again
  --health-check PATH        actively GET PATH on each backend (2 failures: down; 1 pass: up)
  --health-interval MS       time between health checks (default 5000)
  --upstream-concurrency N   requests in flight per backend (1 serialises a single-threaded one)
  --upstream-keep-alive M    always | while-queued | never (default: while-queued with a
                             concurrency limit, else always)
  --buffer-requests BYTES    read request bodies up to BYTES whole first (default 1048576; 0 = stream)
  --buffer-responses BYTES   read responses up to BYTES ahead of slow clients (default 1048576)
  --connect-timeout MS       upstream connect timeout (default 5000)
  --headers-timeout MS       upstream response head timeout (default 60000)
  --body-timeout MS          upstream body idle timeout (default 60000)
  --queue-timeout MS         longest wait for a free upstream slot (default 60000)
  --tunnel-idle-timeout MS   close a WebSocket (upgrade) tunnel idle this long (default 60000; 0 = never)
  --upgrade-protocols LIST   protocols clients may upgrade to, comma-separated (default websocket;
                             empty: none)
  --max-fails N              consecutive failures that mark a backend down (default 1)
  --fail-timeout MS          how long a down backend is skipped (default 10000)
  --forwarded STYLE          x-forwarded | forwarded | both | none (default both)
  --no-preserve-host         send the backend's own Host instead of the client's
  -h, --help                 show this help

Signals: SIGTERM/SIGINT drain and exit; SIGHUP reloads the config file and certificates.
`;

const OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string' },
  workers: { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'access-log': { type: 'string' },
  'log-format': { type: 'string' },
  admin: { type: 'string' },
  upstream: { type: 'string', multiple: true },
  'upstream-ca': { type: 'string' },
  cache: { type: 'string' },
  'cache-timeout': { type: 'string' },
  'cache-cool-down': { type: 'string' },
  'health-check': { type: 'string' },
  'health-interval': { type: 'string' },
  'upstream-concurrency': { type: 'string' },
  'upstream-keep-alive': { type: 'string' },
  'buffer-requests': { type: 'string' },
  'buffer-responses': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'body-timeout': { type: 'string' },
  'queue-timeout': { type: 'string' },
  'tunnel-idle-timeout': { type: 'string' },
  'upgrade-protocols': { type: 'string' },
  'max-fails': { type: 'string' },
  'fail-timeout': { type: 'string' },
  forwarded: { type: 'string' },
  'no-preserve-host': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Flags that describe the one route of the command-line shorthand (not allowed with --config). */
const ROUTE_FLAGS = [
  'upstream',
  'upstream-ca',
  'cache',
  'cache-timeout',
  'cache-cool-down',
  'health-check',
  'health-interval',
  'upstream-concurrency',
  'upstream-keep-alive',
  'buffer-requests',
  'buffer-responses',
  'connect-timeout',
  'headers-timeout',
  'body-timeout',
  'queue-timeout',
  'tunnel-idle-timeout',
  'upgrade-protocols',
  'max-fails',
  'fail-timeout',
  'forwarded',
  'no-preserve-host',
] as const;

function hostPortFlag(flag: string, v: string | undefined): { host: string; port: number } | undefined {
  const s = nonEmptyFlag(flag, v);
  if (s === undefined) return undefined;
  return parseHostPort(s) ?? (() => {
    throw new UsageError(`invalid --${flag} ${JSON.stringify(s)} (expected HOST:PORT)`);
  })();
}

/** `--upgrade-protocols websocket,x-foo` (empty: none). */
function upgradeProtocolsFlag(v: string): string[] {
  const list = parseTokenList(v);
  for (const p of list) if (!isToken(p)) throw new UsageError(`invalid protocol ${JSON.stringify(p)} in --upgrade-protocols`);
  return list;
}

/**
 * The plan for a command line: the config file's (read now) or the one-route shorthand's, with
 * the listener flags on top. Throws `UsageError` for bad flags and `ConfigError` for a bad file.
 */
export function resolvePlan(argv: string[]): ProxyPlan | 'help' {
  const { values } = parseCommandLine({ args: argv, options: OPTIONS });
  if (values.help === true) return 'help';
  const config = nonEmptyFlag('config', values.config);
  let plan: ProxyPlan;
  if (config !== undefined) {
    const given = ROUTE_FLAGS.filter((f) => values[f] !== undefined);
    if (given.length > 0) throw new UsageError(`--${given[0]!} describes a route: with --config, set it in the file's routes`);
    plan = loadConfigFile(config);
  } else {
    const upstreams = (values.upstream ?? []).map((u) => nonEmptyFlag('upstream', u)!);
    if (upstreams.length === 0) throw new UsageError('at least one --upstream (or --config) is required');
    const route = defaultRoute(upstreams);
    route.cache = nonEmptyFlag('cache', values.cache) ?? null;
    if (route.cache !== null) {
      const problem = cacheSpecProblem(route.cache);
      if (problem !== null) throw new UsageError(`--cache: ${problem}`);
    }
    route.cacheTimeout = integerFlag('cache-timeout', values['cache-timeout'], 1);
    route.cacheCoolDown = integerFlag('cache-cool-down', values['cache-cool-down'], 0);
    route.upstreamCa = nonEmptyFlag('upstream-ca', values['upstream-ca']) ?? null;
    const check = nonEmptyFlag('health-check', values['health-check']);
    if (check !== undefined) {
      if (!check.startsWith('/')) throw new UsageError('--health-check needs a path beginning with "/"');
      route.healthCheck = { path: check, interval: integerFlag('health-interval', values['health-interval'], 100) ?? 5_000, timeout: 2_000, fails: 2, passes: 1 };
    } else if (values['health-interval'] !== undefined) {
      throw new UsageError('--health-interval goes with --health-check');
    }
    route.concurrency = integerFlag('upstream-concurrency', values['upstream-concurrency'], 1);
    route.keepAlive = choiceFlag('upstream-keep-alive', values['upstream-keep-alive'], KEEP_ALIVE_MODES);
    route.bufferRequests = integerFlag('buffer-requests', values['buffer-requests'], 0);
    route.bufferResponses = integerFlag('buffer-responses', values['buffer-responses'], 1);
    route.connect = integerFlag('connect-timeout', values['connect-timeout'], 1);
    route.headers = integerFlag('headers-timeout', values['headers-timeout'], 1);
    route.body = integerFlag('body-timeout', values['body-timeout'], 1);
    route.queue = integerFlag('queue-timeout', values['queue-timeout'], 0);
    route.tunnelIdle = integerFlag('tunnel-idle-timeout', values['tunnel-idle-timeout'], 0);
    if (values['upgrade-protocols'] !== undefined) route.upgradeProtocols = upgradeProtocolsFlag(values['upgrade-protocols']);
    route.maxFails = integerFlag('max-fails', values['max-fails'], 1);
    route.failTimeout = integerFlag('fail-timeout', values['fail-timeout'], 0);
    route.forwarded = choiceFlag('forwarded', values.forwarded, FORWARDED_STYLES);
    route.preserveHost = values['no-preserve-host'] !== true;
    plan = { ...defaultPlan(), routes: [route] };
  }
  const listen = hostPortFlag('listen', values.listen);
  if (listen !== undefined) {
    plan.host = listen.host;
    plan.port = listen.port;
  }
  const workers = nonEmptyFlag('workers', values.workers);
  if (workers !== undefined) plan.workers = workers === 'auto' ? 0 : integerFlag('workers', workers, 1, 1024)!;
  if (plan.workers === 0) plan.workers = availableParallelism();
  plan.shutdownTimeout = integerFlag('shutdown-timeout', values['shutdown-timeout'], 0) ?? plan.shutdownTimeout;
  const cert = nonEmptyFlag('tls-cert', values['tls-cert']);
  const key = nonEmptyFlag('tls-key', values['tls-key']);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (cert !== undefined && key !== undefined) plan.tls = { cert, key };
  plan.accessLog = nonEmptyFlag('access-log', values['access-log']) ?? plan.accessLog;
  plan.logFormat = choiceFlag('log-format', values['log-format'], LOG_FORMATS) ?? plan.logFormat;
  plan.admin = hostPortFlag('admin', values.admin) ?? plan.admin;
  return plan;
}

/** Starts the admin listener of a single-process proxy. */
async function startAdmin(plan: ProxyPlan, s: Serving): Promise<ReturnType<typeof createAdminServer> | null> {
  if (plan.admin === null) return null;
  const admin = createAdminServer({
    metrics: () => Promise.resolve(renderPrometheus([s.front.snapshot()])),
    ready: () => Promise.resolve(s.front.ready()),
  });
  await admin.listen(plan.admin.port, plan.admin.host);
  return admin;
}

/** Prints a configuration or start-up failure; returns the exit code for it. */
function startFailure(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`holdfast proxy: ${err.message}\n`);
    return 2;
  }
  process.stderr.write(`holdfast proxy: cannot start: ${(err as Error).message}\n`);
  return 1;
}

/** One process serving: the default, and what each worker runs. */
async function runSingle(argv: string[], plan: ProxyPlan): Promise<number> {
  let s: Serving;
  let admin: Awaited<ReturnType<typeof startAdmin>> = null;
  try {
    s = await startServing(plan);
    admin = await startAdmin(plan, s);
  } catch (err) {
    return startFailure(err);
  }
  const adminText = admin === null ? '' : `; admin ${admin.url}`;
  process.stdout.write(`holdfast proxy listening on ${s.front.server.url} ${describeRoutes(plan)}${adminText} (Ctrl-C to stop)\n`);
  return runUntilStopped(async () => {
    try {
      const next = resolvePlan(argv);
      if (next === 'help') return;
      await reloadServing(s, next);
      process.stdout.write('holdfast proxy: configuration reloaded\n');
    } catch (err) {
      process.stderr.write(`holdfast proxy: reload refused, keeping the running configuration: ${(err as Error).message}\n`);
    }
  }, () => Promise.all([stopServing(s, plan.shutdownTimeout), admin?.close({ timeout: 0 })]));
}

/**
 * Runs `holdfast proxy`; resolves with the exit code once the proxy has shut down (SIGINT or
 * SIGTERM), or at once with 2 for a usage or configuration error and 1 when it cannot start.
 */
export async function runProxy(argv: string[]): Promise<number> {
  let plan: ProxyPlan | 'help';
  try {
    plan = resolvePlan(argv);
  } catch (err) {
    if (err instanceof ConfigError) return startFailure(err);
    return usageFailure('proxy', err, USAGE);
  }
  if (plan === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cluster.isWorker) {
    const { runWorker } = await import('./proxyWorkers.ts');
    return runWorker(argv, plan, resolvePlan);
  }
  if (plan.workers > 1) {
    const { runPrimary } = await import('./proxyWorkers.ts');
    return runPrimary(argv, plan, resolvePlan);
  }
  return runSingle(argv, plan);
}

if (import.meta.main) {
  process.exitCode = await runProxy(process.argv.slice(2));
}
