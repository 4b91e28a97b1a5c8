// Each toxic of the fault proxy, against a loopback TCP upstream. Timing assertions are lower
// bounds only (a toxic may never deliver early), never upper bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FaultProxy, LabError } from '../../src/lab/index.ts';
import { closed, sleep, until } from '../support.ts';

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
  await closed(s);
  clearTimeout(timer);
  return { chunks, firstAt, endAt: performance.now(), error, start };
}

const sendAndClose = (bytes: Buffer) => (s: net.Socket): void => { s.end(bytes); };

/**
 * One connection through the proxy, both ends scripted and watched: the server may greet, it
 * replies once it has the whole request, and every arrival, FIN, error and close is timed (ms
 * from the client's connect), so each test can check both directions at once.
 */
interface Script {
  greeting?: Buffer;
  request: Buffer;
  /** The client writes its request only after the whole greeting arrived. */
  requestAfterGreeting?: boolean;
  clientEnds?: boolean;
  reply?: Buffer;
  serverEndsAfterReply?: boolean;
}

interface Side {
  got: Buffer;
  chunks: number;
  /** When everything expected from the other side had arrived. */
  allAt: number | null;
  endAt: number | null;
  closedAt: number | null;
  error: string | null;
}

interface Played { client: Side; server: Side; guardHit: boolean }

const side = (): Side => ({ got: Buffer.alloc(0), chunks: 0, allAt: null, endAt: null, closedAt: null, error: null });

function watch(s: net.Socket, me: Side, start: number, expected: () => number, onData?: () => void): void {
  s.on('data', (c: Buffer) => {
    me.got = Buffer.concat([me.got, c]);
    me.chunks++;
    if (me.allAt === null && me.got.length >= expected()) me.allAt = performance.now() - start;
    onData?.();
  });
  s.on('end', () => { me.endAt = performance.now() - start; });
  s.on('error', (e: NodeJS.ErrnoException) => { me.error = e.code ?? e.message; });
}

/** Starts an upstream and a proxy in front of it; `play()` runs the script once (bounded 3 s). */
async function rig(t: import('node:test').TestContext, script: Script): Promise<{ proxy: FaultProxy; play(): Promise<Played> }> {
  let current: { server: Side; start: number; closed: () => void } | null = null;
  const up = await upstream((s) => {
    const run = current!;
    let replied = false;
    watch(s, run.server, run.start, () => script.request.length, () => {
      if (!replied && script.reply !== undefined && run.server.got.length >= script.request.length) {
        replied = true;
        if (script.serverEndsAfterReply === true) s.end(script.reply);
        else s.write(script.reply);
      }
    });
    s.on('close', () => { run.server.closedAt = performance.now() - run.start; run.closed(); });
    if (script.greeting !== undefined) s.write(script.greeting);
  });
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  return {
    proxy,
    play: async () => {
      const start = performance.now();
      const client = side();
      const server = side();
      let open = 2;
      let allClosed!: () => void;
      const done = new Promise<void>((r) => { allClosed = r; });
      const closed = (): void => { if (--open === 0) allClosed(); };
      current = { server, start, closed };
      const s = net.connect({ host: '127.0.0.1', port: proxy.port });
      const send = (): void => {
        if (script.clientEnds === true) s.end(script.request);
        else s.write(script.request);
      };
      let sent = false;
      watch(s, client, start, () => (script.requestAfterGreeting === true ? script.greeting!.length : script.reply?.length ?? Infinity), () => {
        if (!sent && script.requestAfterGreeting === true && client.got.length >= script.greeting!.length) {
          sent = true;
          send();
        }
      });
      s.on('close', () => { client.closedAt = performance.now() - start; closed(); });
      if (script.requestAfterGreeting !== true) s.on('connect', send);
      let guardHit = false;
      const guard = setTimeout(() => { guardHit = true; s.destroy(); open = 1; closed(); }, 3000);
      await done;
      clearTimeout(guard);
      s.destroy();
      return { client, server, guardHit };
    },
  };
}

