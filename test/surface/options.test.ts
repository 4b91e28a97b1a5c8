/**
 * One way to refuse a bad option: every constructor that takes options (Agent, Server, Cache and
 * its stores, ReverseProxy) throws `InvalidOptionError` (`HF_INVALID_OPTION`) naming the option,
 * at construction — not a layer-specific code, and not a timer that fires at once later.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, HoldfastError, InvalidOptionError } from '../../src/client/index.ts';
import { createServer } from '../../src/server/index.ts';
import { createCache, MemoryStore, SqliteStore } from '../../src/cache/index.ts';
import { createProxy } from '../../src/proxy/index.ts';

function refuses(option: string, build: () => unknown): void {
  assert.throws(build, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `${option}: ${String(err)}`);
    assert.ok(err instanceof HoldfastError);
    assert.equal(err.code, 'HF_INVALID_OPTION');
    assert.equal(err.option, option);
    return true;
  }, option);
}

const store = new MemoryStore();
const upstreams = ['http://127.0.0.1:1'];

test('Agent: timeouts, counts, flags and the cache are checked', () => {
  refuses('headersTimeout', () => new Agent({ headersTimeout: Infinity }));
  refuses('bodyTimeout', () => new Agent({ bodyTimeout: -1 }));
  refuses('connectTimeout', () => new Agent({ connectTimeout: Number.NaN }));
  refuses('requestTimeout', () => new Agent({ requestTimeout: 2 ** 31 }));
  refuses('idleTimeout', () => new Agent({ idleTimeout: '4000' as unknown as number }));
  refuses('connections', () => new Agent({ connections: 0 }));
  refuses('connections', () => new Agent({ connections: 1.5 }));
  refuses('queueLimit', () => new Agent({ queueLimit: -1 }));
  refuses('livenessCheck', () => new Agent({ livenessCheck: 'no' as unknown as boolean }));
  refuses('cache', () => new Agent({ cache: store as never }));
  refuses('retry.limit', () => new Agent({ retry: { limit: -1 } }));
  // 0 keeps its meaning of "no timeout"; Infinity connections/queue mean unbounded.
  assert.doesNotThrow(() => new Agent({ headersTimeout: 0, bodyTimeout: 0, requestTimeout: 0, queueLimit: Infinity, connections: Infinity }));
});

test('Server: the same error, naming the option', () => {
  refuses('headersTimeout', () => createServer({ handler: () => {}, headersTimeout: 0 }));
  refuses('maxBodySize', () => createServer({ handler: () => {}, maxBodySize: -1 }));
  refuses('lightResponse', () => createServer({ handler: () => {}, lightResponse: 1 as unknown as boolean }));
  refuses('handler', () => createServer({}));
  refuses('upgrade', () => createServer({ handler: () => {}, upgrade: 'ws' as never }));
});

test('Cache and stores: the same error, naming the option', () => {
  refuses('store', () => createCache({} as never));
  refuses('mode', () => createCache({ store, mode: 'public' as never }));
  refuses('collapse', () => createCache({ store, collapse: 'fleet' as never }));
  refuses('leaseTtlMs', () => createCache({ store, leaseTtlMs: 0 }));
  refuses('maxBytes', () => new MemoryStore({ maxBytes: 0 }));
  refuses('directory', () => new SqliteStore({ directory: '' }));
  assert.doesNotThrow(() => createCache({ store, collapse: false }));
});

test('ReverseProxy: the same error, naming the option', () => {
  refuses('upstreams', () => createProxy({ upstreams: [] }));
  refuses('upstreams', () => createProxy({ upstreams: ['ftp://127.0.0.1/'] }));
  refuses('upstreamKeepAlive', () => createProxy({ upstreams, upstreamKeepAlive: 'sometimes' as never }));
  refuses('upstreamConcurrency', () => createProxy({ upstreams, upstreamConcurrency: 0 }));
  refuses('timeouts.headers', () => createProxy({ upstreams, timeouts: { headers: -5 } }));
  refuses('forwarded', () => createProxy({ upstreams, forwarded: 'all' as never }));
  refuses('upgradeProtocols', () => createProxy({ upstreams, upgradeProtocols: ['web socket'] }));
  refuses('upgradeProtocols', () => createProxy({ upstreams, upgradeProtocols: 'websocket' as never }));
  refuses('timeouts.tunnelIdle', () => createProxy({ upstreams, timeouts: { tunnelIdle: -1 } }));
  refuses('cache', () => createProxy({ upstreams, cache: createCache({ store, mode: 'private' }) }));
  // The server options inside are checked by the server, with the same error.
  refuses('headersTimeout', () => createProxy({ upstreams, server: { headersTimeout: Infinity } }));
});
