/**
 * The scorecard as a self-contained HTML page: the matrices with failure modes in the cells, and
 * an inline SVG bar chart of each subject's failure rate. No scripts, no external resources.
 */
import type { Scorecard, ScoreCell, SubjectInfo } from './runner.ts';

/** Escapes text for HTML content and attribute values. */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Failed cells over cells that ran (pass or fail) for one subject. */
export function failureRate(card: Scorecard, subject: string): { failed: number; ran: number } {
  const ran = card.cells.filter((c) => c.subject === subject && (c.status === 'pass' || c.status === 'fail' || c.status === 'error'));
  return { failed: ran.filter((c) => c.status !== 'pass').length, ran: ran.length };
}

function chart(card: Scorecard): string {
  const rows = card.subjects.map((s) => ({ s, ...failureRate(card, s.id) }));
  const labelW = 250;
  const barW = 420;
  const rowH = 26;
  const top = 34;
  const height = top + rows.length * rowH + 28;
  const width = labelW + barW + 120;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Failure rate per subject">`);
  parts.push(`<text x="0" y="18" font-size="15" font-weight="600">Scenarios failed, per subject</text>`);
  for (const tick of [0, 25, 50, 75, 100]) {
    const x = labelW + (barW * tick) / 100;
    parts.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${top + rows.length * rowH}" stroke="#ddd"/>`);
    parts.push(`<text x="${x}" y="${top + rows.length * rowH + 18}" font-size="12" text-anchor="middle" fill="#555">${tick}%</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const color = colorFor(r.s);
    const label = `${r.s.id} (${r.s.role})`;
    parts.push(`<text x="${labelW - 10}" y="${y + 17}" font-size="13" text-anchor="end"${r.s.family === 'holdfast' ? ' font-weight="700"' : ''}>${esc(label)}</text>`);
    if (r.ran === 0) {
      // A subject that ran but for which every scenario was n/a (curl on pooled connections) is installed.
      parts.push(`<text x="${labelW + 6}" y="${y + 17}" font-size="12" fill="#777">${r.s.available === true ? 'n/a' : 'not installed'}</text>`);
      return;
    }
    const w = Math.max(2, (barW * r.failed) / r.ran);
    parts.push(`<rect x="${labelW}" y="${y + 4}" width="${w}" height="${rowH - 8}" rx="3" fill="${color}"/>`);
    parts.push(`<text x="${labelW + w + 8}" y="${y + 17}" font-size="12" fill="#333">${r.failed}/${r.ran}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function colorFor(s: SubjectInfo): string {
  if (s.family === 'holdfast') return '#1b873f';
  if (s.family === 'naive') return '#8a8a8a';
  return '#d1495b';
}

function cellHtml(cell: ScoreCell | undefined): string {
  if (cell === undefined) return '<td></td>';
  const cls = cell.status === 'pass' ? 'pass' : cell.status === 'fail' || cell.status === 'error' ? 'fail' : 'na';
  const head = cell.status === 'pass' ? '✓ pass' : cell.status === 'fail' ? '✗ FAIL' : cell.status === 'error' ? '⚠ lab error' : esc(cell.status);
  return `<td class="${cls}"><b>${head}</b><br><span>${esc(cell.mode)}</span></td>`;
}

function matrix(card: Scorecard, role: 'client' | 'server'): string {
  const scenarios = card.scenarios.filter((s) => s.role === role);
  const subjects = card.subjects.filter((s) => s.role === role);
  if (scenarios.length === 0 || subjects.length === 0) return '';
  const head = subjects.map((s) => `<th class="${s.family}" title="${esc(s.label)}">${esc(s.id)}</th>`).join('');
  const rows = scenarios.map((sc) => {
    const cells = subjects.map((sub) => cellHtml(card.cells.find((c) => c.scenario === sc.id && c.subject === sub.id))).join('');
    return `<tr><th class="scenario" title="${esc(sc.description)}">${esc(sc.title)}<br><code>${esc(sc.id)}</code> · seed ${esc(sc.seed)}</th>${cells}</tr>`;
  }).join('\n');
  return `<h2>${role === 'client' ? 'Clients' : 'Servers'}</h2>\n<table><thead><tr><th>scenario</th>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

/** The report page. */
export function renderHtmlReport(card: Scorecard): string {
  const verdict = card.holdfastPassed ? 'Every holdfast row passes.' : 'A holdfast row FAILED.';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>holdfast lab scorecard</title>
<style>
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.meta { color: #555; margin-bottom: 16px; }
.verdict { display: inline-block; padding: 6px 12px; border-radius: 6px; font-weight: 600; background: ${card.holdfastPassed ? '#e3f4e8; color: #14622e' : '#fde2e4; color: #9b1c2c'}; }
table { border-collapse: collapse; table-layout: fixed; }
th, td { border: 1px solid #d9d9d9; padding: 6px 8px; vertical-align: top; }
thead th { background: #f4f4f4; font-size: 13px; width: 118px; word-break: break-all; }
thead th.holdfast { background: #dff1e4; } thead th.naive { background: #ececec; color: #555; }
th.scenario { text-align: left; font-weight: 600; width: 240px; min-width: 240px; background: #fafafa; }
th.scenario code { font-weight: 400; color: #666; font-size: 12px; }
td { font-size: 12px; width: 118px; word-wrap: break-word; }
td.pass { background: #eaf7ee; } td.pass b { color: #1b873f; }
td.fail { background: #fdecee; } td.fail b { color: #b4232f; }
td.na { background: #f6f6f6; color: #888; }
td span { color: #444; }
.legend { color: #555; font-size: 13px; margin-top: 8px; }
</style></head><body>
<h1>holdfast lab — connection-lifecycle races</h1>
<div class="meta">${esc(card.startedAt)} · ${(card.durationMs / 1000).toFixed(1)} s · repeat ${card.repeat} · ${card.machine.cpus} cores · Node ${esc(card.machine.node)} · ${esc(card.machine.platform)}</div>
<div class="verdict">${verdict}</div>
<div style="margin-top:18px">${chart(card)}</div>
<div class="legend">Green: holdfast. Red: other stacks. Grey: the lab's deliberately naive subjects, which must fail (they prove each scenario can fail).</div>
${matrix(card, 'client')}
${matrix(card, 'server')}
</body></html>
`;
}
