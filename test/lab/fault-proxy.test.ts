// Each toxic of the fault proxy, against a loopback TCP upstream. Timing assertions are lower
// bounds only (a toxic may never deliver early), never upper bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FaultProxy, LabError } from '../../src/lab/index.ts';

/** An upstream that runs `onConn` for each connection; returns its port and a closer. */
async function upstream(onConn: (s: net.Socket) => void): Promise<{ port: number; received: Buffer[]; close(): Promise<void> }> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (c: Buffer) => received.push(c));
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Connects through the proxy, optionally writes, collects chunks until close (bounded 5 s). */
async function through(proxy: FaultProxy, send?: Buffer): Promise<{ chunks: Buffer[]; firstAt: number | null; endAt: number; error: string | null; start: number }> {
  const start = performance.now();
  const s = net.connect({ host: '127.0.0.1', port: proxy.port });
  const chunks: Buffer[] = [];
  let firstAt: number | null = null;
  let error: string | null = null;
  s.on('data', (c: Buffer) => {
    firstAt ??= performance.now();
    chunks.push(c);
  });
  s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
  if (send !== undefined) s.write(send);
  const timer = setTimeout(() => s.destroy(), 5000);
  await new Promise<void>((r) => s.on('close', () => r()));
  clearTimeout(timer);
  return { chunks, firstAt, endAt: performance.now(), error, start };
}

const sendAndClose = (bytes: Buffer) => (s: net.Socket): void => { s.end(bytes); };

test('latency delays downstream data by at least `latency`', async (t) => {
  const up = await upstream(sendAndClose(Buffer.from('hello')));
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'latency', stream: 'downstream', attributes: { latency: 200 } });
  const r = await through(proxy);
  assert.equal(Buffer.concat(r.chunks).toString(), 'hello');
  assert.ok(r.firstAt! - r.start >= 195, `arrived after ${r.firstAt! - r.start} ms`);
});

test('latency upstream delays what the server receives', async (t) => {
  let gotAt = 0;
  const up = await upstream((s) => s.on('data', () => { gotAt = performance.now(); s.end(); }));
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 150 } });
  const r = await through(proxy, Buffer.from('x'));
  assert.ok(gotAt - r.start >= 145, `server got it after ${gotAt - r.start} ms`);
});

test('bandwidth limits throughput to `rate` KB/s', async (t) => {
  const up = await upstream(sendAndClose(Buffer.alloc(50_000, 1)));
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'bandwidth', attributes: { rate: 100 } });
  const r = await through(proxy);
  assert.equal(Buffer.concat(r.chunks).length, 50_000);
  assert.ok(r.endAt - r.start >= 450, `50 KB at 100 KB/s took ${r.endAt - r.start} ms`);
});

test('slow_close delays the FIN, not the data', async (t) => {
  const up = await upstream(sendAndClose(Buffer.from('bye')));
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'slow_close', attributes: { delay: 300 } });
  const r = await through(proxy);
  assert.equal(Buffer.concat(r.chunks).toString(), 'bye');
  assert.ok(r.endAt - r.firstAt! >= 290, `closed ${r.endAt - r.firstAt!} ms after the data`);
});

test('timeout stops all data and closes after `timeout`', async (t) => {
  const up = await upstream((s) => s.write('never delivered'));
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'timeout', attributes: { timeout: 200 } });
  const r = await through(proxy);
  assert.equal(Buffer.concat(r.chunks).length, 0);
  assert.ok(r.endAt - r.start >= 195);
  assert.ok(r.endAt - r.start < 4900, 'closed by the toxic, not by the test guard');
});

test('reset_peer resets the connection (ECONNRESET)', async (t) => {
  const up = await upstream(() => {});
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'reset_peer', attributes: { timeout: 100 } });
  const r = await through(proxy);
  assert.equal(r.error, 'ECONNRESET');
});

test('slicer delivers the data intact in many small chunks', async (t) => {
  const payload = Buffer.from('abcdefghij'.repeat(10));
  const up = await upstream(sendAndClose(payload));
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'slicer', attributes: { average_size: 10, size_variation: 0, delay: 10_000 } });
  const r = await through(proxy);
  assert.deepEqual(Buffer.concat(r.chunks), payload);
  assert.ok(r.chunks.length >= 5, `${r.chunks.length} chunks`);
});

test('limit_data passes exactly `bytes`, then closes (both streams)', async (t) => {
  const up = await upstream(sendAndClose(Buffer.alloc(5000, 2)));
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'limit_data', attributes: { bytes: 1000 } });
  const r = await through(proxy);
  assert.equal(Buffer.concat(r.chunks).length, 1000);

  const up2 = await upstream(() => {});
  const proxy2 = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up2.port } });
  t.after(async () => { await proxy2.close(); await up2.close(); });
  proxy2.addToxic({ type: 'limit_data', stream: 'upstream', attributes: { bytes: 100 } });
  await through(proxy2, Buffer.alloc(5000, 3));
  assert.equal(Buffer.concat(up2.received).length, 100);
});

test('toxicity 0 never applies; removing a toxic restores the link', async (t) => {
  const up = await upstream(sendAndClose(Buffer.from('ok')));
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'limit_data', toxicity: 0, attributes: { bytes: 0 } });
  assert.equal(Buffer.concat((await through(proxy)).chunks).toString(), 'ok');
  const cut = proxy.addToxic({ type: 'limit_data', attributes: { bytes: 0 } });
  assert.equal(Buffer.concat((await through(proxy)).chunks).length, 0);
  proxy.removeToxic(cut.name);
  assert.equal(Buffer.concat((await through(proxy)).chunks).toString(), 'ok');
});

test('bad toxics are rejected with HF_LAB_BAD_TOXIC', async (t) => {
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: 9 } });
  t.after(() => proxy.close());
  const bad = (e: unknown): boolean => e instanceof LabError && e.code === 'HF_LAB_BAD_TOXIC';
  assert.throws(() => proxy.addToxic({ type: 'latency', attributes: { latncy: 1 } }), bad);
  assert.throws(() => proxy.addToxic({ type: 'latency', toxicity: 2 }), bad);
  assert.throws(() => proxy.addToxic({ type: 'latency', attributes: { latency: -1 } }), bad);
  assert.throws(() => proxy.removeToxic('nope'), bad);
});
