/**
 * The keep-alive race against a real nginx (`keepalive_timeout 1s`, which sends no Keep-Alive
 * hint): a second request on the same connection is delayed across 0.990–1.010 s, where the
 * server's close and the request cross. holdfast must not fail once; Node's `http.Agent` on the
 * same sweep is printed beside it (not asserted: it is the problem being shown).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { Agent } from '../../src/client/index.ts';
import { sleep, startKeepAliveNginx } from '../support.ts';
import { NGINX } from '../../src/lab/child.ts';

const TRIES = 320;
const BATCH = 64;


/** Delay of try `i`: spread evenly over 990..1010 ms. */
const delayOf = (i: number): number => 990 + (i % 21);

/** Runs `one(i)` for every try in parallel batches; returns failure messages. */
async function sweep(one: (i: number) => Promise<void>): Promise<string[]> {
  const failures: string[] = [];
  for (let start = 0; start < TRIES; start += BATCH) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(TRIES, start + BATCH); i++) {
      batch.push(one(i).catch((err: unknown) => { failures.push(`${delayOf(i)} ms: ${String((err as Error).message ?? err)}`); }));
    }
    await Promise.all(batch);
  }
  return failures;
}

test(`nginx keepalive_timeout 1s, second request at 0.990–1.010 s, ${TRIES} tries: holdfast never fails`, { skip: !existsSync(NGINX) && 'no nginx' }, async (t) => {
  const nginx = await startKeepAliveNginx();
  t.after(() => nginx.stop());
  const { port } = nginx;
  const url = `http://127.0.0.1:${port}/`;
  const started = Date.now();
  let retried = 0;
  let reusedOk = 0;
  const holdfastFailures = await sweep(async (i) => {
    // One agent per try: each try has its own connection to race with.
    const agent = new Agent();
    try {
      await (await agent.request(url)).body.text();
      await sleep(delayOf(i));
      const res = await agent.request(url);
      assert.equal(await res.body.text(), 'ok\n');
      if (res.attempts > 1) retried++;
      else if (res.reusedConnection) reusedOk++;
    } finally {
      await agent.destroy();
    }
  });
  const holdfastTime = Date.now() - started;

  const nodeStarted = Date.now();
  const nodeFailures = await sweep(async (i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (): Promise<string> => new Promise((resolve, reject) => {
      http.get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => resolve(body));
        res.on('error', reject);
      }).on('error', reject);
    });
    try {
      await get();
      await sleep(delayOf(i));
      await get();
    } finally {
      agent.destroy();
    }
  });
  const nodeTime = Date.now() - nodeStarted;

  const line = `nginx sweep (${TRIES} tries, batches of ${BATCH}): holdfast failures ${holdfastFailures.length}/${TRIES} ` +
    `(${retried} recovered by a safe retry, ${reusedOk} reused cleanly, ${(holdfastTime / 1000).toFixed(1)} s) | ` +
    `node http.Agent failures ${nodeFailures.length}/${TRIES} (${(nodeTime / 1000).toFixed(1)} s)`;
  t.diagnostic(line);
  process.stdout.write(`# ${line}\n`);
  if (nodeFailures.length > 0) t.diagnostic(`node http.Agent e.g.: ${nodeFailures[0]!}`);
  assert.deepEqual(holdfastFailures, []);
});
