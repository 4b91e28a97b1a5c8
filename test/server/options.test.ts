/**
 * Server options: bad values are refused with a typed error at construction (not discovered as a
 * timer that fires at once, or a grace that makes the real close come before the advertised
 * one), and the idle close never comes before the advertised `Keep-Alive: timeout=N` plus grace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, InvalidOptionError, ServerError, type ServerOptions } from '../../src/server/index.ts';
import { refuseListenOptions, supportsReusePort } from '../../src/internals.ts';
import { RawClient, startServer } from './helpers.ts';

const hello: NonNullable<ServerOptions['handler']> = (_req, res) => void res.end('hi');

test('invalid option values throw InvalidOptionError HF_INVALID_OPTION naming the option', () => {
  const bad: Array<[string, Partial<ServerOptions>]> = [
    ['keepAliveGrace', { keepAliveGrace: -1 }],
    ['keepAliveGrace', { keepAliveGrace: Number.NaN }],
    ['keepAliveGrace', { keepAliveGrace: Infinity }],
    ['keepAliveGrace', { keepAliveGrace: '1000' as unknown as number }],
    ['keepAliveTimeout', { keepAliveTimeout: 0 }],
    ['keepAliveTimeout', { keepAliveTimeout: -500 }],
    ['keepAliveTimeout', { keepAliveTimeout: Infinity }],
    ['keepAliveTimeout', { keepAliveTimeout: Number.NaN }],
    // Each fits a timer alone, but their sum does not.
    ['keepAliveTimeout + keepAliveGrace', { keepAliveTimeout: 2 ** 31 - 1000, keepAliveGrace: 2000 }],
    ['headersTimeout', { headersTimeout: 2 ** 31 }],
    ['headersTimeout', { headersTimeout: 0 }],
    ['maxRequestsPerConnection', { maxRequestsPerConnection: 0 }],
    ['maxRequestsPerConnection', { maxRequestsPerConnection: 2.5 }],
    ['maxBodySize', { maxBodySize: -1 }],
    ['maxDrainBytes', { maxDrainBytes: -1 }],
    ['maxDrainBytes', { maxDrainBytes: Number.NaN }],
    ['bodyHighWaterMark', { bodyHighWaterMark: 0 }],
    ['linger.idleTimeout', { linger: { idleTimeout: -1 } }],
    ['linger.totalTimeout', { linger: { totalTimeout: Infinity } }],
    ['lightResponse', { lightResponse: 'yes' as unknown as boolean }],
    ['handler', { fetch: () => new Response('') }],
  ];
  for (const [name, options] of bad) {
    assert.throws(
      () => createServer({ handler: hello, ...options }),
      (err: unknown) => err instanceof InvalidOptionError && err.code === 'HF_INVALID_OPTION' && err.option === name &&
        (name === 'handler' || err.message.startsWith(`${name} must be`)),
      `${JSON.stringify(options)} should be refused as a bad ${name}`,
    );
  }
  // The edges that are meaningful are accepted.
  for (const options of [{ keepAliveGrace: 0 }, { maxDrainBytes: 0 }, { maxBodySize: Infinity }, { maxRequestsPerConnection: Infinity }, { keepAliveTimeout: 1 }]) {
    assert.doesNotThrow(() => createServer({ handler: hello, ...options }), JSON.stringify(options));
  }
});

test('the idle close is never earlier than the advertised timeout=N seconds plus the grace', () => {
  for (const keepAliveTimeout of [1, 200, 500, 999, 1000, 1001, 1500, 1999, 4999, 5000, 60_000]) {
    for (const keepAliveGrace of [0, 1, 250, 1000]) {
      const o = createServer({ handler: hello, keepAliveTimeout, keepAliveGrace }).options;
      const m = /^timeout=(\d+)$/.exec(o.keepAliveValue);
      assert.ok(m !== null, o.keepAliveValue);
      const advertised = Number(m[1]);
      // Never `timeout=0`: that tells hint-honouring clients not to reuse at all.
      assert.ok(advertised >= 1, `${keepAliveTimeout}: advertised ${advertised}`);
      assert.ok(o.keepAliveCloseAfter >= advertised * 1000 + keepAliveGrace, `${keepAliveTimeout}/${keepAliveGrace}: closes at ${o.keepAliveCloseAfter} ms, advertised ${advertised} s`);
      // And never earlier than configured either.
      assert.ok(o.keepAliveCloseAfter >= keepAliveTimeout + keepAliveGrace);
    }
  }
});

test('keepAliveTimeout 500 with no grace: advertised timeout=1, and the connection really stays open 1 s', async (t) => {
  const server = await startServer(t, { handler: hello, keepAliveTimeout: 500, keepAliveGrace: 0 });
  const c = new RawClient(server.port);
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const [res] = await c.responses(['GET']);
  const answeredAt = performance.now();
  assert.equal(res?.headers.get('keep-alive'), 'timeout=1');
  const e = await c.ended;
  // Timers never fire early, so this lower bound is deterministic.
  const open = performance.now() - answeredAt;
  assert.ok(open >= 990, `closed ${open.toFixed(0)} ms after the response that advertised 1 s`);
  assert.equal(e.fin, true);
});

test('reusePort: refused with HF_SERVER_REUSEPORT_UNSUPPORTED on a Node that would ignore it; on this Node, listen({ reusePort }) binds', async () => {
  for (const [v, ok] of [['20.20.2', false], ['22.11.0', false], ['22.12.0', true], ['23.0.0', false], ['23.1.0', true], ['24.21.0', true], ['25.0.0', true]] as const) {
    assert.equal(supportsReusePort(v), ok, v);
  }
  const refused = refuseListenOptions({ port: 0, reusePort: true }, '22.11.0');
  assert.ok(refused instanceof ServerError);
  assert.equal(refused.code, 'HF_SERVER_REUSEPORT_UNSUPPORTED');
  assert.equal(refuseListenOptions({ port: 0 }, '22.11.0'), null, 'nothing to refuse without reusePort');
  assert.equal(refuseListenOptions({ port: 0, reusePort: true }, '24.0.0'), null);
  // This Node supports it (the pinned Node 24), so listen goes through and the port is shared.
  const server = createServer({ handler: async (_req, res) => { await res.end('ok'); } });
  await server.listen({ port: 0, hostname: '127.0.0.1', reusePort: true });
  assert.ok(server.port > 0);
  await server.close();
});
