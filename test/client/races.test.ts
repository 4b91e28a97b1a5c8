/**
 * The keep-alive race and its relatives, each reproduced exactly by a scripted peer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import diagnostics from 'node:diagnostics_channel';
import { Agent, StaleConnectionError, TruncatedBodyError, ClientError } from '../../src/client/index.ts';
import { scriptedPeer, serveFirstThenRead, ok, gate, nextEvent, sleep } from '../support.ts';

/** Serves the first request on connection 0 then closes (FIN or RST) on reading the second. */
async function closeOnSecond(kind: 'fin' | 'rst') {
  return scriptedPeer(async (socket, reader, index) => {
    if (index === 0) {
      if ((await serveFirstThenRead(socket, reader)) === null) return;
      // The server's idle timer fired as the request arrived: it read it, and closes unanswered.
      if (kind === 'fin') socket.end();
      else socket.resetAndDestroy();
      return;
    }
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      socket.write(ok(`fresh ${r.method} ${r.body.toString()}`));
    }
  });
}

for (const kind of ['fin', 'rst'] as const) {
  test(`GET on a reused connection closed (${kind}) on arrival succeeds through one retry`, async (t) => {
    const peer = await closeOnSecond(kind);
    const agent = new Agent();
    t.after(async () => { await agent.destroy(); await peer.close(); });
    const a = await agent.request(`${peer.url}/a`);
    assert.equal(await a.body.text(), 'first');
    const b = await agent.request(`${peer.url}/b`);
    assert.equal(b.status, 200);
    assert.equal(await b.body.text(), 'fresh GET ');
    assert.equal(b.attempts, 2);
    assert.equal(b.reusedConnection, false, 'the retry ran on a fresh connection');
    assert.equal(peer.connections, 2);
  });

  test(`POST without Idempotency-Key on a connection closed (${kind}) on arrival fails as stale, may have been processed`, async (t) => {
    const peer = await closeOnSecond(kind);
    const agent = new Agent();
    t.after(async () => { await agent.destroy(); await peer.close(); });
    await (await agent.request(`${peer.url}/a`)).body.text();
    await assert.rejects(agent.request(`${peer.url}/b`, { method: 'POST', body: 'x' }), (err: unknown) => {
      assert.ok(err instanceof StaleConnectionError, String(err));
      assert.equal(err.code, 'HF_STALE_CONNECTION');
      assert.equal(err.mayHaveBeenProcessed, true);
      assert.equal(err.phase, 'headers');
      return true;
    });
    assert.equal(peer.connections, 1, 'never replayed');
  });

  test(`POST with Idempotency-Key on a connection closed (${kind}) on arrival is retried`, async (t) => {
    const peer = await closeOnSecond(kind);
    const agent = new Agent();
    t.after(async () => { await agent.destroy(); await peer.close(); });
    await (await agent.request(`${peer.url}/a`)).body.text();
    const b = await agent.request(`${peer.url}/b`, { method: 'POST', body: 'x', headers: { 'idempotency-key': 'k1' } });
    assert.equal(await b.body.text(), 'fresh POST x');
    assert.equal(b.attempts, 2);
  });
}

test('a failure on a fresh connection is final: a peer that closes every connection on arrival costs exactly one connection', async (t) => {
  for (const kind of ['fin', 'rst'] as const) {
    const peer = await scriptedPeer(async (socket, reader) => {
      if ((await reader.next()) === null) return;
      if (kind === 'fin') socket.end();
      else socket.resetAndDestroy();
    });
    const agent = new Agent();
    t.after(async () => { await agent.destroy(); await peer.close(); });
    await assert.rejects(agent.request(`${peer.url}/`), (err: unknown) => {
      assert.ok(err instanceof ClientError, String(err));
      // Not the stale-connection error: that one is reserved for reused connections.
      assert.equal(err.code, 'HF_SOCKET_RESET', `${kind}: ${String(err)}`);
      assert.equal(err.phase, 'headers');
      assert.equal(err.mayHaveBeenProcessed, true);
      return true;
    });
    assert.equal(peer.connections, 1, `${kind}: no retry after a failure on a fresh connection`);
  }
});

