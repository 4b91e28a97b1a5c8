// `holdfast check` in process: holdfast's server passes every probe, and every probe fails
// against a deliberately broken server (the lab's naive server, or a scripted peer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  check, checkProbes, checkTarget, holdfastServer, naiveServer, renderCheckReport, renderCheckHtml, renderHtmlReport,
  ScriptedPeer, LabError, type CheckReport, type RunningServer, type Scorecard,
} from '../../src/lab/index.ts';
import { connect, trackConnections } from '../../src/lab/check/connections.ts';
import { until } from '../support.ts';

/** Waits and limits at 0.4: the lab's servers close idle connections after 1-2 s, watched for 3.2 s. */
const SCALE = 0.4;

async function started(t: import('node:test').TestContext, subject: { start(o: { idleTimeoutMs: number }): Promise<RunningServer> }): Promise<string> {
  const server = await subject.start({ idleTimeoutMs: 1000 });
  t.after(() => server.stop());
  return `http://127.0.0.1:${server.port}/`;
}

function verdicts(r: CheckReport): Record<string, string> {
  return Object.fromEntries(r.results.map((x) => [x.probe, `${x.status}: ${x.summary}`]));
}

test('holdfast serve() passes every probe', async (t) => {
  const url = await started(t, holdfastServer);
  const r = await check(url, { uploadPath: '/early', largePath: '/big/1048576', timeoutScale: SCALE });
  assert.deepEqual(r.results.map((x) => x.probe), checkProbes.map((p) => p.id));
  for (const x of r.results) assert.equal(x.status, 'pass', `${x.probe}: ${x.summary}\n${x.evidence.join('\n')}`);
  assert.equal(r.passed, true);
  assert.deepEqual(r.counts, { pass: checkProbes.length, warn: 0, fail: 0, 'n/a': 0 });
  const text = renderCheckReport(r);
  assert.match(text, /^idle-timeout +pass +hint timeout=1, closes after \d+ ms \(FIN\)$/m);
  assert.match(text, /no probe failed: 0 failed, 0 warnings, 8 passed/);
});

