/**
 * `holdfast proxy`: the caching reverse proxy from the command line. Ctrl-C (or SIGTERM) shuts
 * down gracefully: in-flight requests finish, then upstream connections and the cache store close.
 */
import { createProxy, type ForwardedStyle, type UpstreamKeepAlive } from '../proxy/index.ts';
import { SqliteStore, RedisStore, breakerLog, createCache, describeError, type CacheStore } from '../cache/index.ts';
import { UsageError, choiceFlag, integerFlag, nonEmptyFlag, parseCommandLine, usageFailure } from './args.ts';

const USAGE = `Usage: holdfast proxy --upstream URL [--upstream URL ...] [options]

A caching reverse proxy in front of one or more HTTP/1.1 backends.

  --listen HOST:PORT         address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --upstream URL             a backend (repeat for round-robin with passive health)
  --cache DIR|redis://...    shared RFC 9111 cache: a SQLite directory or a Redis URL
                             (redis://, rediss:// for TLS; credentials in the URL or in
                             HOLDFAST_REDIS_USERNAME / HOLDFAST_REDIS_PASSWORD)
  --cache-timeout MS         longest wait for one cache store operation (default 500);
                             when 5 of the last 10 fail, the cache is skipped for
  --cache-cool-down MS       this long (default 2000), then tried again
  --upstream-concurrency N   requests in flight per backend (1 serialises a single-threaded one)
  --upstream-keep-alive M    always | while-queued | never (default: while-queued with a
                             concurrency limit, else always)
  --buffer-requests BYTES    read request bodies up to BYTES whole first (default 1048576; 0 = stream)
  --buffer-responses BYTES   read responses up to BYTES ahead of slow clients (default 1048576)
  --connect-timeout MS       upstream connect timeout (default 5000)
  --headers-timeout MS       upstream response head timeout (default 60000)
  --body-timeout MS          upstream body idle timeout (default 60000)
  --queue-timeout MS         longest wait for a free upstream slot (default 60000)
  --max-fails N              consecutive failures that mark a backend down (default 1)
  --fail-timeout MS          how long a down backend is skipped (default 10000)
  --forwarded STYLE          x-forwarded | forwarded | both | none (default both)
  --no-preserve-host         send the backend's own Host instead of the client's
  -h, --help                 show this help
`;

interface Parsed {
  host: string;
  port: number;
  upstreams: string[];
  cache: string | null;
  cacheTimeout: number | undefined;
  cacheCoolDown: number | undefined;
  concurrency: number | undefined;
  keepAlive: UpstreamKeepAlive | undefined;
  bufferRequests: number | undefined;
  bufferResponses: number | undefined;
  connect: number | undefined;
  headers: number | undefined;
  body: number | undefined;
  queue: number | undefined;
  maxFails: number | undefined;
  failTimeout: number | undefined;
  forwarded: ForwardedStyle | undefined;
  preserveHost: boolean;
}

const KEEP_ALIVE_MODES = ['always', 'while-queued', 'never'] as const satisfies readonly UpstreamKeepAlive[];
const FORWARDED_STYLES = ['x-forwarded', 'forwarded', 'both', 'none'] as const satisfies readonly ForwardedStyle[];

