/**
 * The strict corpus against real servers: Apache httpd and nginx get the same bytes as holdfast's
 * parser. holdfast must refuse exactly what Apache (with its default `HttpProtocolOptions Strict`)
 * refuses, and everything nginx refuses — nginx passes some invalid Hosts (`x\admin?`,
 * `victim#`) to its backends, which is how a front nginx and a lenient backend came to disagree.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { NGINX, startNginx } from '../../src/lab/child.ts';
import { apacheServer } from '../../src/lab/subjects/server-apache.ts';
import { apachePath } from '../../src/lab/subjects/executables.ts';
import { STRICT_CORPUS } from './_corpus.ts';
import { holdfastOutcome } from './_oracle.ts';

/** Sends `raw`, half-closes, and returns the status codes answered, in order. */
function statuses(port: number, raw: string): Promise<number[]> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = '';
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve([...data.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])));
    };
    const timer = setTimeout(done, 5000);
    s.on('connect', () => s.end(Buffer.from(raw, 'latin1')));
    s.on('data', (d: Buffer) => { data += d.toString('latin1'); });
    s.on('close', done);
    s.on('error', () => {});
  });
}

const refused = (status: number | undefined): boolean => status === 400 || status === 501;

async function against(t: TestContext, port: number, peer: string, check: (name: string, holdfastRefuses: boolean, peerRefuses: boolean) => void): Promise<void> {
  for (const [name, raw] of STRICT_CORPUS) {
    const hf = holdfastOutcome(Buffer.from(raw, 'latin1'));
    const got = await statuses(port, raw);
    t.diagnostic(`${name}: holdfast ${hf.rejected ? hf.reason : 'accepts'}, ${peer} ${got.join(',') || 'nothing'}`);
    check(name, hf.rejected, refused(got[0]));
  }
}

test('Apache refuses exactly what holdfast refuses in the strict corpus', { skip: !existsSync(apachePath()) && 'no apache' }, async (t) => {
  const apache = await apacheServer.start({ idleTimeoutMs: 1000 });
  t.after(() => apache.stop());
  await against(t, apache.port, 'apache', (name, hf, peer) => assert.equal(hf, peer, name));
});

test('whatever nginx refuses in the strict corpus, holdfast refuses', { skip: !existsSync(NGINX) && 'no nginx' }, async (t) => {
  const nginx = await startNginx((port) => `server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } }`);
  t.after(() => nginx.stop());
  let nginxRefused = 0;
  await against(t, nginx.port, 'nginx', (name, hf, peer) => {
    if (!peer) return;
    nginxRefused++;
    assert.ok(hf, `${name}: nginx refuses it, holdfast accepts it`);
  });
  // An nginx that answered nothing (bad config, crash) would refuse nothing and pass the loop.
  assert.ok(nginxRefused > 0, 'nginx refused nothing in the strict corpus: it did not really answer');
});