test('the safe retry is capped at one: a reused-connection race whose retry also dies fails after exactly 2 connections', async (t) => {
  const retries: unknown[] = [];
  const ch = diagnostics.channel('holdfast:client:request:retry');
  const onRetry = (m: unknown): void => { retries.push(m); };
  ch.subscribe(onRetry);
  // Connection 0 serves one request, then every request on every connection dies on arrival.
  const peer = await scriptedPeer(async (socket, reader, index) => {
    if (index === 0) {
      if ((await reader.next()) === null) return;
      socket.write(ok('first'));
    }
    if ((await reader.next()) === null) return;
    socket.end();
  });
  const agent = new Agent();
  t.after(async () => { ch.unsubscribe(onRetry); await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(`${peer.url}/a`)).body.text(), 'first');
  await assert.rejects(agent.request(`${peer.url}/b`), (err: unknown) => {
    assert.ok(err instanceof ClientError, String(err));
    assert.equal(err.code, 'HF_SOCKET_RESET', 'the final error is the fresh connection\'s own');
    return true;
  });
  assert.equal(peer.connections, 2);
  assert.equal(retries.length, 1);
});

for (const kind of ['fin', 'rst'] as const) {
  test(`a response byte arrived (partial head, then ${kind}) on a reused connection: no retry`, async (t) => {
    const peer = await scriptedPeer(async (socket, reader, index) => {
      if ((await reader.next()) === null) return;
      if (index !== 0) {
        socket.write(ok('fresh'));
        return;
      }
      socket.write(ok('first'));
      if ((await reader.next()) === null) return;
      socket.write('HTTP/1.1 200');
      // Let the client read those bytes before the connection dies (a RST makes the kernel drop
      // what the client has not read yet, and nothing on this side can see the client's read).
      await sleep(20);
      if (kind === 'fin') socket.end();
      else socket.resetAndDestroy();
    });
    const agent = new Agent();
    t.after(async () => { await agent.destroy(); await peer.close(); });
    await (await agent.request(`${peer.url}/a`)).body.text();
    await assert.rejects(agent.request(`${peer.url}/b`), (err: unknown) => {
      assert.ok(err instanceof ClientError, String(err));
      assert.ok(err.code === 'HF_SOCKET_RESET' || err.code === 'HF_RESPONSE_PARSE' || err.code === 'HF_TRUNCATED_BODY', String(err));
      assert.equal(err.phase, 'headers');
      assert.equal(err.mayHaveBeenProcessed, true);
      return true;
    });
    assert.equal(peer.connections, 1, 'the server started answering: the request is not repeated');
  });
}