const STREAMS = ['downstream', 'upstream'] as const;
const other = (stream: 'upstream' | 'downstream'): string => (stream === 'upstream' ? 'downstream' : 'upstream');
/** How long each direction took: upstream until the server had the request, downstream until the client had the reply. */
const took = (r: Played): Record<'upstream' | 'downstream', number> => ({
  upstream: r.server.allAt ?? Infinity,
  downstream: (r.client.allAt ?? Infinity) - (r.server.allAt ?? Infinity),
});

// "Unaffected" needs an upper bound; it is half the toxic's own effect, which loopback beats by
// two orders of magnitude even on a busy machine.
for (const stream of STREAMS) {
  test(`latency ${stream} delays that direction by at least \`latency\`; ${other(stream)} stays prompt`, async (t) => {
    const { proxy, play } = await rig(t, { request: Buffer.from('ping'), reply: Buffer.from('pong'), serverEndsAfterReply: true });
    proxy.addToxic({ type: 'latency', stream, attributes: { latency: 400 } });
    const r = await play();
    assert.equal(r.server.got.toString(), 'ping');
    assert.equal(r.client.got.toString(), 'pong');
    const d = took(r);
    const o = stream === 'upstream' ? 'downstream' : 'upstream';
    assert.ok(d[stream] >= 395, `${stream} took ${d[stream]} ms`);
    assert.ok(d[o] < 200, `${o} took ${d[o]} ms`);
  });

  test(`bandwidth ${stream} limits that direction to \`rate\` KB/s; ${other(stream)} runs at full speed`, async (t) => {
    const { proxy, play } = await rig(t, { request: Buffer.alloc(50_000, 1), reply: Buffer.alloc(50_000, 2), serverEndsAfterReply: true });
    proxy.addToxic({ type: 'bandwidth', stream, attributes: { rate: 100 } });
    const r = await play();
    assert.equal(r.server.got.length, 50_000);
    assert.equal(r.client.got.length, 50_000);
    const d = took(r);
    const o = stream === 'upstream' ? 'downstream' : 'upstream';
    assert.ok(d[stream] >= 450, `50 KB at 100 KB/s ${stream} took ${d[stream]} ms`);
    assert.ok(d[o] < 225, `50 KB ${o} took ${d[o]} ms`);
  });

  test(`slow_close ${stream} delays that direction's FIN, not its data; ${other(stream)} closes promptly`, async (t) => {
    const { proxy, play } = await rig(t, { request: Buffer.from('ping'), clientEnds: true, reply: Buffer.from('pong'), serverEndsAfterReply: true });
    proxy.addToxic({ type: 'slow_close', stream, attributes: { delay: 400 } });
    const r = await play();
    assert.equal(r.server.got.toString(), 'ping');
    assert.equal(r.client.got.toString(), 'pong');
    assert.ok(r.server.allAt! < 200 && took(r).downstream < 200, 'the data is not delayed');
    // Upstream: the client's FIN reaching the server; downstream: the server's FIN reaching the client.
    const finAfterData = { upstream: r.server.endAt! - r.server.allAt!, downstream: r.client.endAt! - r.client.allAt! };
    const o = stream === 'upstream' ? 'downstream' : 'upstream';
    assert.ok(finAfterData[stream] >= 395, `${stream} FIN ${finAfterData[stream]} ms after the data`);
    assert.ok(finAfterData[o] < 200, `${o} FIN ${finAfterData[o]} ms after the data`);
  });

  test(`timeout ${stream} drops that direction's data and closes after \`timeout\`; ${other(stream)} still flows`, async (t) => {
    const { proxy, play } = await rig(t, { greeting: Buffer.from('hello'), request: Buffer.from('ping'), reply: Buffer.from('pong') });
    proxy.addToxic({ type: 'timeout', stream, attributes: { timeout: 300 } });
    const r = await play();
    assert.equal(r.guardHit, false, 'closed by the toxic, not by the test guard');
    if (stream === 'downstream') {
      assert.equal(r.client.got.length, 0, 'nothing reaches the client');
      assert.equal(r.server.got.toString(), 'ping');
      assert.ok(r.server.allAt! < 150, `the request took ${r.server.allAt} ms`);
    } else {
      assert.equal(r.server.got.length, 0, 'nothing reaches the server');
      assert.equal(r.client.got.toString(), 'hello');
      assert.ok(r.client.allAt! < 150, `the greeting took ${r.client.allAt} ms`);
    }
    assert.ok(r.client.closedAt! >= 295 && r.server.closedAt! >= 295, `closed at ${r.client.closedAt} / ${r.server.closedAt} ms`);
  });

  test(`slicer ${stream} cuts that direction into small chunks, intact; ${other(stream)} is not sliced`, async (t) => {
    const payload = Buffer.from('abcdefghij'.repeat(10));
    const { proxy, play } = await rig(t, { request: payload, reply: payload, serverEndsAfterReply: true });
    proxy.addToxic({ type: 'slicer', stream, attributes: { average_size: 10, size_variation: 0, delay: 10_000 } });
    const r = await play();
    assert.deepEqual(r.server.got, payload);
    assert.deepEqual(r.client.got, payload);
    const [sliced, whole] = stream === 'upstream' ? [r.server, r.client] : [r.client, r.server];
    assert.ok(sliced.chunks >= 5, `${sliced.chunks} chunks ${stream}`);
    assert.ok(whole.chunks <= 2, `${whole.chunks} chunks ${other(stream)}`);
  });
}

