/**
 * `holdfast get URL`: a curl-like client on the holdfast client, with a progress bar for large
 * bodies (stderr, TTY only) and an optional on-disk cache (the cache layer's SQLite store).
 */
import { parseArgs } from 'node:util';
import { readFile, open, type FileHandle } from 'node:fs/promises';
import { Agent, ClientError } from '../client/index.ts';
import { ProgressLine, bar } from './progress.ts';

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
  try {
    parsed = parseArgs({
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
  } catch (err) {
    process.stderr.write(`holdfast get: ${(err as Error).message}\n\n${GET_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(GET_HELP);
    return 0;
  }
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
  const timeout = values.timeout === undefined ? 30_000 : Number(values.timeout);
  const agent = new Agent({ headersTimeout: timeout });
  let out: FileHandle | null = null;
  try {
    const res = values.cache === undefined
      ? await fetchDirect(agent, url, method, headers, body)
      : await fetchCached(agent, values.cache, url, method, headers, body);
    if (values.include === true) {
      const head = [`HTTP/1.1 ${res.status} ${res.statusText}`, ...res.headers.map(([k, v]) => `${k}: ${v}`)];
      if (res.cacheOutcome !== undefined) head.push(`X-Holdfast-Cache: ${res.cacheOutcome}`);
      process.stdout.write(`${head.join('\r\n')}\r\n\r\n`);
    }
    const lengthField = res.headers.find(([k]) => k.toLowerCase() === 'content-length')?.[1];
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
    await agent.close();
  }
}

interface GetResponse {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: AsyncIterable<Uint8Array>;
  cacheOutcome?: string;
}

async function fetchDirect(agent: Agent, url: string, method: string, headers: Array<[string, string]>, body: Buffer | undefined): Promise<GetResponse> {
  const res = await agent.request(url, { method, headers, body: body ?? null });
  return { status: res.status, statusText: res.statusText, headers: [...res.headers], body: res.body };
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

async function fetchCached(agent: Agent, dir: string, url: string, method: string, headers: Array<[string, string]>, body: Buffer | undefined): Promise<GetResponse> {
  const { createCache, SqliteStore } = await import('../cache/index.ts');
  const cache = createCache({ store: new SqliteStore({ directory: dir }), mode: 'private' });
  try {
    const res = await cache.handle({ method, url, headers, body: body ?? null }, async (req) => {
      const r = await agent.request(req.url, { method: req.method, headers: req.headers, body: body ?? null });
      return { status: r.status, statusText: r.statusText, headers: [...r.headers], body: r.body };
    });
    // The cache may hand back a stream still tied to the store; read it before closing the store.
    const chunks: Uint8Array[] = [];
    const b = res.body;
    if (b instanceof Uint8Array) chunks.push(b);
    else for await (const c of b) chunks.push(c);
    const result: GetResponse = { status: res.status, statusText: res.statusText, headers: res.headers, body: once(Buffer.concat(chunks)) };
    if (res.cacheOutcome !== undefined) result.cacheOutcome = res.cacheOutcome;
    return result;
  } finally {
    await cache.close();
  }
}
