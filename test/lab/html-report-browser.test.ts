// The HTML report in a real browser: headless Chromium renders it and takes a screenshot
// (skipped where Chromium or playwright-core is missing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLab, renderHtmlReport } from '../../src/lab/index.ts';
import { screenshotReport } from '../../scripts/lab-report-screenshot.ts';

const hasChromium = existsSync('/usr/bin/chromium') && existsSync(join(import.meta.dirname, '..', '..', 'node_modules', 'playwright-core'));

test('the HTML report renders in headless Chromium', { skip: !hasChromium }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-report-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const card = await runLab({ only: ['truncated-content-length', 'unsolicited-408'], subjects: ['holdfast-request', 'naive-client'] });
  const html = join(dir, 'report.html');
  const png = join(dir, 'report.png');
  await writeFile(html, renderHtmlReport(card));
  await screenshotReport(html, png, 1000);
  const bytes = await readFile(png);
  assert.deepEqual([...bytes.subarray(1, 4)], [...Buffer.from('PNG')]);
  // Width 1000 and a real page height: the browser laid out the table, not an empty page.
  assert.equal(bytes.readUInt32BE(16), 1000);
  assert.ok(bytes.readUInt32BE(20) > 400, `page height ${bytes.readUInt32BE(20)}`);
});
