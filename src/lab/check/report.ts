/**
 * A check report for people: a table (probe, verdict, summary) and the evidence under it, for a
 * terminal; the same as a self-contained HTML page in the lab report's style.
 */
import type { CheckReport } from './index.ts';
import type { CheckStatus } from './types.ts';
import { esc } from '../html-report.ts';

const LABEL: Record<CheckStatus, string> = { pass: 'pass', warn: 'WARN', fail: 'FAIL', 'n/a': 'n/a' };

/** `2 failed, 1 warning, 4 passed, 1 n/a`. */
export function countsLine(report: CheckReport): string {
  const c = report.counts;
  const parts = [`${c.fail} failed`, `${c.warn} warning${c.warn === 1 ? '' : 's'}`, `${c.pass} passed`];
  if (c['n/a'] > 0) parts.push(`${c['n/a']} n/a`);
  return parts.join(', ');
}

/** Renders the report for a terminal; `color` paints the verdicts. */
export function renderCheckReport(report: CheckReport, options: { color?: boolean } = {}): string {
  const paint = (text: string, status: CheckStatus): string => {
    if (options.color !== true) return text;
    const code = status === 'pass' ? 32 : status === 'fail' ? 31 : status === 'warn' ? 33 : 2;
    return `\x1b[${code}m${text}\x1b[0m`;
  };
  const w = Math.max(5, ...report.results.map((r) => r.probe.length)) + 2;
  const lines = [`holdfast check ${report.url}`, '', `${'PROBE'.padEnd(w)}${'VERDICT'.padEnd(9)}SUMMARY`];
  for (const r of report.results) lines.push(`${r.probe.padEnd(w)}${paint(LABEL[r.status].padEnd(9), r.status)}${r.summary}`);
  lines.push('', 'Evidence:');
  for (const r of report.results) {
    lines.push(`  ${r.probe} (${(r.ms / 1000).toFixed(1)} s)`);
    for (const e of r.evidence) lines.push(`    ${e}`);
  }
  const scale = report.timeoutScale === 1 ? '' : `, timeout scale ${report.timeoutScale}`;
  lines.push('', `${report.passed ? 'no probe failed' : 'a probe FAILED'}: ${countsLine(report)} — ${(report.durationMs / 1000).toFixed(1)} s${scale}`);
  return `${lines.join('\n')}\n`;
}

/** The report as a self-contained HTML page: no scripts, no external resources. */
export function renderCheckHtml(report: CheckReport): string {
  const rows = report.results.map((r) => {
    const cls = r.status === 'pass' ? 'pass' : r.status === 'fail' ? 'fail' : r.status === 'warn' ? 'warn' : 'na';
    const head = r.status === 'pass' ? '✓ pass' : r.status === 'fail' ? '✗ FAIL' : r.status === 'warn' ? '! warn' : 'n/a';
    const evidence = r.evidence.map((e) => `<li>${esc(e)}</li>`).join('');
    return `<tr><th class="probe">${esc(r.title)}<br><code>${esc(r.probe)}</code> · ${(r.ms / 1000).toFixed(1)} s</th><td class="${cls}"><b>${head}</b><br><span>${esc(r.summary)}</span></td><td class="evidence"><ul>${evidence}</ul></td></tr>`;
  }).join('\n');
  const verdict = report.passed ? `No probe failed (${countsLine(report)}).` : `A probe FAILED (${countsLine(report)}).`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>holdfast check ${esc(report.url)}</title>
<style>
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
.meta { color: #555; margin-bottom: 16px; }
.verdict { display: inline-block; padding: 6px 12px; border-radius: 6px; font-weight: 600; background: ${report.passed ? '#e3f4e8; color: #14622e' : '#fde2e4; color: #9b1c2c'}; }
table { border-collapse: collapse; table-layout: fixed; margin-top: 18px; }
th, td { border: 1px solid #d9d9d9; padding: 6px 8px; vertical-align: top; }
thead th { background: #f4f4f4; font-size: 13px; }
th.probe { text-align: left; font-weight: 600; width: 240px; background: #fafafa; }
th.probe code { font-weight: 400; color: #666; font-size: 12px; }
td { font-size: 12px; width: 260px; word-wrap: break-word; }
td.evidence { width: 560px; color: #444; } td.evidence ul { margin: 0; padding-left: 16px; }
td.pass { background: #eaf7ee; } td.pass b { color: #1b873f; }
td.fail { background: #fdecee; } td.fail b { color: #b4232f; }
td.warn { background: #fff6e0; } td.warn b { color: #8a5a00; }
td.na { background: #f6f6f6; color: #888; }
</style></head><body>
<h1>holdfast check — ${esc(report.url)}</h1>
<div class="meta">${esc(report.startedAt)} · ${(report.durationMs / 1000).toFixed(1)} s · timeout scale ${report.timeoutScale} · Node ${esc(report.machine.node)} · ${esc(report.machine.platform)}</div>
<div class="verdict">${esc(verdict)}</div>
<table><thead><tr><th>probe</th><th>verdict</th><th>evidence</th></tr></thead><tbody>
${rows}
</tbody></table>
</body></html>
`;
}
