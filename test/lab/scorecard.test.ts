// The runner and its renderings: not-installed subjects are never a pass, the exit verdict
// follows the holdfast rows, unknown ids are rejected, the text and HTML carry every failure mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab, renderScorecard, renderHtmlReport, LabError, type ClientSubject, type Scorecard } from '../../src/lab/index.ts';

const missing: ClientSubject = {
  role: 'client', id: 'missing-client', label: 'a client that is not installed', family: 'peer', reusesConnections: true,
  available: async () => 'not installed: nowhere',
  open: async () => { throw new Error('must not be opened'); },
};

test('a subject that is not installed shows "not installed", never a pass', async () => {
  const card = await runLab({ only: ['truncated-content-length'], subjects: ['missing-client'], extraSubjects: [missing] });
  assert.equal(card.cells.length, 1);
  assert.equal(card.cells[0]!.status, 'not installed');
  assert.match(renderScorecard(card), /not inst\./);
});

test('unknown scenario and subject ids are rejected with a LabError', async () => {
  await assert.rejects(runLab({ only: ['no-such-scenario'] }), (e: unknown) => e instanceof LabError && e.code === 'HF_LAB_UNKNOWN_SCENARIO');
  await assert.rejects(runLab({ subjects: ['no-such-subject'] }), (e: unknown) => e instanceof LabError && e.code === 'HF_LAB_UNKNOWN_SUBJECT');
});

test('the verdict follows the holdfast rows; failure modes reach the text and the HTML', async () => {
  const card = await runLab({ only: ['truncated-content-length', 'unsolicited-408'], subjects: ['holdfast-request', 'naive-client'] });
  assert.equal(card.holdfastPassed, true);
  const naive = card.cells.filter((c) => c.subject === 'naive-client');
  assert.ok(naive.every((c) => c.status === 'fail'));
  const text = renderScorecard(card);
  const html = renderHtmlReport(card);
  for (const c of naive) {
    assert.ok(text.includes(c.mode), `text lacks ${c.mode}`);
    assert.ok(html.includes(c.mode.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')), `html lacks ${c.mode}`);
  }
  assert.match(html, /<svg[^>]*role="img"/);
  // Self-contained: no scripts, no external stylesheets, images or links.
  assert.doesNotMatch(html, /<script|<link|src="http|href="http|url\(/);
  const failedHoldfast: Scorecard = { ...card, cells: card.cells.map((c) => (c.subject === 'holdfast-request' ? { ...c, status: 'fail' as const } : c)), holdfastPassed: false };
  assert.match(renderScorecard(failedHoldfast), /a holdfast row FAILED/);
});