/** Parses `HOST:PORT`, `[V6]:PORT` or `PORT`. */
function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v) ?? /^()()(\d+)$/.exec(v);
  if (m === null) throw new UsageError(`invalid --listen ${JSON.stringify(v)} (expected HOST:PORT)`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port in --listen ${JSON.stringify(v)}`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '127.0.0.1' : host, port };
}

function parseProxyArgs(argv: string[]): Parsed | 'help' {
  const { values } = parseCommandLine({
    args: argv,
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string', multiple: true },
      cache: { type: 'string' },
      'cache-timeout': { type: 'string' },
      'cache-cool-down': { type: 'string' },
      'upstream-concurrency': { type: 'string' },
      'upstream-keep-alive': { type: 'string' },
      'buffer-requests': { type: 'string' },
      'buffer-responses': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'headers-timeout': { type: 'string' },
      'body-timeout': { type: 'string' },
      'queue-timeout': { type: 'string' },
      'max-fails': { type: 'string' },
      'fail-timeout': { type: 'string' },
      forwarded: { type: 'string' },
      'no-preserve-host': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  const upstreams = (values.upstream ?? []).map((u) => nonEmptyFlag('upstream', u)!);
  if (upstreams.length === 0) throw new UsageError('at least one --upstream is required');
  const listen = nonEmptyFlag('listen', values.listen);
  const { host, port } = listen === undefined ? { host: '127.0.0.1', port: 8080 } : parseListen(listen);
  return {
    host,
    port,
    upstreams,
    cache: nonEmptyFlag('cache', values.cache) ?? null,
    cacheTimeout: integerFlag('cache-timeout', values['cache-timeout'], 1),
    cacheCoolDown: integerFlag('cache-cool-down', values['cache-cool-down'], 0),
    concurrency: integerFlag('upstream-concurrency', values['upstream-concurrency'], 1),
    keepAlive: choiceFlag('upstream-keep-alive', values['upstream-keep-alive'], KEEP_ALIVE_MODES),
    bufferRequests: integerFlag('buffer-requests', values['buffer-requests'], 0),
    bufferResponses: integerFlag('buffer-responses', values['buffer-responses'], 1),
    connect: integerFlag('connect-timeout', values['connect-timeout'], 1),
    headers: integerFlag('headers-timeout', values['headers-timeout'], 1),
    body: integerFlag('body-timeout', values['body-timeout'], 1),
    queue: integerFlag('queue-timeout', values['queue-timeout'], 0),
    maxFails: integerFlag('max-fails', values['max-fails'], 1),
    failTimeout: integerFlag('fail-timeout', values['fail-timeout'], 0),
    forwarded: choiceFlag('forwarded', values.forwarded, FORWARDED_STYLES),
    preserveHost: values['no-preserve-host'] !== true,
  };
}

/**
 * Opens the store named by `--cache`: a Redis URL or a SQLite directory. A store's own waits
 * (Redis's reply timeout, SQLite's busy timeout) are the cache timeout, so that the guard's
 * timeout is never the only bound.
 */
async function openStore(spec: string, timeoutMs: number): Promise<CacheStore> {
  if (/^rediss?:\/\//i.test(spec)) {
    const env = process.env;
    return RedisStore.connect({
      url: spec,
      commandTimeoutMs: timeoutMs,
      ...(env.HOLDFAST_REDIS_USERNAME ? { username: env.HOLDFAST_REDIS_USERNAME } : {}),
      ...(env.HOLDFAST_REDIS_PASSWORD ? { password: env.HOLDFAST_REDIS_PASSWORD } : {}),
    });
  }
  return new SqliteStore({ directory: spec, busyTimeoutMs: timeoutMs });
}

/** One log line on stderr. */
function log(line: string): void {
  process.stderr.write(`holdfast proxy: ${line}\n`);
}

/**
 * Runs `holdfast proxy`; resolves with the exit code once the proxy has shut down (SIGINT or
 * SIGTERM), or at once with 2 for a usage error and 1 when it cannot start.
 */
export async function runProxy(argv: string[]): Promise<number> {
  let p: Parsed | 'help';
  try {
    p = parseProxyArgs(argv);
  } catch (err) {
    return usageFailure('proxy', err, USAGE);
  }
  if (p === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let store: CacheStore | null = null;
  if (p.cache !== null) {
    try {
      store = await openStore(p.cache, p.cacheTimeout ?? 500);
    } catch (err) {
      log(`cannot open cache ${p.cache}: ${describeError(err)}`);
      return 1;
    }
  }
  const onError = (err: unknown, context: string): void => log(`${context}: ${describeError(err)}`);
  let proxy;
  try {
    const cache =
      store === null
        ? null
        : createCache({
            store,
            mode: 'shared',
            storeGuard: { timeoutMs: p.cacheTimeout ?? 500, coolDownMs: p.cacheCoolDown ?? 2000, onStateChange: breakerLog(log) },
            onError: (err, context) => onError(err, `cache ${context}`),
          });
    proxy = createProxy({
      upstreams: p.upstreams,
      cache,
      upstreamConcurrency: p.concurrency,
      upstreamKeepAlive: p.keepAlive,
      bufferRequests: p.bufferRequests,
      bufferResponses: p.bufferResponses,
      timeouts: { connect: p.connect, headers: p.headers, body: p.body, queue: p.queue },
      health: { maxFails: p.maxFails, failTimeout: p.failTimeout },
      forwarded: p.forwarded,
      preserveHost: p.preserveHost,
      onError,
    });
    await proxy.listen(p.port, p.host);
  } catch (err) {
    process.stderr.write(`holdfast proxy: cannot start on ${p.host}:${p.port}: ${(err as Error).message}\n`);
    await store?.close();
    return 1;
  }
  const what = store === null ? 'no cache' : `cache ${p.cache}`;
  process.stdout.write(`holdfast proxy listening on ${proxy.url} -> ${p.upstreams.join(', ')} (${what}; Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.write('holdfast proxy: shutting down\n');
      void proxy.close({ timeout: 5000 }).then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await store?.close();
  return 0;
}

if (import.meta.main) {
  process.exitCode = await runProxy(process.argv.slice(2));
}
