/**
 * `holdfast serve [dir] [--port N] [--host H]`: a static file server on the holdfast server
 * (what `python -m http.server` is for). Ctrl-C shuts down gracefully.
 */
import { stat } from 'node:fs/promises';
import { createServer, serveStatic } from '../server/index.ts';
import { UsageError, integerFlag, nonEmptyFlag, parseCommandLine, usageFailure } from './args.ts';

const USAGE = `Usage: holdfast serve [DIR] [--port N] [--host H] [--no-listing]

Serves DIR (default: the current directory) over HTTP/1.1 with ETag/Last-Modified,
conditional requests, byte ranges, HEAD and directory listings.

  -p, --port N      port to listen on (default 8000; 0 picks a free one)
      --host H      address to bind (default 127.0.0.1; 0.0.0.0 for every interface)
      --no-listing  answer 404 for directories without index.html
  -h, --help        show this help
`;

/** Runs `holdfast serve`; resolves with the exit code once the server has shut down. */
export async function runServe(argv: string[]): Promise<number> {
  let dir: string;
  let port: number;
  let host: string;
  let listing: boolean;
  try {
    const { values, positionals } = parseCommandLine({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'no-listing': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help === true) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError(`one directory expected, got ${positionals.length}`);
    dir = positionals[0] ?? '.';
    port = integerFlag('port', values.port, 0, 65535) ?? 8000;
    host = nonEmptyFlag('host', values.host) ?? '127.0.0.1';
    listing = values['no-listing'] !== true;
  } catch (err) {
    return usageFailure('serve', err, USAGE);
  }
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch {
    process.stderr.write(`holdfast serve: ${dir} is not a directory\n`);
    return 2;
  }
  const server = createServer({ handler: serveStatic(dir, { listing }) });
  try {
    await server.listen(port, host);
  } catch (err) {
    process.stderr.write(`holdfast serve: cannot listen on ${host}:${port}: ${(err as Error).message}\n`);
    return 1;
  }
  const a = server.address()!;
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  process.stdout.write(`Serving ${dir} on http://${shown}:${a.port}/ (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.write('shutting down\n');
      void server.close({ timeout: 5000 }).then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}

if (import.meta.main) {
  process.exitCode = await runServe(process.argv.slice(2));
}
