/**
 * The scorecard as text: one matrix per role (scenarios down, subjects across, short cells),
 * then every failure mode in full, then the verdict.
 */
import type { Scorecard, ScoreCell } from './runner.ts';

/** Short cell text for the matrix. */
export function shortCell(cell: ScoreCell | undefined): string {
  if (cell === undefined) return '';
  switch (cell.status) {
    case 'pass': return 'pass';
    case 'n/a': return 'n/a';
    case 'not installed': return 'not inst.';
    case 'error': return 'LAB ERR';
    default: return cell.failed !== undefined && cell.rounds !== undefined && cell.rounds > 1 ? `FAIL ${cell.failed}/${cell.rounds}` : 'FAIL';
  }
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - text.length));
}

/** Renders the scorecard for a terminal. `color` adds ANSI colours to pass/FAIL. */
export function renderScorecard(card: Scorecard, options: { color?: boolean } = {}): string {
  const paint = (text: string, cell: ScoreCell | undefined): string => {
    if (options.color !== true || cell === undefined) return text;
    if (cell.status === 'pass') return `\x1b[32m${text}\x1b[0m`;
    if (cell.status === 'fail' || cell.status === 'error') return `\x1b[31m${text}\x1b[0m`;
    return `\x1b[2m${text}\x1b[0m`;
  };
  const lines: string[] = [];
  for (const role of ['client', 'server'] as const) {
    const scenarios = card.scenarios.filter((s) => s.role === role);
    const subjects = card.subjects.filter((s) => s.role === role);
    if (scenarios.length === 0 || subjects.length === 0) continue;
    const first = Math.max(`${role} scenario`.length, ...scenarios.map((s) => s.id.length)) + 2;
    const widths = subjects.map((s) => Math.max(s.id.length, 9) + 2);
    lines.push(`${pad(`${role.toUpperCase()} SCENARIOS`, first)}${subjects.map((s, i) => pad(s.id, widths[i]!)).join('')}`.trimEnd());
    for (const sc of scenarios) {
      let row = pad(sc.id, first);
      for (const [i, sub] of subjects.entries()) {
        const cell = card.cells.find((c) => c.scenario === sc.id && c.subject === sub.id);
        row += paint(pad(shortCell(cell), widths[i]!), cell);
      }
      lines.push(row.trimEnd());
    }
    lines.push('');
  }
  const failures = card.cells.filter((c) => c.status === 'fail' || c.status === 'error');
  if (failures.length > 0) {
    lines.push('Failure modes:');
    const w = Math.max(...failures.map((c) => `${c.scenario} × ${c.subject}`.length)) + 2;
    for (const c of failures) lines.push(`  ${pad(`${c.scenario} × ${c.subject}`, w)}${c.mode}`);
    lines.push('');
  }
  const missing = card.subjects.filter((s) => s.available !== true);
  if (missing.length > 0) {
    lines.push('Not installed:');
    for (const s of missing) lines.push(`  ${s.id}: ${String(s.available).replace(/^not installed: /, '')}`);
    lines.push('');
  }
  const holdfast = card.subjects.filter((s) => s.family === 'holdfast').map((s) => s.id);
  const verdict = holdfast.length === 0
    ? 'no holdfast subject selected'
    : card.holdfastPassed ? `every holdfast row passes (${holdfast.join(', ')})` : 'a holdfast row FAILED';
  lines.push(`${verdict} — ${card.cells.length} cells in ${(card.durationMs / 1000).toFixed(1)} s (repeat ${card.repeat}, ${card.machine.cpus} cores, Node ${card.machine.node})`);
  return `${lines.join('\n')}\n`;
}
