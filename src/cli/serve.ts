/**
 * `holdfast serve [dir] [--port N] [--host H]`: a static file server on the holdfast server
 * (what `python -m http.server` is for). Ctrl-C shuts down gracefully.
 */
import { stat } from 'node:fs/promises';
import { createServer, serveStatic } from '../server/index.ts';

const USAGE = `Usage: holdfast serve [DIR] [--port N] [--host H] [--no-listing]

Serves DIR (default: the current directory) over HTTP/1.1 with ETag/Last-Modified,
conditional requests, byte ranges, HEAD and directory listings.

  --port N      port to listen on (default 8000; 0 picks a free one)
  --host H      address to bind (default 127.0.0.1; 0.0.0.0 for every interface)
  --no-listing  answer 404 for directories without index.html
`;

/** Runs `holdfast serve`; resolves with the exit code once the server has shut down. */
export async function runServe(argv: string[]): Promise<number> {
  let dir = '.';
  let port = 8000;
  let host = '127.0.0.1';
  let listing = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string | undefined => {
      const eq = a.indexOf('=');
      return eq !== -1 ? a.slice(eq + 1) : argv[++i];
    };
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      return 0;
    } else if (a === '--port' || a.startsWith('--port=') || a === '-p') {
      const v = value();
      port = Number(v);
      if (v === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
        process.stderr.write(`holdfast serve: invalid port ${JSON.stringify(v)}\n`);
        return 2;
      }
    } else if (a === '--host' || a.startsWith('--host=')) {
      const v = value();
      if (v === undefined || v === '') {
        process.stderr.write('holdfast serve: --host needs a value\n');
        return 2;
      }
      host = v;
    } else if (a === '--no-listing') {
      listing = false;
    } else if (a.startsWith('-')) {
      process.stderr.write(`holdfast serve: unknown option ${a}\n\n${USAGE}`);
      return 2;
    } else {
      dir = a;
    }
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
