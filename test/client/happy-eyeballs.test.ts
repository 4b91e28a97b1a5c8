/**
 * Happy Eyeballs (RFC 8305) through net's `autoSelectFamily`: a name that resolves to an IPv6
 * address nobody listens on and an IPv4 address that answers still connects, where a client
 * that tries only the first address fails. Name resolution is the agent's `lookup` option, so
 * the test needs no DNS: `dual.test` resolves to `::1` first, then `127.0.0.1`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { Agent, ClientError } from '../../src/client/index.ts';

const ADDRESSES = [
  { address: '::1', family: 6 },
  { address: '127.0.0.1', family: 4 },
];
const calls: string[] = [];
const lookup: LookupFunction = (hostname, options, callback) => {
  calls.push(hostname);
  if (hostname !== 'dual.test') {
    callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
    return;
  }
  // net asks for every address under Happy Eyeballs, for one address otherwise.
  if (options.all === true) (callback as unknown as (e: null, a: typeof ADDRESSES) => void)(null, ADDRESSES);
  else callback(null, ADDRESSES[0]!.address, ADDRESSES[0]!.family);
};

async function ipv4OnlyServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end('over IPv4'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { port, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

test('autoSelectFamily (default): an unreachable IPv6 address falls through to IPv4', async () => {
  const server = await ipv4OnlyServer();
  const agent = new Agent({ lookup });
  try {
    const res = await agent.request(`http://dual.test:${server.port}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.body.text(), 'over IPv4');
    assert.ok(calls.includes('dual.test'), 'the agent resolved the name with its lookup option');
  } finally {
    await agent.close();
    await server.close();
  }
});

test('autoSelectFamily: false tries only the first address and fails with HF_CONNECT', async () => {
  const server = await ipv4OnlyServer();
  const agent = new Agent({ lookup, autoSelectFamily: false });
  try {
    await assert.rejects(agent.request(`http://dual.test:${server.port}/`), (err: unknown) => {
      assert.ok(err instanceof ClientError);
      assert.equal(err.code, 'HF_CONNECT');
      assert.equal(err.mayHaveBeenProcessed, false);
      return true;
    });
  } finally {
    await agent.close();
    await server.close();
  }
});
