/**
 * The `holdfast` command line: `holdfast lab`, `holdfast get`, `holdfast serve`, `holdfast proxy`.
 */
const HELP = `holdfast — HTTP/1.1 for Node.js that does not race

Usage: holdfast <command> [options]

Commands:
  lab                 run the race lab and print the scorecard
  get URL             fetch a URL with the holdfast client
  serve [DIR]         serve static files
  proxy               run a caching reverse proxy
  help                show this help
`;

export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(HELP);
    return 0;
  }
  process.stderr.write(`holdfast: unknown command '${command}'\n\n${HELP}`);
  return 2;
}
