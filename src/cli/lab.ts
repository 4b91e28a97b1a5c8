/**
 * `holdfast lab`: runs the race lab and prints the scorecard.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runLab, renderScorecard, renderHtmlReport, scenarios, subjects, LabError, type LabProgress, type Subject } from '../lab/index.ts';
import { ProgressLine } from './progress.ts';
import { integerFlag, parseCommandLine, positiveNumberFlag, usageFailure } from './args.ts';
import { abortOnSigint, csvFlag, writeReport } from './reportOutput.ts';

export const LAB_HELP = `Usage: holdfast lab [options]

Runs every race scenario against every client and server subject on loopback and prints the
scorecard. Exit status 0 when every holdfast row passes, 1 when one fails, 2 for bad arguments.

Options:
  --only IDS              scenarios to run, comma-separated (see --list)
  --subjects IDS          subjects to run, comma-separated (see --list)
  --repeat N              multiply every scenario's rounds by N (default 1); the one-round
                          scenarios (slow-headers, preconnect, slowloris, graceful-shutdown,
                          request-at-idle-timeout, upgrade-held) then play N rounds
  --concurrency N         cells run at once (default 3)
  --extra-subjects FILE   add your own subjects: an ES module exporting \`subjects\` (or a
                          default export), an array of lab ClientSubject / ServerSubject
                          objects; those of family 'holdfast' count towards the exit status
  --json                  print the scorecard as JSON on stdout
  --html FILE             also write a self-contained HTML report to FILE
  --list                  list scenarios and subjects, then exit
  -h, --help              show this help

Progress goes to stderr: one rewritten line on a terminal, a plain line every few seconds
otherwise. External programs: HOLDFAST_LAB_PYTHON (default /usr/bin/python3),
HOLDFAST_LAB_CURL (/usr/bin/curl), HOLDFAST_LAB_APACHE (/usr/sbin/apache2); a subject whose
program is missing is shown as "not installed", never as a pass.
`;

const FAMILIES = new Set(['holdfast', 'naive', 'peer']);

/** The shape of a subject, checked before the lab trusts a user's module with a table row. */
function isSubject(value: unknown): value is Subject {
  if (value === null || typeof value !== 'object') return false;
  const s = value as Record<string, unknown>;
  return (s['role'] === 'client' || s['role'] === 'server')
    && typeof s['id'] === 'string' && typeof s['label'] === 'string'
    && typeof s['family'] === 'string' && FAMILIES.has(s['family'])
    && typeof s['available'] === 'function'
    && typeof (s['role'] === 'client' ? s['open'] : s['start']) === 'function'
    && (s['role'] === 'server' || typeof s['reusesConnections'] === 'boolean');
}

/** Loads `--extra-subjects FILE`; throws HF_LAB_SUBJECT_MODULE when it is not a list of subjects. */
export async function loadSubjectModule(file: string): Promise<Subject[]> {
  let mod: { subjects?: unknown; default?: unknown };
  try {
    mod = await import(pathToFileURL(resolve(file)).href) as { subjects?: unknown; default?: unknown };
  } catch (err) {
    throw new LabError('HF_LAB_SUBJECT_MODULE', `cannot load ${file}: ${(err as Error).message}`, { cause: err });
  }
  const list = mod.subjects ?? mod.default;
  if (!Array.isArray(list) || list.length === 0) throw new LabError('HF_LAB_SUBJECT_MODULE', `${file} exports no \`subjects\` array`);
  const bad = list.findIndex((s) => !isSubject(s));
  if (bad !== -1) throw new LabError('HF_LAB_SUBJECT_MODULE', `${file}: subjects[${bad}] is not a lab subject (role, id, label, family, available, open/start)`);
  const clash = (list as Subject[]).find((s) => subjects.some((b) => b.id === s.id));
  if (clash !== undefined) throw new LabError('HF_LAB_SUBJECT_MODULE', `${file}: subject id '${clash.id}' is a built-in subject's`);
  return list as Subject[];
}

/**
 * The progress display: a count and the cells running now, on one rewritten line on a terminal;
 * on anything else the start line and then a plain line at most every 2 s (ProgressLine's rule),
 * so that CI logs stay short.
 */
export function labProgress(progress: ProgressLine): (ev: LabProgress) => void {
  const running = new Set<string>();
  return (ev) => {
    if (ev.type === 'start') progress.update(`holdfast lab: ${ev.total} cells`, true);
    else if (ev.type === 'cell-start') {
      running.add(`${ev.scenario} × ${ev.subject}`);
      progress.update(`[${String(ev.done).padStart(3)}/${ev.total}] ${[...running].join(', ')}`);
    } else {
      running.delete(`${ev.cell.scenario} × ${ev.cell.subject}`);
      const line = `[${String(ev.done).padStart(3)}/${ev.total}] ${ev.cell.scenario} × ${ev.cell.subject}: ${ev.cell.status}`;
      progress.update(progress.isTTY && running.size > 0 ? `${line}  (running: ${[...running].join(', ')})` : line);
    }
  };
}

/** Entry point of `holdfast lab`; returns the exit status. */
export async function runLabCommand(argv: string[]): Promise<number> {
  let values;
  let repeat: number;
  let concurrency: number;
  try {
    ({ values } = parseCommandLine({
      args: argv,
      options: {
        only: { type: 'string' },
        subjects: { type: 'string' },
        repeat: { type: 'string' },
        concurrency: { type: 'string' },
        'extra-subjects': { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    if (values.help === true) {
      process.stdout.write(LAB_HELP);
      return 0;
    }
    repeat = positiveNumberFlag('repeat', values.repeat) ?? 1;
    concurrency = integerFlag('concurrency', values.concurrency, 1) ?? 3;
  } catch (err) {
    return usageFailure('lab', err, LAB_HELP);
  }
  let extra: Subject[] = [];
  if (values['extra-subjects'] !== undefined) {
    try {
      extra = await loadSubjectModule(values['extra-subjects']);
    } catch (err) {
      if (!(err instanceof LabError)) throw err;
      process.stderr.write(`holdfast lab: ${err.message}\n`);
      return 2;
    }
  }
  if (values.list === true) {
    const out = ['Scenarios:'];
    for (const s of scenarios) out.push(`  ${s.id.padEnd(26)} ${s.role.padEnd(7)} seed ${s.seed}  ${s.title}`);
    out.push('', 'Subjects:');
    for (const s of [...subjects, ...extra]) out.push(`  ${s.id.padEnd(26)} ${s.role.padEnd(7)} ${s.family.padEnd(9)} ${s.label}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }
  const progress = new ProgressLine();
  try {
    const card = await abortOnSigint((signal) => runLab({
      only: csvFlag(values.only),
      subjects: csvFlag(values.subjects),
      repeat,
      concurrency,
      signal,
      extraSubjects: extra,
      onProgress: labProgress(progress),
    }));
    progress.done();
    await writeReport(card, { command: 'lab', json: values.json === true, html: values.html, renderText: renderScorecard, renderHtml: renderHtmlReport });
    return card.holdfastPassed ? 0 : 1;
  } catch (err) {
    progress.done();
    if (err instanceof LabError) {
      process.stderr.write(`holdfast lab: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
