/**
 * All cores: several processes serve one port, through node:cluster or SO_REUSEPORT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { RawClient, parseResponses } from './helpers.ts';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'multicore.ts');

function start(t: TestContext, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [fixture, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`fixture did not start: ${out}`)), 15000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`fixture exited ${code}`)));
  });
}

/** Fresh connections until `want` distinct pids answered (at most `max` tries). */
async function pids(port: number, want: number, max = 60): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < max && seen.size < want; i++) {
    const c = new RawClient(port);
    c.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const e = await c.ended;
    const { responses } = parseResponses(e.data, ['GET']);
    assert.equal(responses[0]?.status, 200);
    seen.add(responses[0].body.toString());
  }
  return seen;
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  return exited;
}

test('node:cluster: two workers share the port and both answer', async (t) => {
  const { child, port } = await start(t, ['cluster', '2']);
  const seen = await pids(port, 2);
  assert.equal(seen.size, 2, `pids seen: ${[...seen].join(', ')}`);
  assert.equal(await stop(child), 0);
});

test('reusePort: two independent processes bind the same port and both answer', async (t) => {
  const a = await start(t, ['reuseport', '0']);
  const b = await start(t, ['reuseport', String(a.port)]);
  assert.equal(b.port, a.port);
  // The kernel hashes each new connection's 4-tuple onto a listener: 60 tries all landing on
  // one of two listeners has probability 2^-59.
  const seen = await pids(a.port, 2);
  assert.equal(seen.size, 2, `pids seen: ${[...seen].join(', ')}`);
  assert.equal(await stop(a.child), 0);
  assert.equal(await stop(b.child), 0);
});
