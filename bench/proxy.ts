/**
 * Proxy throughput with `wrk`: requests per second straight to a node:http backend, through the
 * holdfast proxy (no cache), and cache hits through the holdfast proxy (memory and SQLite
 * stores); nginx (`proxy_pass` with upstream keep-alive, and `proxy_cache` hits) beside it as a
 * reference when /usr/sbin/nginx exists, and a raw `net` byte relay (no HTTP) as the ceiling of any
 * proxy on Node's sockets. Each row also gives the CPU time per request of the process wrk talks
 * to (the proxy; the backend on the direct row). Every server runs in its own process (the
 * backend, the proxy, nginx, wrk), so on a 2-core machine they compete for the same cores: ratios
 * and CPU per request matter more than absolute figures. Last, on all cores: `holdfast proxy --workers 2` (the command line, as an
 * operator starts it) beside nginx with two worker processes.
 *
 * Run alone: `npx node bench/proxy.ts` (or `npm run bench -- proxy`). About 60 s.
 * `HOLDFAST_BENCH_PROXY_SECONDS` (default 4) and `HOLDFAST_BENCH_PROXY_CONNECTIONS` (default 50)
 * override the wrk run length and connection count.
 *
 * This file is also the proxy child process: `node bench/proxy.ts --child-proxy <json>`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NGINX, freePort, startNginx, stopChild, type NginxInstance } from '../src/lab/child.ts';
import { cpuMicros } from './_cpu.ts';

const WRK = '/usr/bin/wrk';
const SECONDS = Number(process.env['HOLDFAST_BENCH_PROXY_SECONDS'] ?? 4);
const CONNECTIONS = Number(process.env['HOLDFAST_BENCH_PROXY_CONNECTIONS'] ?? 50);
const SELF = fileURLToPath(import.meta.url);
const CLI = fileURLToPath(new URL('../src/cli/proxy.ts', import.meta.url));

const BACKEND = `
const http = require('node:http');
const body = Buffer.from('hello from the backend, a small response body\\n');
const s = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.setHeader('cache-control', req.url.startsWith('/cached') ? 'max-age=3600' : 'no-store');
  res.setHeader('content-length', body.length);
  res.end(body);
});
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write('READY ' + s.address().port + '\\n'));
`;

interface ChildConfig {
  upstream: string;
  cache: 'none' | 'memory' | 'sqlite';
  dir?: string;
}

/** The proxy child: a holdfast proxy with the given cache, printing READY <port>. */
async function childProxy(config: ChildConfig): Promise<void> {
  const { createProxy } = await import('../src/proxy/index.ts');
  const { MemoryStore, SqliteStore } = await import('../src/cache/index.ts');
  const store = config.cache === 'memory' ? new MemoryStore() : config.cache === 'sqlite' ? new SqliteStore({ directory: config.dir! }) : null;
  const proxy = createProxy({ upstreams: [config.upstream], cache: store });
  const a = await proxy.listen(0, '127.0.0.1');
  process.stdout.write(`READY ${a.port}\n`);
  process.on('SIGTERM', () => {
    void proxy.close({ timeout: 500 }).then(() => store?.close()).then(() => process.exit(0));
  });
}

/**
 * The relay child: raw `net`, each client connection paired with its own upstream connection and
 * bytes copied both ways, no HTTP at all. No Node proxy can do less per request, so its row is the
 * ceiling for any proxy written on Node's sockets, as the raw `net` row is for servers.
 */
async function childRelay(upstreamPort: number): Promise<void> {
  const { createServer, connect } = await import('node:net');
  const server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = connect(upstreamPort, '127.0.0.1');
    upstream.setNoDelay(true);
    client.on('data', (d: Buffer) => upstream.write(d));
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`READY ${typeof a === 'object' && a !== null ? a.port : 0}\n`);
  });
}

