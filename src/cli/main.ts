/**
 * The `holdfast` command line: `holdfast lab`, `holdfast get`, `holdfast serve`, `holdfast proxy`.
 * Each command is imported only when run, so that one layer still in progress cannot break the others.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const HELP = `holdfast — HTTP/1.1 for Node.js that does not race

Usage: holdfast <command> [options]

Commands:
  lab                 run the race lab: every scenario × every client and server, one scorecard
  get URL             fetch a URL with the holdfast client (curl-like; --cache DIR)
  serve [DIR]         serve static files with the holdfast server
  proxy               run a caching reverse proxy
  help                show this help

Run \`holdfast <command> --help\` for a command's options.
`;

/** Whether a sibling command module exists (as .ts from source, or .js from the build). */
function hasCommand(name: string): boolean {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return existsSync(fileURLToPath(new URL(`./${name}${ext}`, import.meta.url)));
}

/** Runs the command line; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    case 'lab': {
      const { runLabCommand } = await import('./lab.ts');
      return runLabCommand(rest);
    }
    case 'get': {
      const { runGet } = await import('./get.ts');
      return runGet(rest);
    }
    case 'serve': {
      const { runServe } = await import('./serve.ts');
      return runServe(rest);
    }
    case 'proxy': {
      if (!hasCommand('proxy')) {
        process.stderr.write('holdfast proxy: not available yet (the reverse proxy has not landed in this build)\n');
        return 2;
      }
      // A computed specifier: proxy.ts may not exist when this file is type-checked.
      const specifier = `./proxy${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`;
      const mod = (await import(specifier)) as { runProxy(argv: string[]): Promise<number> };
      return mod.runProxy(rest);
    }
    default:
      process.stderr.write(`holdfast: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}