test('reset_peer downstream: the first response data triggers an RST to the client; the request got through', async (t) => {
  const { proxy, play } = await rig(t, { request: Buffer.from('ping'), reply: Buffer.from('pong') });
  proxy.addToxic({ type: 'reset_peer', stream: 'downstream', attributes: { timeout: 100 } });
  const r = await play();
  assert.equal(r.server.got.toString(), 'ping', 'upstream is untouched');
  assert.equal(r.client.got.length, 0, 'the data that triggered the reset is dropped');
  assert.equal(r.client.error, 'ECONNRESET');
  assert.ok(r.client.closedAt! - r.server.allAt! >= 95, `reset ${r.client.closedAt! - r.server.allAt!} ms after the response`);
});

test('reset_peer upstream: the request triggers an RST the server sees; the response direction got through', async (t) => {
  const { proxy, play } = await rig(t, { greeting: Buffer.from('hello'), requestAfterGreeting: true, request: Buffer.from('ping') });
  proxy.addToxic({ type: 'reset_peer', stream: 'upstream', attributes: { timeout: 100 } });
  const r = await play();
  assert.equal(r.client.got.toString(), 'hello', 'downstream data does not trigger an upstream reset');
  assert.equal(r.server.got.length, 0, 'the request is dropped');
  assert.equal(r.server.error, 'ECONNRESET', 'the server side sees the reset');
  assert.equal(r.client.error, 'ECONNRESET', 'and so does the client (SO_LINGER 0 on both, as in toxiproxy)');
  assert.ok(r.server.closedAt! - r.client.allAt! >= 95, `reset ${r.server.closedAt! - r.client.allAt!} ms after the request`);
});

test('reset_peer waits for data in its own direction: a silent server is never reset downstream', async (t) => {
  let serverSocket: net.Socket | null = null;
  const up = await upstream((s) => { serverSocket = s; });
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  proxy.addToxic({ type: 'reset_peer', stream: 'downstream', attributes: { timeout: 0 } });
  const c = net.connect({ host: '127.0.0.1', port: proxy.port });
  let error: string | null = null;
  c.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
  t.after(() => { c.destroy(); });
  c.write('ping');
  await until(() => Buffer.concat(up.received).toString() === 'ping', { what: 'the request at the server' });
  // A reset that never comes is the subject: give a wrong one the time to show.
  await sleep(200);
  assert.equal(error, null);
  assert.equal(c.destroyed, false);
  serverSocket!.write('pong');
  await until(() => error !== null, { what: 'the reset' });
  assert.equal(error, 'ECONNRESET');
});