/** Starts a child and waits for `READY <port>` on its stdout. */
function startChild(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`child ${args.join(' ')} did not start`)), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited ${code}`));
    });
  });
}

/**
 * `holdfast proxy --workers N` as an operator starts it (the CLI, node:cluster); resolves once it
 * printed its listening line.
 */
async function startCliProxy(upstream: string, workers: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, '--listen', `127.0.0.1:${port}`, '--upstream', upstream, '--workers', String(workers), '--shutdown-timeout', '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('holdfast proxy did not start')), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/listening on/.test(out)) {
        clearTimeout(timer);
        resolve({ child, port });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`holdfast proxy exited ${code}: ${out}`));
    });
  });
}

/** nginx as a reverse proxy (upstream keep-alive) with a proxy_cache on /cached. */
function startNginxProxy(backendPort: number, workers = 1): Promise<NginxInstance> {
  return startNginx((port, dir) => `
  proxy_cache_path ${dir}/cache keys_zone=bench:1m;
  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      location /cached { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache bench; }
    }
  }`, { workers });
}

interface WrkResult {
  rps: number;
  /** CPU µs (user + system) the measured proxy process used per request; NaN when not measured. */
  cpuMicrosPerRequest: number;
  latencyMs: number;
  requests: number;
  errors: number;
}

function parseDuration(s: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(s);
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/**
 * Runs wrk against `url` (a short warm-up first) and parses its summary; `pid` is the process in
 * the middle (the proxy), whose CPU time per request is measured over the main run.
 */
function wrk(url: string, pid?: number): WrkResult {
  spawnSync(WRK, ['-t1', `-c${CONNECTIONS}`, '-d1s', url], { encoding: 'utf8', timeout: 20_000 });
  const before = cpuMicros(pid);
  const r = spawnSync(WRK, ['-t2', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', url], { encoding: 'utf8', timeout: (SECONDS + 20) * 1000 });
  const out = r.stdout ?? '';
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const latency = parseDuration(/Latency\s+(\S+)/.exec(out)?.[1] ?? '');
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const cpuMicrosPerRequest = (cpuMicros(pid) - before) / requests;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock === null ? 0 : Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]));
  if (!Number.isFinite(rps)) throw new Error(`wrk failed: ${out} ${r.stderr ?? ''}`);
  return { rps, cpuMicrosPerRequest, latencyMs: latency, requests, errors };
}

/** Runs the benchmark; prints a table and returns the figures. */
export async function run(): Promise<unknown> {
  if (!existsSync(WRK)) {
    process.stdout.write(`skipped: ${WRK} not found\n`);
    return { skipped: 'wrk not found' };
  }
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const rows: Array<{ name: string } & WrkResult & { ratio: number }> = [];
  try {
    const backend = await startChild(['-e', BACKEND]);
    children.push(backend.child);
    const upstream = `http://127.0.0.1:${backend.port}`;
    const direct = wrk(`${upstream}/plain`, backend.child.pid);
    rows.push({ name: 'direct to backend', ...direct, ratio: 1 });
    const add = (name: string, r: WrkResult): void => {
      rows.push({ name, ...r, ratio: r.rps / direct.rps });
    };

    const plain = await startChild([SELF, '--child-proxy', JSON.stringify({ upstream, cache: 'none' } satisfies ChildConfig)]);
    children.push(plain.child);
    add('holdfast proxy (no cache)', wrk(`http://127.0.0.1:${plain.port}/plain`, plain.child.pid));
    await stopChild(plain.child);

    const relay = await startChild([SELF, '--child-relay', String(backend.port)]);
    children.push(relay.child);
    add('raw net relay, no HTTP (Node ceiling)', wrk(`http://127.0.0.1:${relay.port}/plain`, relay.child.pid));
    await stopChild(relay.child);

    const mem = await startChild([SELF, '--child-proxy', JSON.stringify({ upstream, cache: 'memory' } satisfies ChildConfig)]);
    children.push(mem.child);
    add('holdfast proxy, cache hit (memory)', wrk(`http://127.0.0.1:${mem.port}/cached`, mem.child.pid));
    await stopChild(mem.child);

    const dir = mkdtempSync(join(tmpdir(), 'hf-bench-proxy-'));
    dirs.push(dir);
    const sql = await startChild([SELF, '--child-proxy', JSON.stringify({ upstream, cache: 'sqlite', dir } satisfies ChildConfig)]);
    children.push(sql.child);
    add('holdfast proxy, cache hit (SQLite)', wrk(`http://127.0.0.1:${sql.port}/cached`, sql.child.pid));
    await stopChild(sql.child);

    if (existsSync(NGINX)) {
      const nginx = await startNginxProxy(backend.port);
      try {
        add('nginx proxy_pass (reference)', wrk(`http://127.0.0.1:${nginx.port}/plain`, nginx.child.pid));
        add('nginx proxy_cache hit (reference)', wrk(`http://127.0.0.1:${nginx.port}/cached`, nginx.child.pid));
      } finally {
        await nginx.stop();
      }
    }

    // Side by side on all cores: the CLI with two workers against nginx with two workers.
    const two = await startCliProxy(upstream, 2);
    children.push(two.child);
    add('holdfast proxy --workers 2 (no cache)', wrk(`http://127.0.0.1:${two.port}/plain`, two.child.pid));
    await stopChild(two.child);
    if (existsSync(NGINX)) {
      const nginx2 = await startNginxProxy(backend.port, 2);
      try {
        add('nginx 2 workers proxy_pass (reference)', wrk(`http://127.0.0.1:${nginx2.port}/plain`, nginx2.child.pid));
      } finally {
        await nginx2.stop();
      }
    }
  } finally {
    for (const c of children) await stopChild(c);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const pad = (s: string, n: number): string => s.padEnd(n);
  let table = `wrk -t2 -c${CONNECTIONS} -d${SECONDS}s, small GET (46 B body), keep-alive; ratio = req/s ÷ direct\n`;
  table += `${pad('path', 40)} ${'req/s'.padStart(9)} ${'ratio'.padStart(6)} ${'CPU µs/req'.padStart(11)} ${'avg latency'.padStart(12)} ${'errors'.padStart(7)}\n`;
  for (const r of rows) {
    const cpu = Number.isFinite(r.cpuMicrosPerRequest) ? r.cpuMicrosPerRequest.toFixed(1) : '–';
    table += `${pad(r.name, 40)} ${r.rps.toFixed(0).padStart(9)} ${r.ratio.toFixed(2).padStart(6)} ${cpu.padStart(11)} ${`${r.latencyMs.toFixed(2)} ms`.padStart(12)} ${String(r.errors).padStart(7)}\n`;
  }
  // The goal ratios, stated outright: holdfast over nginx, one process each side (no cache:
  // `proxy_pass` with one worker; memory-cache hit: `proxy_cache` hit), and on all cores.
  const rps = (name: string): number | undefined => rows.find((r) => r.name === name)?.rps;
  const versus: Array<{ name: string; ratio: number }> = [];
  const compare = (name: string, ours: string, theirs: string): void => {
    const a = rps(ours);
    const b = rps(theirs);
    if (a !== undefined && b !== undefined && b > 0) versus.push({ name, ratio: a / b });
  };
  compare('holdfast proxy ÷ nginx proxy_pass (1 worker), no cache', 'holdfast proxy (no cache)', 'nginx proxy_pass (reference)');
  compare('raw net relay ÷ nginx proxy_pass (the ceiling of a Node proxy)', 'raw net relay, no HTTP (Node ceiling)', 'nginx proxy_pass (reference)');
  compare('holdfast proxy ÷ raw net relay, no cache', 'holdfast proxy (no cache)', 'raw net relay, no HTTP (Node ceiling)');
  compare('holdfast memory-cache hit ÷ nginx proxy_cache hit', 'holdfast proxy, cache hit (memory)', 'nginx proxy_cache hit (reference)');
  compare('holdfast --workers 2 ÷ nginx 2 workers, no cache', 'holdfast proxy --workers 2 (no cache)', 'nginx 2 workers proxy_pass (reference)');
  for (const v of versus) table += `${pad(v.name, 58)} ${v.ratio.toFixed(2).padStart(6)}\n`;
  process.stdout.write(table);
  return { tool: 'wrk', seconds: SECONDS, connections: CONNECTIONS, rows, versusNginx: versus };
}

if (import.meta.main) {
  const i = process.argv.indexOf('--child-proxy');
  const j = process.argv.indexOf('--child-relay');
  if (i !== -1) await childProxy(JSON.parse(process.argv[i + 1]!) as ChildConfig);
  else if (j !== -1) await childRelay(Number(process.argv[j + 1]));
  else await run();
}
