/**
 * Renders the lab's HTML report in headless Chromium and saves a screenshot, to check that the
 * report reads well in a real browser.
 *
 *   npx node scripts/lab-report-screenshot.ts [report.html] [out.png]
 *
 * Without a report, runs a small lab first (three scenarios, a few subjects) and renders that.
 * Needs playwright-core (dev dependency) and /usr/bin/chromium.
 */
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { runLab, renderHtmlReport } from '../src/lab/index.ts';

interface Page { goto(url: string): Promise<unknown>; screenshot(opts: { path: string; fullPage: boolean }): Promise<unknown>; setViewportSize(s: { width: number; height: number }): Promise<void> }
interface Browser { newPage(): Promise<Page>; close(): Promise<void> }
interface Playwright { chromium: { launch(opts: { executablePath: string; args: string[] }): Promise<Browser> } }

/** Screenshots `htmlPath` into `pngPath` with headless Chromium. */
export async function screenshotReport(htmlPath: string, pngPath: string, width = 1500): Promise<void> {
  const name = 'playwright-core';
  const { chromium } = (await import(name)) as Playwright;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewportSize({ width, height: 900 });
    await page.goto(pathToFileURL(resolve(htmlPath)).href);
    await page.screenshot({ path: pngPath, fullPage: true });
  } finally {
    await browser.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let html = process.argv[2];
  const png = process.argv[3] ?? 'lab-report.png';
  if (html === undefined) {
    html = 'lab-report.html';
    const card = await runLab({
      only: ['idle-close-fin', 'truncated-content-length', 'slow-headers', 'preconnect', 'early-answer'],
      subjects: ['holdfast-request', 'node-agent', 'python-requests', 'naive-client', 'holdfast-server', 'python-httpserver', 'naive-server'],
    });
    await writeFile(html, renderHtmlReport(card));
  }
  await screenshotReport(html, png);
  process.stdout.write(`screenshot written to ${png}\n`);
}
