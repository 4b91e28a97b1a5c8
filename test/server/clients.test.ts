/**
 * Real clients from Debian against the server: headless Chromium (persistent profile, several
 * navigations with subresources — it preconnects), python-requests (an early 413 to a 10 MB
 * upload it never gets to finish), curl.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer } from './helpers.ts';
import type { ServerRequest, ResponseWriter } from '../../src/server/index.ts';

function run(cmd: string, args: string[], timeoutMs = 60000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const PAGES = ['/', '/a', '/b', '/c'];

/** A small site: every page pulls a stylesheet, a script, an image and a fetch(). */
async function site(req: ServerRequest, res: ResponseWriter): Promise<void> {
  const p = req.path;
  if (PAGES.includes(p)) {
    const n = PAGES.indexOf(p);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    await res.end(`<!doctype html><html><head><link rel="stylesheet" href="/style.css?${n}"><script src="/app.js?${n}"></script></head>
<body><h1>page ${n}</h1><img src="/img.svg?${n}" id="img"><a id="next" href="${PAGES[(n + 1) % PAGES.length]}">next</a>
<script>window.loaded = 0; fetch('/api?${n}').then(r => r.json()).then(j => { window.api = j.ok; });
document.getElementById('img').addEventListener('load', () => { window.img = true; });</script></body></html>`);
  } else if (p === '/style.css') {
    res.writeHead(200, { 'Content-Type': 'text/css', 'Cache-Control': 'no-store' });
    await res.end('h1 { color: rgb(1, 2, 3); }');
  } else if (p === '/app.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'no-store' });
    await res.end('window.script = true;');
  } else if (p === '/img.svg') {
    res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'no-store' });
    await res.end('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
  } else if (p === '/api') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    await res.end('{"ok":true}');
  } else {
    res.writeHead(404);
    await res.end('not found');
  }
}

test('headless Chromium with a persistent profile loads every page and subresource', { skip: !existsSync('/usr/bin/chromium') && 'no /usr/bin/chromium' }, async (t) => {
  const { chromium } = await import('playwright-core');
  const statuses: number[] = [];
  const server = await startServer(t, {
    handler: async (req, res) => {
      await site(req, res);
      statuses.push(res.status);
    },
  });
  const profile = mkdtempSync(path.join(tmpdir(), 'hf-chromium-'));
  t.after(() => rmSync(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText ?? ''}`));
    for (let round = 0; round < 2; round++) {
      for (const p of PAGES) {
        const resp = await page.goto(`${server.url}${p}`, { waitUntil: 'load', timeout: 30000 });
        assert.equal(resp?.status(), 200);
        // (Expressions as strings: this file is type-checked without the DOM library.)
        await page.waitForFunction('window.api === true && window.img === true', null, { timeout: 30000 });
        const state = await page.evaluate('({ script: window.script === true, color: getComputedStyle(document.querySelector("h1")).color })');
        assert.deepEqual(state, { script: true, color: 'rgb(1, 2, 3)' });
      }
      // Follow links too (navigation initiated by the page, on Chromium's pooled connections).
      // The last page links back to the first.
      await page.click('#next');
      await page.waitForURL(`${server.url}${PAGES[0]}`, { waitUntil: 'load', timeout: 30000 });
      // The page's fetch() does not delay `load`: wait for it as after goto(), or the next goto()
      // can abort it while in flight: `/api?0 net::ERR_ABORTED` in `failed`, the test's own
      // navigation cutting the request, not the server (reproduced by answering /api 400 ms late).
      await page.waitForFunction('window.api === true && window.img === true', null, { timeout: 30000 });
      assert.equal(await page.evaluate('document.querySelector("h1").textContent'), 'page 0');
    }
    assert.deepEqual(failed, []);
    // 2 rounds x 4 pages x 5 requests (+ link navigations, favicons answered 404).
    assert.ok(statuses.filter((s) => s === 200).length >= 40, `200s: ${statuses.filter((s) => s === 200).length}`);
  } finally {
    await context.close();
  }
});

const PYTHON = `
import sys, requests
url, runs = sys.argv[1], int(sys.argv[2])
body = b'a' * (10 * 1024 * 1024)
ok = 0
for i in range(runs):
    try:
        r = requests.post(url, data=body, headers={'Content-Type': 'application/octet-stream'})
        if r.status_code == 413 and r.text == 'x' * 2048:
            ok += 1
        else:
            print('unexpected', r.status_code, len(r.text), file=sys.stderr)
    except Exception as e:
        print('error', type(e).__name__, e, file=sys.stderr)
print(ok)
`;

test('python-requests POSTing 10 MB to an endpoint answering 413 unread gets the 413 every time', { skip: !existsSync('/usr/bin/python3') && 'no /usr/bin/python3' }, async (t) => {
  let unread = 0;
  const server = await startServer(t, {
    handler: async (req, res) => {
      if (!req.body.started) unread++;
      res.writeHead(413, { 'Content-Type': 'text/plain' });
      await res.end('x'.repeat(2048));
    },
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'hf-py-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'post413.py');
  writeFileSync(script, PYTHON);
  const runs = 20;
  const r = await run('/usr/bin/python3', [script, `${server.url}/upload`, String(runs)], 120000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), String(runs), r.stderr);
  assert.equal(unread, runs);
});

test('curl: GET, HEAD, keep-alive reuse, 100-continue upload, chunked upload, Connection: close', async (t) => {
  const server = await startServer(t, {
    handler: async (req, res) => {
      if (req.method === 'POST') {
        const body = await req.body.bytes();
        await res.end(`got ${body.length} ${req.expect ?? 'no-expect'} ${req.framing.kind}`);
        return;
      }
      await res.end(`hello ${req.path}`);
    },
  });
  const base = server.url;
  const a = await run('curl', ['-sS', `${base}/x`]);
  assert.equal(a.stdout, 'hello /x');
  const h = await run('curl', ['-sS', '-I', `${base}/x`]);
  assert.match(h.stdout, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(h.stdout, /Content-Length: 8/i);
  const reuse = await run('curl', ['-sS', '-v', `${base}/1`, `${base}/2`, `${base}/3`]);
  assert.equal(reuse.stdout, 'hello /1hello /2hello /3');
  assert.match(reuse.stderr, /Re-using existing connection|Reusing existing/i);
  const dir = mkdtempSync(path.join(tmpdir(), 'hf-curl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'up.bin');
  writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 0x61));
  const up = await run('curl', ['-sS', '-v', '--data-binary', `@${file}`, '-H', 'Expect: 100-continue', `${base}/up`]);
  assert.equal(up.stdout, `got ${2 * 1024 * 1024} 100-continue length`);
  assert.match(up.stderr, /HTTP\/1\.1 100 Continue/);
  const chunked = await run('curl', ['-sS', '--data-binary', `@${file}`, '-H', 'Transfer-Encoding: chunked', `${base}/up`]);
  // (curl adds `Expect: 100-continue` to large chunked uploads as well.)
  assert.match(chunked.stdout, /^got 2097152 (100-continue|no-expect) chunked$/);
  const close = await run('curl', ['-sS', '-v', '-H', 'Connection: close', `${base}/c`]);
  assert.equal(close.stdout, 'hello /c');
  assert.match(close.stderr, /Connection: close/i);
});
