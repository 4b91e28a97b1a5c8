/**
 * `holdfast/register` in a fresh process, as an application uses it: `node --import
 * holdfast/register app.js`, where app.js calls the global `fetch` and never imports holdfast.
 * Against a real nginx (`keepalive_timeout 1s`, no Keep-Alive hint), sweeping the second
 * request across the idle close: with the register import, no fetch may fail; without it, the
 * failures of Node's default dispatcher are printed (not asserted: on loopback they come and go,
 * 0 to 16 in 640 tries here).
 *
 * The same race made deterministic (a peer that closes each connection as its second request
 * arrives) does show the default dispatcher failing, every reused request; and a script using
 * the registered dispatcher still exits as soon as its work is done.
 *
 * Runs on the Node executing it; register-node22.test.ts runs this file again on Node 22.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NGINX } from '../../src/lab/child.ts';
import { scriptedPeer, ok, startKeepAliveNginx } from '../support.ts';

const REGISTER = fileURLToPath(new URL('../../src/client/register.ts', import.meta.url));
const APP = fileURLToPath(new URL('./fixtures/global-fetch-sweep.ts', import.meta.url));
const IDLE_CLOSE_APP = fileURLToPath(new URL('./fixtures/global-fetch-idle-close.ts', import.meta.url));
const TRIES = 320;
const BATCH = 64;

interface SweepResult {
  dispatcher: string | null;
  node: string;
  failures: number;
  tries: number;
  sample: string[];
}

function runChild<T>(args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`${err.message}\n${stderr}`));
        return;
      }
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as T);
    });
  });
}

function runApp(args: string[], url: string): Promise<SweepResult> {
  return runChild<SweepResult>([...args, APP, url, String(TRIES), String(BATCH)]);
}

test(`node --import holdfast/register: global fetch vs nginx keepalive_timeout 1s, ${TRIES} tries at 0.990–1.010 s, no failure`, { skip: !existsSync(NGINX) && 'no nginx' }, async (t) => {
  const nginx = await startKeepAliveNginx();
  t.after(() => nginx.stop());
  const url = `http://127.0.0.1:${nginx.port}/`;
  const withRegister = await runApp(['--import', REGISTER], url);
  const without = await runApp([], url);
  const line = `global fetch sweep on ${withRegister.node} (${TRIES} tries): with holdfast/register ${withRegister.failures} failures | ` +
    `default dispatcher ${without.failures} failures${without.sample.length > 0 ? ` (e.g. ${without.sample[0]})` : ''}`;
  t.diagnostic(line);
  process.stdout.write(`# ${line}\n`);
  assert.equal(withRegister.dispatcher, 'HoldfastDispatcher', 'the register import installed the dispatcher fetch reads');
  assert.equal(without.dispatcher, 'Agent');
  assert.deepEqual(withRegister.sample, []);
  assert.equal(withRegister.failures, 0);
});

test('holdfast/register installs nothing until imported, and the application keeps working without it', async () => {
  // The library import alone must not change the global dispatcher.
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', `
      await import(${JSON.stringify(fileURLToPath(new URL('../../src/client/index.ts', import.meta.url)))});
      void globalThis.Response;
      const d = globalThis[Symbol.for('undici.globalDispatcher.1')];
      console.log(d.constructor.name);
      const r = await import(${JSON.stringify(REGISTER)});
      console.log(globalThis[Symbol.for('undici.globalDispatcher.1')] === r.dispatcher, globalThis[Symbol.for('undici.globalDispatcher.2')] === r.dispatcher);
    `], (err, stdout, stderr) => (err !== null ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
  assert.deepEqual(out.trim().split('\n'), ['Agent', 'true true']);
});

test('node --import holdfast/register: a peer closing each idle connection as the next request arrives costs the global fetch nothing; without it, every reused request fails', async (t) => {
  // Each connection: the first request is answered, the second is met with a FIN.
  const peer = await scriptedPeer(async (socket, reader) => {
    if ((await reader.next()) === null) return;
    socket.write(ok('ok'));
    if ((await reader.next()) === null) return;
    socket.end();
  });
  t.after(() => peer.close());
  const REQUESTS = 6;
  const withRegister = await runChild<{ failures: number; sample: string[] }>(['--import', REGISTER, IDLE_CLOSE_APP, peer.url, String(REQUESTS)]);
  const without = await runChild<{ failures: number; sample: string[] }>([IDLE_CLOSE_APP, peer.url, String(REQUESTS)]);
  t.diagnostic(`idle close on arrival, ${REQUESTS} reused requests: with holdfast/register ${withRegister.failures} failures | default ${without.failures} (${without.sample[0] ?? ''})`);
  assert.deepEqual(withRegister.sample, []);
  // The default pool reuses the connection, loses the race, opens a new one, and so on.
  assert.ok(without.failures >= REQUESTS / 2 - 1, `default dispatcher: ${JSON.stringify(without)}`);
});

test('node --import holdfast/register: a script exits when its last fetch is done, not when idle connections time out', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    while ((await reader.next()) !== null) socket.write(ok('ok'));
  });
  t.after(() => peer.close());
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', `await (await fetch(${JSON.stringify(peer.url)})).text();`], { timeout: 30_000 }, (err, _out, stderr) => (err !== null ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()));
  });
  const elapsed = Date.now() - started;
  // The idle connection would otherwise hold the process for the 4 s idle timeout.
  assert.ok(elapsed < 3000, `the process took ${elapsed} ms to exit`);
});

test('holdfast/register warns when Node was asked to use HTTP(S)_PROXY, which holdfast does not', async () => {
  const run = (env: Record<string, string>): Promise<string> => new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', ''], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, _out, stderr) => {
      if (err !== null) reject(new Error(`child failed: ${err.message}`, { cause: err }));
      else resolve(stderr);
    });
  });
  assert.match(await run({ NODE_USE_ENV_PROXY: '1', HTTP_PROXY: 'http://127.0.0.1:9' }), /HOLDFAST_PROXY_IGNORED/);
  // Without NODE_USE_ENV_PROXY Node's fetch ignores the variables too: nothing changes, no warning.
  assert.doesNotMatch(await run({ HTTP_PROXY: 'http://127.0.0.1:9' }), /HOLDFAST_PROXY_IGNORED/);
});
