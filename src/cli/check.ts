/**
 * `holdfast check URL`: audits a running server for the connection-lifecycle races and prints a
 * verdict per probe, with evidence.
 */
import { check, checkProbes, renderCheckReport, renderCheckHtml, LabError, type CheckProgress } from '../lab/index.ts';
import { ProgressLine } from './progress.ts';
import { parseCommandLine, positiveNumberFlag, usageFailure, UsageError } from './args.ts';
import { abortOnSigint, csvFlag, writeReport } from './reportOutput.ts';

export const CHECK_HELP = `Usage: holdfast check URL [options]

Audits a running HTTP/1.1 server for the connection-lifecycle races of the lab: idle timeout
and its Keep-Alive hint, unsolicited bytes on idle connections, preconnects, slowloris,
pipelining, an early answer to an unread upload, a close with unread bytes behind the request,
and framing strictness. Prints a verdict (pass / WARN / FAIL / n/a) and the evidence per probe.
Exit status 0 when no probe fails, 1 when one does, 2 for bad arguments.

The framing probe sends MALFORMED requests (conflicting Content-Length and Transfer-Encoding,
obs-fold, bare LF, an invalid Host) and the early-answer probe uploads 10 MiB three times: check
only servers you operate. Connections go to the URL's host and port only, a few at a time, and
every probe has a time limit; a whole check takes under a minute.

Options:
  --upload-path PATH     where the early-answer probe POSTs its upload (default: the URL's path);
                         a path that refuses large bodies without reading them (413, 401)
  --large-path PATH      what the close probe downloads (default: the URL's path); a body of
                         about 1 MiB shows the race best
  --only IDS             probes to run, comma-separated: ${checkProbes.map((p) => p.id).join(', ')}
  --timeout-scale N      multiply every wait and time limit by N (default 1; more for a slow
                         link, less for a quick look at a server with short timeouts)
  --json                 print the report as JSON on stdout
  --html FILE            also write a self-contained HTML report to FILE
  --list                 list the probes and what each sends, then exit
  -h, --help             show this help

Progress goes to stderr. Each probe is explained in docs/check.md.
`;

/** The progress display: the probe running now, then each verdict as it comes. */
export function checkProgress(progress: ProgressLine): (ev: CheckProgress) => void {
  return (ev) => {
    if (ev.type === 'start') progress.update(`holdfast check ${ev.target}: ${ev.total} probes`, true);
    else if (ev.type === 'probe-start') progress.update(`[${ev.done + 1}/${ev.total}] ${ev.probe}…`, true);
    else progress.update(`[${ev.done}/${ev.total}] ${ev.result.probe}: ${ev.result.status} — ${ev.result.summary}`, true);
  };
}

/** Entry point of `holdfast check`; returns the exit status. */
export async function runCheck(argv: string[]): Promise<number> {
  let values;
  let url: string;
  let scale: number;
  try {
    let positionals;
    ({ values, positionals } = parseCommandLine({
      args: argv,
      allowPositionals: true,
      options: {
        'upload-path': { type: 'string' },
        'large-path': { type: 'string' },
        only: { type: 'string' },
        'timeout-scale': { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    if (values.help === true) {
      process.stdout.write(CHECK_HELP);
      return 0;
    }
    if (values.list === true) {
      for (const p of checkProbes) process.stdout.write(`${p.id.padEnd(14)}${p.title}\n${' '.repeat(14)}${p.description}\n`);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'a URL is required' : `one URL, got ${positionals.length} arguments`);
    url = positionals[0]!;
    scale = positiveNumberFlag('timeout-scale', values['timeout-scale']) ?? 1;
  } catch (err) {
    return usageFailure('check', err, CHECK_HELP);
  }
  const progress = new ProgressLine();
  try {
    const report = await abortOnSigint((signal) => check(url, {
      uploadPath: values['upload-path'],
      largePath: values['large-path'],
      only: csvFlag(values.only),
      timeoutScale: scale,
      signal,
      onProgress: checkProgress(progress),
    }));
    progress.done();
    await writeReport(report, { command: 'check', json: values.json === true, html: values.html, renderText: renderCheckReport, renderHtml: renderCheckHtml });
    return report.passed ? 0 : 1;
  } catch (err) {
    progress.done();
    // The target or a probe option the lab refuses (a non-HTTP URL, an unknown probe): a usage error.
    if (err instanceof LabError) return usageFailure('check', new UsageError(err.message, { cause: err }), CHECK_HELP);
    throw err;
  }
}
