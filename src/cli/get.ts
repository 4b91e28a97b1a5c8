/**
 * `holdfast get URL`: a curl-like client on the holdfast client, with a progress bar for large
 * bodies (stderr, TTY only) and an optional on-disk cache (the cache layer's SQLite store).
 */
import { readFile, open, type FileHandle } from 'node:fs/promises';
import { Agent, ClientError } from '../client/index.ts';
import type { Cache, CacheStore } from '../cache/index.ts';
import { ProgressLine, bar } from './progress.ts';
import { integerFlag, parseCommandLine, usageFailure } from './args.ts';

export const GET_HELP = `Usage: holdfast get URL [options]

Options:
  -X, --request METHOD   request method (default GET, or POST with -d)
  -H, --header 'K: V'    add a request header (repeatable)
  -d, --data DATA        request body; @FILE reads it from a file
  -o, --output FILE      write the body to FILE instead of stdout
  -i, --include          print the status line and response headers first
      --cache DIR        use an RFC 9111 cache stored in DIR (SQLite)
      --timeout MS       give up if the response head takes longer (default 30000)
  -h, --help             show this help
`;

/** Entry point of `holdfast get`; returns the exit status (0 for 2xx/3xx, 1 otherwise, 2 usage). */
export async function runGet(argv: string[]): Promise<number> {
  let parsed;
  let timeout: number;
  try {
    parsed = parseCommandLine({
      args: argv,
      allowPositionals: true,
      options: {
        request: { type: 'string', short: 'X' },
        header: { type: 'string', short: 'H', multiple: true },
        data: { type: 'string', short: 'd' },
        output: { type: 'string', short: 'o' },
        include: { type: 'boolean', short: 'i' },
        cache: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (parsed.values.help === true) {
      process.stdout.write(GET_HELP);
      return 0;
    }
    timeout = integerFlag('timeout', parsed.values.timeout, 0) ?? 30_000;
  } catch (err) {
    return usageFailure('get', err, GET_HELP);
  }
  const { values, positionals } = parsed;
  const url = positionals[0];
  if (url === undefined || positionals.length > 1) {
    process.stderr.write(`holdfast get: exactly one URL expected\n\n${GET_HELP}`);
    return 2;
  }
  const headers: Array<[string, string]> = [];
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) {
      process.stderr.write(`holdfast get: bad header '${h}' (expected 'Name: value')\n`);
      return 2;
    }
    headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
  }
  let body: Buffer | undefined;
  if (values.data !== undefined) body = values.data.startsWith('@') ? await readFile(values.data.slice(1)) : Buffer.from(values.data);
  const method = (values.request ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  let cached: { cache: Cache; store: CacheStore } | null = null;
  if (values.cache !== undefined) {
    try {
      cached = await openCache(values.cache);
    } catch (err) {
      process.stderr.write(`holdfast get: cannot open the cache in ${values.cache}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const agent = new Agent({ headersTimeout: timeout, cache: cached?.cache ?? null });
  let out: FileHandle | null = null;
  try {
    const res = await agent.request(url, { method, headers, body: body ?? null });
    if (values.include === true) {
      const head = [`HTTP/1.1 ${res.status} ${res.statusText}`, ...[...res.headers].map(([k, v]) => `${k}: ${v}`)];
      if (res.cacheOutcome !== undefined) head.push(`X-Holdfast-Cache: ${res.cacheOutcome}`);
      process.stdout.write(`${head.join('\r\n')}\r\n\r\n`);
    }
    const lengthField = res.headers.get('content-length');
    const total = lengthField === undefined ? null : Number(lengthField);
    const progress = new ProgressLine();
    // A bar only where someone watches, and only when the body is worth one.
    const showBar = progress.isTTY && (total === null || total >= 1_000_000);
    if (values.output !== undefined) out = await open(values.output, 'w');
    let received = 0;
    for await (const chunk of res.body) {
      received += chunk.length;
      if (out !== null) await out.write(chunk);
      else if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
      if (showBar) progress.update(bar(received, total));
    }
    progress.done();
    return res.status < 400 ? 0 : 1;
  } catch (err) {
    if (err instanceof ClientError) {
      const processed = err.mayHaveBeenProcessed ? 'the server may have processed the request' : 'the server did not process the request';
      process.stderr.write(`holdfast get: ${err.code} during ${err.phase}: ${err.message} (${processed})\n`);
      return 1;
    }
    process.stderr.write(`holdfast get: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await out?.close();
    // Background revalidation (stale-while-revalidate) goes through the agent and writes to the
    // store: let it finish before either closes.
    await cached?.cache.close();
    await agent.close();
    await cached?.store.close();
  }
}

/** Loaded only with --cache: plain requests need neither the cache layer nor node:sqlite. */
async function openCache(dir: string): Promise<{ cache: Cache; store: CacheStore }> {
  const { createCache, SqliteStore } = await import('../cache/index.ts');
  const store = new SqliteStore({ directory: dir });
  return { cache: createCache({ store, mode: 'private' }), store };
}
