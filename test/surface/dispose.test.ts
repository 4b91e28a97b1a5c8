/**
 * `await using`: an Agent, a Server, a ReverseProxy and a Cache close gracefully (their `close()`)
 * when the scope that declared them ends — also when it ends with a throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Agent } from '../../src/client/index.ts';
import { serve } from '../../src/server/index.ts';
import { createProxy } from '../../src/proxy/index.ts';
import { createCache, MemoryStore } from '../../src/cache/index.ts';

/** Records that `close` was called, then runs the real one. */
function spyClose<T extends { close: (...args: never[]) => Promise<void> }>(target: T, calls: string[], name: string): T {
  const real = target.close.bind(target);
  target.close = ((...args: never[]) => {
    calls.push(name);
    return real(...args);
  });
  return target;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

test('await using closes the server, the proxy, the agent and the cache at the end of the scope', async () => {
  const calls: string[] = [];
  let serverPort = 0;
  let proxyPort = 0;
  let agent!: Agent;
  {
    await using server = spyClose(await serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('hello') }), calls, 'server');
    await using proxy = spyClose(createProxy({ upstreams: [server.url] }), calls, 'proxy');
    proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    await using a = spyClose(new Agent(), calls, 'agent');
    await using cache = spyClose(createCache({ store: new MemoryStore() }), calls, 'cache');
    [serverPort, agent] = [server.port, a];
    const res = await a.request(`${proxy.url}/`);
    assert.equal(await res.body.text(), 'hello');
    assert.equal(cache.mode, 'private');
  }
  // Disposed in reverse order of declaration, each with its graceful close.
  assert.deepEqual(calls, ['cache', 'agent', 'proxy', 'server']);
  assert.ok(await refused(serverPort), 'server no longer listening');
  assert.ok(await refused(proxyPort), 'proxy no longer listening');
  await assert.rejects(agent.request('http://127.0.0.1:1/'), { code: 'HF_POOL_CLOSED' });
});

test('a scope that throws still disposes', async () => {
  const calls: string[] = [];
  await assert.rejects(async () => {
    await using agent = spyClose(new Agent(), calls, 'agent');
    assert.ok(agent);
    throw new Error('boom');
  }, /boom/);
  assert.deepEqual(calls, ['agent']);
});