test('the naive server fails every probe but the unsolicited-bytes one', async (t) => {
  const url = await started(t, naiveServer);
  const only = ['idle-timeout', 'preconnect', 'slowloris', 'pipelining', 'early-answer', 'close-unread', 'framing'];
  // 16 MiB: more than the socket buffers hold, so the naive server's destroy() drops what is queued.
  const r = await check(url, { uploadPath: '/early', largePath: '/big/16777216', timeoutScale: SCALE, only });
  const v = verdicts(r);
  assert.deepEqual(Object.keys(v), only);
  for (const id of only) assert.match(v[id]!, /^fail: /, `${id}: ${v[id]}`);
  assert.match(v['idle-timeout']!, /no Keep-Alive hint; closes idle connections after \d+ ms/);
  assert.match(v['preconnect']!, /not answered while 2 connections were silent: hung/);
  assert.match(v['pipelining']!, /answered 1 of 3/);
  assert.match(v['early-answer']!, /lost in 3 of 3 uploads \(ECONNRESET/);
  assert.match(v['close-unread']!, /^fail: slow reader: truncated at \d+ of 16777216/);
  assert.match(v['framing']!, /cl-te fail, two-content-lengths fail, te-not-chunked fail/);
  assert.equal(r.passed, false);
});

test('unsolicited and preconnect: a peer that writes a 408 on idle connections fails (warns); one that closes silently passes', async (t) => {
  const timers = new Set<NodeJS.Timeout>();
  t.after(() => { for (const x of timers) clearTimeout(x); });
  const peer = (write408: boolean): Promise<ScriptedPeer> => ScriptedPeer.start({
    onConnection: (conn) => {
      // Go's net/http and others on a read timeout: a 408 on a connection that never carried a request.
      timers.add(setTimeout(() => (write408 ? conn.write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n') : undefined, conn.fin()), 300));
    },
    onRequest: (conn) => conn.respond(200, 'ok'),
  });
  const bad = await peer(true);
  const good = await peer(false);
  t.after(() => Promise.all([bad.close(), good.close()]));
  const [b, g] = await Promise.all([
    check(bad.url('/'), { only: ['unsolicited', 'preconnect'], timeoutScale: SCALE }),
    check(good.url('/'), { only: ['unsolicited', 'preconnect'], timeoutScale: SCALE }),
  ]);
  assert.equal(b.results[0]!.status, 'fail', b.results[0]!.summary);
  assert.match(b.results[0]!.summary, /writes "HTTP\/1.1 408 Request Timeout" to an idle keep-alive connection/);
  assert.match(b.results[0]!.evidence.join('\n'), /never-used connection: wrote \d+ bytes unasked/);
  assert.equal(g.results[0]!.status, 'pass', g.results[0]!.summary);
  // The preconnect probe notices the same bytes on its silent connections, and times them from their opening.
  assert.equal(b.results[1]!.status, 'warn', b.results[1]!.summary);
  assert.match(b.results[1]!.evidence.join('\n'), /silent connection 1: wrote \d+ bytes unasked after (\d+) ms .*closed after \d+ ms/);
  const after = Number(/silent connection 1: wrote \d+ bytes unasked after (\d+) ms/.exec(b.results[1]!.evidence.join('\n'))![1]);
  assert.ok(after >= 250 && after < 1000, `written ${after} ms after the opening (the peer writes at 300 ms)`);
  assert.equal(g.results[1]!.status, 'pass', g.results[1]!.summary);
});

test('idle-timeout: a hint honoured with a margin passes; a close before the hint or an RST does not', async (t) => {
  // Closes idle connections `closeMs` after each response (FIN or RST), advertising `hint` seconds.
  const peer = (hint: number, closeMs: number, how: 'fin' | 'rst'): Promise<ScriptedPeer> => {
    const timers = new Set<NodeJS.Timeout>();
    t.after(() => { for (const x of timers) clearTimeout(x); });
    return ScriptedPeer.start({
      onRequest: (conn) => {
        conn.respond(200, 'ok', { 'Keep-Alive': `timeout=${hint}` });
        for (const x of timers) clearTimeout(x);
        timers.add(setTimeout(() => (how === 'fin' ? conn.fin() : conn.rst()), closeMs));
      },
    });
  };
  const peers = await Promise.all([peer(1, 1300, 'fin'), peer(1, 700, 'fin'), peer(1, 1300, 'rst')]);
  t.after(() => Promise.all(peers.map((p) => p.close())));
  const [good, early, rst] = await Promise.all(peers.map((p) => check(p.url('/'), { only: ['idle-timeout'], timeoutScale: SCALE })));
  assert.equal(good!.results[0]!.status, 'pass', good!.results[0]!.summary);
  assert.match(early!.results[0]!.summary, /^closes idle connections after \d+ ms, before its own hint timeout=1$/);
  assert.equal(early!.results[0]!.status, 'fail');
  assert.equal(rst!.results[0]!.status, 'warn', rst!.results[0]!.summary);
  assert.match(rst!.results[0]!.summary, /with an RST/);
});

test('a probe that gets no answer fails within its guard and leaves no connection open', async (t) => {
  let open = 0;
  const peer = await ScriptedPeer.start({ onConnection: (c) => { open++; c.socket.once('close', () => open--); }, onRequest: () => undefined });
  t.after(() => peer.close());
  const r = await check(peer.url('/'), { only: ['slowloris', 'pipelining'], timeoutScale: 0.1 });
  assert.deepEqual(r.results.map((x) => x.status), ['fail', 'fail']);
  assert.match(r.results[0]!.summary, /not answered while one connection drips its head: hung/);
  await until(() => open === 0, { what: () => `every connection of the probes to close (${open} open)` });
});

test('trackConnections: connections opened through a tracked endpoint are destroyed together', async (t) => {
  let open = 0;
  const peer = await ScriptedPeer.start({ onConnection: (c) => { open++; c.socket.once('close', () => open--); }, onRequest: () => undefined });
  t.after(() => peer.close());
  const own = trackConnections({ host: '127.0.0.1', port: peer.port, authority: `127.0.0.1:${peer.port}` });
  const conns = [await connect(own.ep), await connect(own.ep)];
  const untracked = await connect({ ...own.ep });
  t.after(() => untracked.destroy());
  own.destroyAll();
  assert.deepEqual(await Promise.all(conns.map((c) => c.closed(1000))), [true, true]);
  await until(() => open === 1, { what: () => `the tracked connections to close at the peer (${open} open)` });
  assert.equal(untracked.socket.destroyed, false, 'only the untracked connection is left');
});

test('checkTarget: http only, no credentials, paths of visible ASCII; bad options are LabErrors', async () => {
  const t = checkTarget('http://127.0.0.1:8000/a?b=1', { uploadPath: '/up', largePath: '/big.bin' });
  assert.deepEqual(t, { url: 'http://127.0.0.1:8000/a?b=1', host: '127.0.0.1', port: 8000, authority: '127.0.0.1:8000', path: '/a?b=1', uploadPath: '/up', largePath: '/big.bin' });
  assert.equal(checkTarget('http://[::1]/').host, '::1');
  assert.equal(checkTarget('http://example.test/').port, 80);
  for (const [url, opts, re] of [
    ['https://127.0.0.1/', {}, /only http:\/\//],
    ['not a url', {}, /not a URL/],
    ['http://u:p@127.0.0.1/', {}, /credentials/],
    ['http://127.0.0.1/', { uploadPath: 'up' }, /--upload-path must be an absolute path/],
    ['http://127.0.0.1/', { largePath: '/a b' }, /--large-path/],
  ] as const) {
    assert.throws(() => checkTarget(url, opts), (err: unknown) => err instanceof LabError && err.code === 'HF_LAB_CHECK_TARGET' && re.test(err.message));
  }
  await assert.rejects(check('http://127.0.0.1:1/', { only: ['nope'] }), (err: unknown) => err instanceof LabError && err.code === 'HF_LAB_UNKNOWN_PROBE');
  await assert.rejects(check('http://127.0.0.1:1/', { timeoutScale: 0 }), (err: unknown) => err instanceof LabError && err.code === 'HF_LAB_CHECK_TARGET');
});

test('a server that is not there fails every probe it runs, without throwing', async () => {
  const r = await check('http://127.0.0.1:1/', { only: ['pipelining', 'framing'], timeoutScale: SCALE });
  assert.deepEqual(r.results.map((x) => x.status), ['fail', 'fail']);
  assert.match(r.results[0]!.summary, /probe could not run: .*ECONNREFUSED/);
});

test('HTML report: escaped, self-contained; the lab chart says n/a for a subject with only n/a cells', () => {
  const report: CheckReport = {
    url: 'http://127.0.0.1:1/<x>', target: checkTarget('http://127.0.0.1:1/'), startedAt: 'now', durationMs: 1, timeoutScale: 1,
    machine: { node: 'v24', platform: 'linux-x64', cpus: 2 },
    results: [{ probe: 'framing', title: 'Framing', status: 'warn', summary: 'a <b>', evidence: ['x & y'], ms: 1 }],
    passed: true, counts: { pass: 0, warn: 1, fail: 0, 'n/a': 0 },
  };
  const html = renderCheckHtml(report);
  assert.match(html, /a &lt;b&gt;/);
  assert.match(html, /x &amp; y/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!127)/);
  const card: Scorecard = {
    startedAt: 'now', durationMs: 1, repeat: 1, machine: { node: 'v24', platform: 'linux', cpus: 2 },
    scenarios: [{ id: 'idle-close-fin', role: 'client', title: 't', seed: '000', description: 'd' }],
    subjects: [
      { id: 'curl', role: 'client', label: 'curl', family: 'peer', available: true },
      { id: 'gone', role: 'client', label: 'gone', family: 'peer', available: 'not installed: /usr/bin/gone' },
    ],
    cells: [
      { scenario: 'idle-close-fin', subject: 'curl', status: 'n/a', mode: 'opens a new connection per request', ms: 0 },
      { scenario: 'idle-close-fin', subject: 'gone', status: 'not installed', mode: 'not installed', ms: 0 },
    ],
    holdfastPassed: true,
  };
  const chart = renderHtmlReport(card);
  assert.match(chart, /curl \(client\)<\/text>\n<text[^>]*>n\/a<\/text>/);
  assert.match(chart, /gone \(client\)<\/text>\n<text[^>]*>not installed<\/text>/);
});