test('limit_data downstream cuts the response at `bytes`; the request got through whole', async (t) => {
  const { proxy, play } = await rig(t, { request: Buffer.alloc(3000, 1), reply: Buffer.alloc(5000, 2), serverEndsAfterReply: true });
  proxy.addToxic({ type: 'limit_data', stream: 'downstream', attributes: { bytes: 1000 } });
  const r = await play();
  assert.equal(r.server.got.length, 3000);
  assert.equal(r.client.got.length, 1000);
});

test('limit_data upstream counts only the request: the full response still arrives', async (t) => {
  const { proxy, play } = await rig(t, { request: Buffer.alloc(3000, 1), reply: Buffer.alloc(5000, 2), serverEndsAfterReply: true });
  proxy.addToxic({ type: 'limit_data', stream: 'upstream', attributes: { bytes: 4000 } });
  const r = await play();
  assert.equal(r.server.got.length, 3000);
  assert.equal(r.client.got.length, 5000);
});

test('limit_data upstream cuts the request at `bytes`, then closes', async (t) => {
  const { proxy, play } = await rig(t, { request: Buffer.alloc(3000, 1), reply: Buffer.alloc(5000, 2), serverEndsAfterReply: true });
  proxy.addToxic({ type: 'limit_data', stream: 'upstream', attributes: { bytes: 1000 } });
  const r = await play();
  assert.equal(r.guardHit, false);
  assert.equal(r.server.got.length, 1000);
  assert.notEqual(r.server.endAt, null, 'the server gets a FIN after the bytes');
  assert.equal(r.client.got.length, 0);
});

test('limit_data counts from when it is added to a live connection', async (t) => {
  let serverSocket: net.Socket | null = null;
  const up = await upstream((s) => { serverSocket = s; });
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  const c = net.connect({ host: '127.0.0.1', port: proxy.port });
  t.after(() => { c.destroy(); });
  let got = 0;
  c.on('data', (b: Buffer) => { got += b.length; });
  c.on('error', () => {});
  await until(() => serverSocket !== null, { what: 'the connection at the server' });
  serverSocket!.write(Buffer.alloc(3000));
  await until(() => got === 3000, { what: () => `3000 bytes at the client (${got})` });
  proxy.addToxic({ type: 'limit_data', stream: 'downstream', attributes: { bytes: 1000 } });
  serverSocket!.write(Buffer.alloc(5000));
  await closed(c);
  assert.equal(got, 4000);
});

test('timeout 0 drops data until removed; removing a timeout disarms its close', async (t) => {
  let serverSocket: net.Socket | null = null;
  const up = await upstream((s) => { serverSocket = s; });
  const proxy = await FaultProxy.start({ upstream: { host: '127.0.0.1', port: up.port } });
  t.after(async () => { await proxy.close(); await up.close(); });
  const c = net.connect({ host: '127.0.0.1', port: proxy.port });
  t.after(() => { c.destroy(); });
  const got: string[] = [];
  c.on('data', (b: Buffer) => got.push(b.toString()));
  c.on('error', () => {});
  await until(() => serverSocket !== null, { what: 'the connection at the server' });
  const hold = proxy.addToxic({ type: 'timeout', attributes: { timeout: 0 } });
  const closing = proxy.addToxic({ type: 'timeout', name: 'closing', attributes: { timeout: 300 } });
  serverSocket!.write('dropped');
  // Time is the subject: remove the closing timeout before it fires, then outlive its deadline.
  await sleep(100);
  proxy.removeToxic(closing.name);
  await sleep(350);
  assert.equal(c.destroyed, false, 'the removed timeout did not close the connection');
  proxy.removeToxic(hold.name);
  serverSocket!.write('delivered');
  await until(() => got.join('') !== '', { what: 'data at the client' });
  assert.equal(got.join(''), 'delivered', 'data sent during the timeout is dropped, not delayed');
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
  const ok = proxy.addToxic({ type: 'latency', attributes: { latency: 1 } });
  assert.throws(() => proxy.updateToxic(ok.name, { rate: 1 }), bad);
});