test('the retry goes to a fresh connection, not to another idle one', async (t) => {
  // Every connection serves one request and dies as the next one arrives (one server clock
  // timing out all of them at once).
  const peer = await scriptedPeer(async (socket, reader, index) => {
    if ((await reader.next()) === null) return;
    socket.write(ok(`conn ${index}`));
    if ((await reader.next()) === null) return;
    socket.end();
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const first = await Promise.all([agent.request(`${peer.url}/a`), agent.request(`${peer.url}/b`)]);
  assert.deepEqual((await Promise.all(first.map((r) => r.body.text()))).sort(), ['conn 0', 'conn 1']);
  assert.equal(agent.pool(`http://127.0.0.1:${peer.port}`)!.idleCount, 2);
  const res = await agent.request(`${peer.url}/c`);
  assert.equal(await res.body.text(), 'conn 2');
  assert.equal(res.attempts, 2);
  assert.equal(res.reusedConnection, false);
  assert.equal(peer.connections, 3);
});

test('a streamed (non-replayable) PUT closed on arrival is not retried', async (t) => {
  const peer = await closeOnSecond('fin');
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  await (await agent.request(`${peer.url}/a`)).body.text();
  async function* body() { yield 'part'; }
  await assert.rejects(agent.request(`${peer.url}/b`, { method: 'PUT', body: body() }), { code: 'HF_STALE_CONNECTION', mayHaveBeenProcessed: true });
});

test('with retry: false the GET race surfaces as a stale-connection error', async (t) => {
  const peer = await closeOnSecond('fin');
  const agent = new Agent({ retry: false });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  await (await agent.request(`${peer.url}/a`)).body.text();
  await assert.rejects(agent.request(`${peer.url}/b`), { code: 'HF_STALE_CONNECTION' });
});

test('a POST whose bytes were never written is retried on a fresh connection', async (t) => {
  const bodies: string[] = [];
  const peer = await scriptedPeer(async (socket, reader) => {
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      bodies.push(`${r.method} ${r.body.toString()}`);
      socket.write(ok('done'));
    }
  });
  const agent = new Agent();
  // The socket dies between the liveness turn and the write (published just before writing).
  const ch = diagnostics.channel('holdfast:client:connection:reused');
  let killed = 0;
  const kill = (m: unknown): void => {
    if (killed++ === 0) (m as { socket: net.Socket }).socket.destroy();
  };
  ch.subscribe(kill);
  t.after(async () => { ch.unsubscribe(kill); await agent.destroy(); await peer.close(); });
  await (await agent.request(`${peer.url}/a`)).body.text();
  const res = await agent.request(`${peer.url}/b`, { method: 'POST', body: 'once' });
  assert.equal(await res.body.text(), 'done');
  assert.equal(res.attempts, 2);
  assert.equal(killed, 1);
  assert.deepEqual(bodies, ['GET ', 'POST once'], 'the POST reached the server exactly once');
  assert.equal(peer.connections, 2);
});

for (const livenessCheck of [true, false]) {
  test(`a server restarting on the same port between requests: zero failures over 300 restarts (liveness turn ${livenessCheck ? 'on' : 'off: retries alone'})`, async (t) => {
    const agent = new Agent({ livenessCheck });
    t.after(() => agent.destroy());
    let port = 0;
    let failures = 0;
    let retried = 0;
    const deadline = Date.now() + 30_000;
    let i = 0;
    for (; i < 300 && Date.now() < deadline; i++) {
      const server = http.createServer((_req, res) => res.end('hi'));
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      port = (server.address() as net.AddressInfo).port;
      try {
        const res = await agent.request(`http://127.0.0.1:${port}/`);
        assert.equal(await res.body.text(), 'hi');
        if (res.attempts > 1) retried++;
      } catch (err) {
        failures++;
        t.diagnostic(`restart ${i}: ${String(err)}`);
      }
      // Stop (not waiting for anything): the pooled connection to this process is now dead,
      // and the next iteration starts a new process on the same port at once.
      server.closeAllConnections();
      server.close();
    }
    t.diagnostic(`${i} restarts, ${retried} needed a retry, ${failures} failures`);
    assert.equal(i, 300);
    assert.equal(failures, 0);
    if (livenessCheck) {
      // The FIN of the stopped process was in the kernel before every request: the turn saw it
      // every time, evicted the dead connection, and no request was written to it.
      assert.equal(retried, 0, 'with the liveness turn no request needed a retry');
    } else {
      // Without the turn the same sequence writes into the dead connection: the race is real
      // here, and only the retry saves the GET.
      assert.ok(retried > 0, 'without the turn the restarts do race');
    }
  });
}

for (const livenessCheck of [true, false]) {
  test(`a POST without Idempotency-Key across 100 server restarts (liveness turn ${livenessCheck ? 'on: all succeed' : 'off: the race is lost'})`, async (t) => {
    // A POST written into the dead connection cannot be retried (it may have been processed):
    // it succeeds only because the turn notices the old process's FIN before writing.
    const agent = new Agent({ livenessCheck });
    t.after(() => agent.destroy());
    let port = 0;
    const failures: ClientError[] = [];
    let bodies = 0;
    for (let i = 0; i < 100; i++) {
      const server = http.createServer((req, res) => {
        let n = 0;
        req.on('data', (c: Buffer) => { n += c.length; });
        req.on('end', () => { bodies++; res.end(`got ${n}`); });
      });
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      port = (server.address() as net.AddressInfo).port;
      try {
        const res = await agent.request(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'once' });
        assert.equal(await res.body.text(), 'got 4');
        assert.equal(res.attempts, 1);
      } catch (err) {
        assert.ok(err instanceof ClientError, String(err));
        failures.push(err);
      }
      server.closeAllConnections();
      server.close();
    }
    t.diagnostic(`${failures.length} of 100 POSTs failed`);
    if (livenessCheck) {
      assert.deepEqual(failures.map(String), []);
      assert.equal(bodies, 100, 'every POST reached a server exactly once');
    } else {
      assert.ok(failures.length > 0, 'without the turn the POST meets the dead connection');
      for (const err of failures) {
        assert.equal(err.code, 'HF_STALE_CONNECTION');
        assert.equal(err.mayHaveBeenProcessed, true);
      }
    }
  });
}

