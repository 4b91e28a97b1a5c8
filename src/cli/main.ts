/**
 * The `holdfast` command line: `holdfast lab`, `holdfast get`, `holdfast serve`, `holdfast proxy`.
 * Each command is imported only when run, so that one layer still in progress cannot break the others.
 */

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
