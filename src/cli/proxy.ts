/**
 * `holdfast proxy`: the caching reverse proxy from the command line. Ctrl-C (or SIGTERM) shuts
 * down gracefully: in-flight requests finish, then upstream connections and the cache store close.
 */
import { createProxy, type ForwardedStyle, type UpstreamKeepAlive } from '../proxy/index.ts';
import { SqliteStore, RedisStore, type CacheStore } from '../cache/index.ts';

const USAGE = `Usage: holdfast proxy --upstream URL [--upstream URL ...] [options]

A caching reverse proxy in front of one or more HTTP/1.1 backends.

  --listen HOST:PORT         address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --upstream URL             a backend (repeat for round-robin with passive health)
  --cache DIR|redis://...    shared RFC 9111 cache: a SQLite directory or a Redis URL
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
`;

interface Parsed {
  host: string;
  port: number;
  upstreams: string[];
  cache: string | null;
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

class UsageError extends Error {}

/** Parses `HOST:PORT`, `[V6]:PORT` or `PORT`. */
function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v) ?? /^()()(\d+)$/.exec(v);
  if (m === null) throw new UsageError(`invalid --listen ${JSON.stringify(v)} (expected HOST:PORT)`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port in --listen ${JSON.stringify(v)}`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '127.0.0.1' : host, port };
}

function parseArgs(argv: string[]): Parsed | 'help' {
  const p: Parsed = {
    host: '127.0.0.1',
    port: 8080,
    upstreams: [],
    cache: null,
    concurrency: undefined,
    keepAlive: undefined,
    bufferRequests: undefined,
    bufferResponses: undefined,
    connect: undefined,
    headers: undefined,
    body: undefined,
    queue: undefined,
    maxFails: undefined,
    failTimeout: undefined,
    forwarded: undefined,
    preserveHost: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = eq !== -1 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${name} needs a value`);
      return v;
    };
    const int = (min: number): number => {
      const v = value();
      const n = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${name} needs an integer >= ${min}, got ${JSON.stringify(v)}`);
      return n;
    };
    switch (name) {
      case '--help':
      case '-h':
        return 'help';
      case '--listen': {
        const l = parseListen(value());
        p.host = l.host;
        p.port = l.port;
        break;
      }
      case '--upstream':
        p.upstreams.push(value());
        break;
      case '--cache':
        p.cache = value();
        break;
      case '--upstream-concurrency':
        p.concurrency = int(1);
        break;
      case '--upstream-keep-alive': {
        const v = value();
        if (v !== 'always' && v !== 'while-queued' && v !== 'never') throw new UsageError(`--upstream-keep-alive must be always, while-queued or never`);
        p.keepAlive = v;
        break;
      }
      case '--buffer-requests':
        p.bufferRequests = int(0);
        break;
      case '--buffer-responses':
        p.bufferResponses = int(1);
        break;
      case '--connect-timeout':
        p.connect = int(1);
        break;
      case '--headers-timeout':
        p.headers = int(1);
        break;
      case '--body-timeout':
        p.body = int(1);
        break;
      case '--queue-timeout':
        p.queue = int(0);
        break;
      case '--max-fails':
        p.maxFails = int(1);
        break;
      case '--fail-timeout':
        p.failTimeout = int(0);
        break;
      case '--forwarded': {
        const v = value();
        if (v !== 'x-forwarded' && v !== 'forwarded' && v !== 'both' && v !== 'none') throw new UsageError('--forwarded must be x-forwarded, forwarded, both or none');
        p.forwarded = v;
        break;
      }
      case '--no-preserve-host':
        p.preserveHost = false;
        break;
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  if (p.upstreams.length === 0) throw new UsageError('at least one --upstream is required');
  return p;
}

/** Opens the store named by `--cache`: a Redis URL or a SQLite directory. */
async function openStore(spec: string): Promise<CacheStore> {
  if (/^rediss?:\/\//i.test(spec)) return RedisStore.connect({ url: spec });
  return new SqliteStore({ directory: spec });
}

/**
 * Runs `holdfast proxy`; resolves with the exit code once the proxy has shut down (SIGINT or
 * SIGTERM), or at once with 2 for a usage error and 1 when it cannot start.
 */
export async function runProxy(argv: string[]): Promise<number> {
  let p: Parsed | 'help';
  try {
    p = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`holdfast proxy: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (p === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let store: CacheStore | null = null;
  if (p.cache !== null) {
    try {
      store = await openStore(p.cache);
    } catch (err) {
      process.stderr.write(`holdfast proxy: cannot open cache ${p.cache}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  let proxy;
  try {
    proxy = createProxy({
      upstreams: p.upstreams,
      cache: store,
      upstreamConcurrency: p.concurrency,
      upstreamKeepAlive: p.keepAlive,
      bufferRequests: p.bufferRequests,
      bufferResponses: p.bufferResponses,
      timeouts: { connect: p.connect, headers: p.headers, body: p.body, queue: p.queue },
      health: { maxFails: p.maxFails, failTimeout: p.failTimeout },
      forwarded: p.forwarded,
      preserveHost: p.preserveHost,
      onError: (err, context) => {
        const e = err as { code?: unknown; message?: unknown };
        process.stderr.write(`holdfast proxy: ${context}: ${typeof e?.code === 'string' ? `${e.code} ` : ''}${String(e?.message ?? err)}\n`);
      },
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
