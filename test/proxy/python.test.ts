/**
 * Seed 004 through the proxy: Python's single-threaded `HTTPServer` with HTTP/1.1 keep-alive
 * serves one connection at a time, so one idle preconnect (Chrome opens them routinely) hangs it
 * for everyone. Behind `holdfast proxy --upstream-concurrency 1`, headless Chromium and curl get
 * every page and probe while idle preconnects are held open to the proxy — and the proxy itself
 * never leaves an idle connection on the backend that would hang the backend's other clients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { backendLog, curl, preconnect, startPython, startProxy, tempDir } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const PAGES = 4;
/**
 * The proxy's agent keeps idle upstream connections this long (the default is 4 s). Without it a
 * direct probe that waits longer than 4 s would pass even if the proxy never closed its idle
 * connection: the agent's own idle timer would free the backend in time. With 30 s, and probes
 * bounded at DIRECT_MAX_TIME, only `while-queued` closing the connection at once lets them through.
 */
const AGENT = { idleTimeout: 30_000 };
/** curl --max-time for requests straight to the backend: far below AGENT.idleTimeout. */
const DIRECT_MAX_TIME = '3';

test('single-threaded Python HTTPServer: a preconnect hangs it alone; behind the proxy Chromium and curl get every page', async (t) => {
  const backend = await startPython(t);

  // Teeth: the backend alone, with one idle connection held open, answers nobody.
  const idle = await preconnect(t, backend.port);
  const alone = await curl(['--max-time', '2', '-o', '/dev/null', '-w', '%{http_code}', `${backend.url}/echo`]);
  assert.equal(alone.code, 28, `curl straight to the backend should time out while a preconnect is held (exit ${alone.code}, ${alone.stdout})`);
  idle.destroy();

  const proxy = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1, agent: AGENT });
  const proxyPort = Number(new URL(proxy.url).port);
  // Idle preconnects to the proxy, held for the whole test: they must cost nobody anything.
  for (let i = 0; i < 3; i++) await preconnect(t, proxyPort);

  for (const path of ['/echo', '/page/9', '/static/style.css', '/img/9.svg', '/echo?again']) {
    const r = await curl(['--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', `${proxy.url}${path}`]);
    assert.equal(r.code, 0, `curl ${path} through the proxy: exit ${r.code} ${r.stderr}`);
    assert.equal(r.stdout, '200', `curl ${path}`);
  }

  const profile = tempDir(t, 'hf-proxy-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  for (let n = 1; n <= PAGES; n++) {
    const response = await page.goto(`${proxy.url}/page/${n}`, { waitUntil: 'load', timeout: 20_000 });
    assert.equal(response?.status(), 200, `page ${n}`);
    // A string, evaluated in the page: this file is type-checked without the DOM library.
    const facts = await page.evaluate(`(() => {
      const img = document.getElementById('img');
      return {
        title: document.title,
        image: img.complete && img.naturalWidth > 0,
        css: getComputedStyle(document.querySelector('h1')).color,
        js: window.appLoaded ?? 0,
      };
    })()`);
    assert.deepEqual(facts, { title: `page ${n}`, image: true, css: 'rgb(1, 2, 3)', js: 1 }, `page ${n} and its subresources`);
  }
  // Follow a link too (a navigation Chrome starts itself, with its own preconnect habits).
  await Promise.all([page.waitForURL(`**/page/${PAGES + 1}`, { timeout: 20_000 }), page.click('a')]);
  assert.equal(await page.title(), `page ${PAGES + 1}`);

  // The proxy holds no idle connection to the backend: its other clients are not blocked (with
  // Chromium's keep-alive connections to the proxy and the preconnects still open). Checked
  // before reading the backend's log, which is itself a direct request that would hang.
  const after = await curl(['--max-time', DIRECT_MAX_TIME, '-o', '/dev/null', '-w', '%{http_code}', `${backend.url}/echo?direct`]);
  assert.equal(after.code, 0, `straight to the backend after the browsing: exit ${after.code}`);
  assert.equal(after.stdout, '200');

  const log = await backendLog(backend);
  for (let n = 1; n <= PAGES; n++) {
    for (const target of [`/page/${n}`, `/static/style.css?v=${n}`, `/static/app.js?v=${n}`, `/img/${n}.svg`]) {
      assert.ok(log.some((e) => e.target === target), `the backend served ${target}`);
    }
  }
});

test('upstreamKeepAlive: an idle pooled connection blocks a single-threaded backend; while-queued closes it', async (t) => {
  const backend = await startPython(t);
  // Control: ordinary pooling keeps the connection idle after the request, and the backend,
  // blocked reading it, cannot answer anyone else.
  const pooling = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1, upstreamKeepAlive: 'always', agent: AGENT });
  const r1 = await curl(['--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', `${pooling.url}/echo?pooled`]);
  assert.equal(r1.stdout, '200');
  const blocked = await curl(['--max-time', '1.5', '-o', '/dev/null', '-w', '%{http_code}', `${backend.url}/echo?blocked`]);
  assert.equal(blocked.code, 28, 'with a pooled idle connection the backend hangs its other clients');
  await pooling.close({ timeout: 500 });

  const proxy = await startProxy(t, { upstreams: [backend.url], upstreamConcurrency: 1, agent: AGENT });
  for (let i = 0; i < 3; i++) {
    const r = await curl(['--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', `${proxy.url}/echo?proxied=${i}`]);
    assert.equal(r.stdout, '200');
    const direct = await curl(['--max-time', DIRECT_MAX_TIME, '-o', '/dev/null', '-w', '%{http_code}', `${backend.url}/echo?direct=${i}`]);
    assert.equal(direct.code, 0, `direct request ${i} after a proxied one: exit ${direct.code}`);
    assert.equal(direct.stdout, '200');
  }
});
