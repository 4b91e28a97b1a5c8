/**
 * Helpers for the proxy tests: real backends started by the test (Python's HTTPServer, Django's
 * runserver, node:http origins), raw sockets, curl, and a proxy on a random loopback port.
 * Everything started here is stopped by PID / handle in `t.after`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { createProxy, type ReverseProxy, type ReverseProxyOptions } from '../../src/proxy/index.ts';
import { stopChild } from '../../src/lab/child.ts';

export const PYTHON = '/usr/bin/python3';
export const CURL = '/usr/bin/curl';
const here = dirname(fileURLToPath(import.meta.url));
export const BACKEND_PY = join(here, 'fixtures', 'backend.py');

/** A child process that printed `READY <port>`. */
export interface Backend {
  port: number;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the Python fixture backend (single-threaded unless `threaded`). */
export async function startPython(t: TestContext, options: { threaded?: boolean } = {}): Promise<Backend> {
  const args = [BACKEND_PY];
  if (options.threaded === true) args.push('--threaded');
  const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  const stop = (): Promise<void> => stopChild(child);
  t.after(stop);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`python backend did not start: ${err}`)), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`python backend exited ${code}: ${err}`));
    });
  });
  return { port, url: `http://127.0.0.1:${port}`, child, stop };
}

export { freePort, stopChild, waitForPort } from '../../src/lab/child.ts';

/** One request straight to a backend on its own connection (`Connection: close`, no pooling). */
export function directRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', agent: false, headers: { connection: 'close', ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The Python fixture's request log. */
export interface LogEntry {
  method: string;
  target: string;
  bodyLength: number;
  headers: Array<[string, string]>;
}

export async function backendLog(backend: Backend): Promise<LogEntry[]> {
  const r = await directRequest(`${backend.url}/__log`);
  return JSON.parse(r.body.toString()) as LogEntry[];
}

/** Runs curl; resolves with its exit code and output (curl's own `--max-time` bounds it). */
export function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CURL, ['--silent', '--show-error', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Opens a TCP connection that sends nothing (a browser's preconnect). */
export async function preconnect(t: TestContext, port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  t.after(() => s.destroy());
  return s;
}

/**
 * Sends raw bytes and collects the answer until the peer closes or `idleMs` pass without data.
 */
export function rawExchange(port: number, bytes: string | Buffer, idleMs = 1500): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = '';
    let timer: NodeJS.Timeout | null = null;
    const done = (closed: boolean): void => {
      if (timer !== null) clearTimeout(timer);
      s.destroy();
      resolve({ data, closed });
    };
    const arm = (): void => {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => done(false), idleMs);
    };
    s.on('connect', () => {
      s.write(bytes);
      arm();
    });
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      arm();
    });
    s.on('end', () => done(true));
    s.on('error', () => done(true));
  });
}

/** Starts a proxy on 127.0.0.1:0; closed after the test. */
export async function startProxy(t: TestContext, options: ReverseProxyOptions): Promise<ReverseProxy> {
  const proxy = createProxy({ server: { onError: () => {} }, ...options });
  await proxy.listen(0, '127.0.0.1');
  t.after(() => proxy.close({ timeout: 1000 }));
  return proxy;
}

/** A node:http origin on 127.0.0.1:0; closed after the test. Tracks open and in-flight counts. */
export interface NodeOrigin {
  url: string;
  port: number;
  server: http.Server;
  /** Requests seen, in order. */
  seen: Array<{ method: string; url: string; rawHeaders: string[]; body: Buffer }>;
  openConnections: number;
  maxOpenConnections: number;
  inFlight: number;
  maxInFlight: number;
}

export async function startOrigin(
  t: TestContext,
  handler: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, n: number) => unknown,
  options: { readBody?: boolean } = {},
): Promise<NodeOrigin> {
  const origin: NodeOrigin = { url: '', port: 0, server: null as unknown as http.Server, seen: [], openConnections: 0, maxOpenConnections: 0, inFlight: 0, maxInFlight: 0 };
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    origin.inFlight++;
    origin.maxInFlight = Math.max(origin.maxInFlight, origin.inFlight);
    res.on('close', () => origin.inFlight--);
    const chunks: Buffer[] = [];
    const run = (): void => {
      const body = Buffer.concat(chunks);
      const n = origin.seen.length;
      origin.seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body });
      void Promise.resolve(handler(req, res, body, n)).catch((err: unknown) => {
        res.destroy(err as Error);
      });
    };
    if (options.readBody === false) run();
    else {
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', run);
    }
  });
  server.on('connection', (s: net.Socket) => {
    origin.openConnections++;
    origin.maxOpenConnections = Math.max(origin.maxOpenConnections, origin.openConnections);
    s.on('close', () => origin.openConnections--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin.port = (server.address() as net.AddressInfo).port;
  origin.url = `http://127.0.0.1:${origin.port}`;
  origin.server = server;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return origin;
}

/** Header pairs from a flat raw header array, names lower-cased. */
export function headerPairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

/** A temp dir removed after the test. */
export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes files into `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/**
 * A listener that never accepts, with its accept queue filled by connections of our own. Linux
 * drops a SYN when the accept queue of the listener is full (it does not answer RST), so a
 * further connect neither succeeds nor fails: it hangs until the connector gives up — exactly an
 * unreachable backend, deterministic on loopback. Python, because node:net always accepts.
 */
export async function blackHole(t: TestContext): Promise<number> {
  const script = [
    'import socket, sys, time',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    "print('READY', s.getsockname()[1], flush=True)",
    'sys.stdin.read()', // until the test closes our stdin (or stopChild signals us)
  ].join('\n');
  const child = spawn(PYTHON, ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => stopChild(child));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`black hole exited ${code}`)));
  });
  // Fill the queue: connect until a connect does not complete within 300 ms (bounded tries).
  for (let i = 0; i < 64; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    t.after(() => s.destroy());
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 300);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) return port;
  }
  throw new Error('could not fill the accept queue of the black hole listener');
}
