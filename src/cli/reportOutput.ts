/**
 * What `holdfast lab` and `holdfast check` do around their run, in one place: a Ctrl-C that
 * aborts the run (so it ends with a report of what finished instead of dying mid-probe), and the
 * output — an optional HTML file, then JSON or the terminal table on stdout.
 */
import { writeFile } from 'node:fs/promises';

/** Runs `work` with a signal that SIGINT aborts; the listener is gone when it settles. */
export async function abortOnSigint<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** How a report is written: the flags, and the command's two renderers. */
export interface ReportOutput<R> {
  command: string;
  json: boolean;
  html: string | undefined;
  renderText(report: R, options: { color: boolean }): string;
  renderHtml(report: R): string;
}

/** Writes the HTML file when asked (saying where on stderr), then JSON or the table on stdout. */
export async function writeReport<R>(report: R, out: ReportOutput<R>): Promise<void> {
  if (out.html !== undefined) {
    await writeFile(out.html, out.renderHtml(report));
    process.stderr.write(`holdfast ${out.command}: HTML report written to ${out.html}\n`);
  }
  if (out.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(out.renderText(report, { color: process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined }));
}

/** A comma-separated flag value as its non-empty, trimmed members; `undefined` when absent. */
export function csvFlag(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}
