/**
 * `holdfast lab`: runs the race lab and prints the scorecard.
 */
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { runLab, renderScorecard, renderHtmlReport, scenarios, subjects, LabError } from '../lab/index.ts';
import { ProgressLine } from './progress.ts';

export const LAB_HELP = `Usage: holdfast lab [options]

Runs every race scenario against every client and server subject on loopback and prints the
scorecard. Exit status 0 when every holdfast row passes.

Options:
  --only IDS          scenarios to run, comma-separated (see --list)
  --subjects IDS      subjects to run, comma-separated (see --list)
  --repeat N          multiply every scenario's rounds by N (default 1)
  --concurrency N     cells run at once (default 3)
  --json              print the scorecard as JSON on stdout
  --html FILE         also write a self-contained HTML report to FILE
  --list              list scenarios and subjects, then exit
  -h, --help          show this help
`;

function csv(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Entry point of `holdfast lab`; returns the exit status. */
export async function runLabCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        only: { type: 'string' },
        subjects: { type: 'string' },
        repeat: { type: 'string' },
        concurrency: { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`holdfast lab: ${(err as Error).message}\n\n${LAB_HELP}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(LAB_HELP);
    return 0;
  }
  if (values.list === true) {
    const out = ['Scenarios:'];
    for (const s of scenarios) out.push(`  ${s.id.padEnd(26)} ${s.role.padEnd(7)} seed ${s.seed}  ${s.title}`);
    out.push('', 'Subjects:');
    for (const s of subjects) out.push(`  ${s.id.padEnd(26)} ${s.role.padEnd(7)} ${s.family.padEnd(9)} ${s.label}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }
  const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
  const concurrency = values.concurrency === undefined ? 3 : Number(values.concurrency);
  if (!Number.isFinite(repeat) || repeat <= 0 || !Number.isInteger(concurrency) || concurrency < 1) {
    process.stderr.write('holdfast lab: --repeat must be a positive number and --concurrency a positive integer\n');
    return 2;
  }
  const progress = new ProgressLine();
  const running = new Set<string>();
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    const card = await runLab({
      only: csv(values.only),
      subjects: csv(values.subjects),
      repeat,
      concurrency,
      signal: controller.signal,
      onProgress: (ev) => {
        if (ev.type === 'start') progress.update(`holdfast lab: ${ev.total} cells`, true);
        else if (ev.type === 'cell-start') {
          running.add(`${ev.scenario} × ${ev.subject}`);
          progress.update(`[${String(ev.done).padStart(3)}/${ev.total}] ${[...running].join(', ')}`);
        } else {
          running.delete(`${ev.cell.scenario} × ${ev.cell.subject}`);
          const line = `[${String(ev.done).padStart(3)}/${ev.total}] ${ev.cell.scenario} × ${ev.cell.subject}: ${ev.cell.status}`;
          progress.update(progress.isTTY && running.size > 0 ? `${line}  (running: ${[...running].join(', ')})` : line);
        }
      },
    });
    progress.done();
    if (values.html !== undefined) {
      await writeFile(values.html, renderHtmlReport(card));
      process.stderr.write(`holdfast lab: HTML report written to ${values.html}\n`);
    }
    if (values.json === true) process.stdout.write(`${JSON.stringify(card, null, 2)}\n`);
    else process.stdout.write(renderScorecard(card, { color: process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined }));
    return card.holdfastPassed ? 0 : 1;
  } catch (err) {
    progress.done();
    if (err instanceof LabError) {
      process.stderr.write(`holdfast lab: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