test('a fresh connection is written to at once, without the liveness turn; a reused one waits for it', async (t) => {
  const peer = await keepAlivePeer('');
  const agent = new Agent();
  const sockets: net.Socket[] = [];
  // An immediate queued when the connection is created runs before the turn's first immediate
  // would: if the fresh connection took the turn, nothing would be written yet. Timing-free.
  const writtenAtImmediate: number[] = [];
  const ch = diagnostics.channel('holdfast:client:connection:created');
  const onCreated = (m: unknown): void => {
    const socket = (m as { socket: net.Socket }).socket;
    sockets.push(socket);
    setImmediate(() => writtenAtImmediate.push(socket.bytesWritten));
  };
  ch.subscribe(onCreated);
  t.after(async () => { ch.unsubscribe(onCreated); await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 0');
  assert.equal(writtenAtImmediate.length, 1);
  assert.ok(writtenAtImmediate[0]! > 0, 'the request was on the socket before the event loop turned');
  // The control: on the reused connection the same observation sees nothing written yet (the
  // request waits for the poll phase the turn gives pending socket events).
  const sock = sockets[0]!;
  const before = sock.bytesWritten;
  const seenReused: number[] = [];
  const p = agent.request(peer.url);
  setImmediate(() => seenReused.push(sock.bytesWritten - before));
  const res = await p;
  assert.equal(await res.body.text(), 'conn 0');
  assert.equal(res.reusedConnection, true);
  assert.deepEqual(seenReused, [0]);
  assert.equal(sockets.length, 1);
});

test('an unsolicited 408 on an idle connection evicts it: the next request uses a fresh connection', async (t) => {
  // Opened once the first exchange is over, so the 408 reaches a connection idle in the pool.
  const pooled = gate();
  const peer = await scriptedPeer(async (socket, reader, index) => {
    const r = await reader.next();
    if (r === null) return;
    socket.write(ok(`conn ${index}`));
    if (index === 0) {
      await pooled.opened;
      socket.write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      // and keeps the socket open: only the bytes tell.
      await reader.next();
    }
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const closed = nextEvent<{ reason: string }>('holdfast:client:connection:closed', (m) => m.reason === 'unsolicited-data');
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 0');
  pooled.open();
  await closed;
  const res = await agent.request(peer.url);
  assert.equal(res.status, 200);
  assert.equal(await res.body.text(), 'conn 1');
  assert.equal(res.reusedConnection, false);
});

/**
 * Connection 0 serves one request, then answers the next with `answer` (a 408 crossing the
 * request) and, if `close`, closes; later connections serve normally.
 */
async function answer408OnSecond(answer: string, close: boolean) {
  const bodies: string[] = [];
  const peer = await scriptedPeer(async (socket, reader, index) => {
    if (index === 0) {
      const r2 = await serveFirstThenRead(socket, reader);
      if (r2 === null) return;
      bodies.push(`${index} ${r2.method} ${r2.body.toString()}`);
      if (close) socket.end(answer);
      else socket.write(answer);
    }
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      bodies.push(`${index} ${r.method} ${r.body.toString()}`);
      socket.write(ok(`fresh ${r.method}`));
    }
  });
  return { peer, bodies };
}

const TIMEOUT_408_CLOSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
const TIMEOUT_408_KEEP = 'HTTP/1.1 408 Request Timeout\r\nContent-Length: 7\r\n\r\ntimeout';

for (const [name, answer] of [['Connection: close', TIMEOUT_408_CLOSE], ['EOF right after it', TIMEOUT_408_KEEP]] as const) {
  test(`a 408 crossing a GET on a reused connection (${name}) is the race: retried on a fresh connection`, async (t) => {
    const { peer } = await answer408OnSecond(answer, true);
    const agent = new Agent();
    t.after(async () => { await agent.destroy(); await peer.close(); });
    assert.equal(await (await agent.request(`${peer.url}/a`)).body.text(), 'first');
    const res = await agent.request(`${peer.url}/b`);
    assert.equal(res.status, 200);
    assert.equal(await res.body.text(), 'fresh GET');
    assert.equal(res.attempts, 2);
    assert.equal(res.reusedConnection, false);
    assert.equal(peer.connections, 2);
  });

  test(`a 408 crossing a POST on a reused connection (${name}) fails as stale, may have been processed`, async (t) => {
    const { peer, bodies } = await answer408OnSecond(answer, true);
    const agent = new Agent();
    t.after(async () => { await agent.destroy(); await peer.close(); });
    await (await agent.request(`${peer.url}/a`)).body.text();
    await assert.rejects(agent.request(`${peer.url}/b`, { method: 'POST', body: 'x' }), (err: unknown) => {
      assert.ok(err instanceof StaleConnectionError, String(err));
      assert.equal(err.mayHaveBeenProcessed, true);
      assert.equal(err.phase, 'headers');
      return true;
    });
    assert.equal(peer.connections, 1, 'never replayed');
    assert.deepEqual(bodies, ['0 POST x']);
  });
}

test('a 408 on a reused connection the server keeps open is the answer: delivered, not retried', async (t) => {
  const { peer } = await answer408OnSecond(TIMEOUT_408_KEEP, false);
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  await (await agent.request(`${peer.url}/a`)).body.text();
  const res = await agent.request(`${peer.url}/b`);
  assert.equal(res.status, 408);
  assert.equal(await res.body.text(), 'timeout');
  assert.equal(res.attempts, 1);
  assert.equal(res.reusedConnection, true);
  assert.equal(peer.connections, 1);
});

test('a 408 with Connection: close on a fresh connection is the answer: delivered, not retried', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    if ((await reader.next()) === null) return;
    socket.end(TIMEOUT_408_CLOSE);
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const res = await agent.request(peer.url);
  assert.equal(res.status, 408);
  assert.equal(res.attempts, 1);
  assert.equal(peer.connections, 1);
});

test('stray bytes right behind a response in the same segment retire the connection', async (t) => {
  const peer = await scriptedPeer(async (socket, reader, index) => {
    const r = await reader.next();
    if (r === null) return;
    socket.write(ok(`conn ${index}`) + (index === 0 ? 'HTTP/1.1 408 Req' : ''));
    await reader.next();
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 0');
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 1');
});

test('FIN on an idle connection evicts it at once', async (t) => {
  // Opened once the connection is idle in the pool: the FIN then reaches an idle connection.
  const pooled = gate();
  const peer = await scriptedPeer(async (socket, reader) => {
    const r = await reader.next();
    if (r === null) return;
    socket.write(ok());
    await pooled.opened;
    socket.end();
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  const closed = nextEvent<{ reason: string }>('holdfast:client:connection:closed');
  await (await agent.request(peer.url)).body.text();
  assert.equal(agent.pool(`http://127.0.0.1:${peer.port}`)!.idleCount, 1);
  pooled.open();
  assert.equal((await closed).reason, 'peer-closed');
  assert.equal(agent.pool(`http://127.0.0.1:${peer.port}`)!.idleCount, 0);
});

for (const framing of ['content-length', 'chunked', 'reset'] as const) {
  test(`a truncated body (${framing}) is an error on the body, never a normal end`, async (t) => {
    const peer = await scriptedPeer(async (socket, reader) => {
      if ((await reader.next()) === null) return;
      if (framing === 'chunked') socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(50));
      // Let the client read the head first: a RST makes the kernel drop what it has not read.
      await sleep(20);
      if (framing === 'reset') socket.resetAndDestroy();
      else socket.end();
    });
    const agent = new Agent();
    t.after(async () => { await agent.destroy(); await peer.close(); });
    const res = await agent.request(peer.url);
    assert.equal(res.status, 200);
    await assert.rejects(res.body.text(), (err: unknown) => {
      assert.ok(err instanceof TruncatedBodyError, String(err));
      assert.equal(err.code, 'HF_TRUNCATED_BODY');
      assert.equal(err.phase, 'body');
      return true;
    });
    // Also through async iteration.
    const again = await agent.request(peer.url);
    const seen: number[] = [];
    await assert.rejects((async () => { for await (const c of again.body) seen.push(c.length); })(), { code: 'HF_TRUNCATED_BODY' });
    assert.ok(seen.length > 0);
  });
}

test('a close-delimited body ends normally at FIN', async (t) => {
  const peer = await scriptedPeer(async (socket, reader) => {
    if ((await reader.next()) === null) return;
    socket.end('HTTP/1.1 200 OK\r\n\r\nuntil close');
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'until close');
});

/** Counts connections; answers every request with `extra` header lines. */
async function keepAlivePeer(extra: string) {
  return scriptedPeer(async (socket, reader, index) => {
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      socket.write(ok(`conn ${index}`, extra));
    }
  });
}

test('Keep-Alive: timeout=1 with the default 1 s margin: never reused', async (t) => {
  const peer = await keepAlivePeer('Keep-Alive: timeout=1\r\n');
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 0');
  const b = await agent.request(peer.url);
  assert.equal(await b.body.text(), 'conn 1');
  assert.equal(b.reusedConnection, false);
});

test('Keep-Alive: timeout=1 with a 200 ms margin: reused at once, not after the hint expires', async (t) => {
  const peer = await keepAlivePeer('Keep-Alive: timeout=1, max=50\r\n');
  const agent = new Agent({ keepAliveMargin: 200 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 0');
  const b = await agent.request(peer.url);
  assert.equal(await b.body.text(), 'conn 0');
  assert.equal(b.reusedConnection, true);
  // Idling past the hint minus the margin is the subject.
  await sleep(850);
  const c = await agent.request(peer.url);
  assert.equal(await c.body.text(), 'conn 1');
  assert.equal(c.reusedConnection, false);
});

test('without a hint the idle timeout applies', async (t) => {
  const peer = await keepAlivePeer('');
  const agent = new Agent({ idleTimeout: 200 });
  t.after(async () => { await agent.destroy(); await peer.close(); });
  await (await agent.request(peer.url)).body.text();
  assert.equal((await agent.request(peer.url)).reusedConnection, true);
  // Idling past the idle timeout is the subject.
  await sleep(300);
  const c = await agent.request(peer.url);
  assert.equal(await c.body.text(), 'conn 1');
});

test('idle lifetime: 4 s by default without a hint; hint minus the 1 s margin with one', async (t) => {
  const plain = await keepAlivePeer('');
  const hinted = await keepAlivePeer('Keep-Alive: timeout=10\r\n');
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await plain.close(); await hinted.close(); });
  // The deadline is set when the response completes, which lies between these two readings:
  // bounds that hold however slow the machine is, without a fake clock.
  for (const [peer, lifetime] of [[plain, 4000], [hinted, 9000]] as const) {
    const before = performance.now();
    await (await agent.request(peer.url)).body.text();
    const after = performance.now();
    const idle = agent.pool(`http://127.0.0.1:${peer.port}`)!.idleConnections;
    assert.equal(idle.length, 1);
    const deadline = idle[0]!.idleDeadline;
    assert.ok(deadline >= before + lifetime && deadline <= after + lifetime, `${deadline - before} ms after the request, ${lifetime} expected`);
  }
});

test('Connection: close is honoured', async (t) => {
  const peer = await keepAlivePeer('Connection: close\r\n');
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 0');
  const b = await agent.request(peer.url);
  assert.equal(await b.body.text(), 'conn 1');
  assert.equal(b.attempts, 1);
});

test('Keep-Alive max=0 means not reused', async (t) => {
  const peer = await keepAlivePeer('Keep-Alive: timeout=30, max=0\r\n');
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  await (await agent.request(peer.url)).body.text();
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 1');
});

test('closeIdle(): the next request opens a new connection; one in flight is closed when it ends', async (t) => {
  const arrived = gate();
  const release = gate();
  const peer = await scriptedPeer(async (socket, reader, index) => {
    for (;;) {
      const r = await reader.next();
      if (r === null) return;
      if (r.target === '/slow') {
        arrived.open();
        await release.opened;
      }
      socket.write(ok(`conn ${index}`));
    }
  });
  const agent = new Agent();
  t.after(async () => { await agent.destroy(); await peer.close(); });
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 0');
  agent.closeIdle();
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 1');
  // Go semantics: a connection that becomes idle after closeIdle() (before the next checkout)
  // is closed instead of pooled.
  const slow = agent.request(`${peer.url}/slow`);
  await arrived.opened;
  agent.closeIdle();
  const closed = nextEvent<{ reason: string }>('holdfast:client:connection:closed', (m) => m.reason === 'close-idle');
  release.open();
  assert.equal(await (await slow).body.text(), 'conn 1');
  await closed;
  assert.equal(await (await agent.request(peer.url)).body.text(), 'conn 2');
});

test('errors are ClientErrors with phase and mayHaveBeenProcessed: connect refused', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  const agent = new Agent();
  await assert.rejects(agent.request(`http://127.0.0.1:${port}/`), (err: unknown) => {
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'HF_CONNECT');
    assert.equal(err.phase, 'connect');
    assert.equal(err.mayHaveBeenProcessed, false);
    return true;
  });
  await agent.destroy();
});
