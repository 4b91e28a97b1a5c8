/**
 * The `holdfast` command line: `holdfast lab`, `holdfast get`, `holdfast serve`, `holdfast proxy`.
 * Each command is imported only when run, so that one layer still in progress cannot break the others.
 */
import { UsageError, parseCommandLine } from './args.ts';

const HELP = `holdfast — HTTP/1.1 for Node.js that does not race

Usage: holdfast <command> [options]

Commands:
  lab                 run the race lab: every scenario × every client and server, one scorecard
  get URL             fetch a URL with the holdfast client (curl-like; --cache DIR)
  serve [DIR]         serve static files with the holdfast server
  proxy               run a caching reverse proxy
  check URL           audit a running server for the connection-lifecycle races
  help                show this help

Run \`holdfast <command> --help\` for a command's options.
`;

/** Runs the command line; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  // Options before the command are the command line's own; the rest is the command's.
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const own = at === -1 ? argv : argv.slice(0, at);
  let help: boolean;
  try {
    help = parseCommandLine({ args: own, options: { help: { type: 'boolean', short: 'h' } } }).values.help === true;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`holdfast: ${err.message}\n\n${HELP}`);
    return 2;
  }
  const [command, ...rest] = at === -1 ? [] : argv.slice(at);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  switch (command) {
    case undefined:
    case 'help':
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
    case 'check': {
      const { runCheck } = await import('./check.ts');
      return runCheck(rest);
    }
    case 'proxy': {
      const { runProxy } = await import('./proxy.ts');
      return runProxy(rest);
    }
    default:
      process.stderr.write(`holdfast: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}
