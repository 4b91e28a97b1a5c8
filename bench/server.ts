/**
 * Server throughput: the same four handlers (hello world, 1 KiB JSON, 64 KiB body, 1 KiB POST
 * echo) on holdfast (`serve({ fetch })` at its defaults, the same with the platform's
 * `Response`, the streaming API), on node:http, and the same fetch handler on @hono/node-server
 * (at its defaults, and with the platform `Response`), plus a raw `net` server writing canned
 * responses (the ceiling no Node HTTP server can pass). Each server runs in its own process;
 * load comes from `wrk` (2 threads, 50 connections, short runs) on loopback, in interleaved
 * rounds (best kept).
 *
 * Besides requests/s, each cell reports the server process's CPU time per request (user +
 * system, from /proc, median of the rounds): on a shared machine it moves far less than
 * requests/s, which also measure whatever else runs.
 *
 * Run alone: `npx node bench/server.ts` (env BENCH_SECONDS to change the run length).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicros } from './_cpu.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const SERVERS = (process.env['BENCH_SERVERS']?.split(',') ?? ['holdfast-fetch', 'hono-node', 'node-http', 'holdfast-fetch-platform', 'hono-node-platform', 'holdfast-stream', 'raw-net']) as readonly string[];
const LABELS: Record<string, string> = {
  'holdfast-fetch': 'holdfast serve({fetch}) defaults',
  'hono-node': '@hono/node-server defaults',
  'node-http': 'node:http',
  'holdfast-fetch-platform': 'holdfast fetch, platform Response',
  'hono-node-platform': '@hono/node-server, platform Response',
  'holdfast-stream': 'holdfast streaming API',
  'raw-net': 'raw net (ceiling)',
};
const label = (kind: string): string => LABELS[kind] ?? kind;
const ROUTES = [
  { name: 'hello', path: '/hello', post: false },
  { name: 'json-1k', path: '/json', post: false },
  { name: 'body-64k', path: '/64k', post: false },
  { name: 'post-echo-1k', path: '/echo', post: true },
] as const;

async function startTarget(kind: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(here, '_server-target.ts'), kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${kind} did not start`)), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
  return { child, port };
}

function wrk(url: string, script: string | null, seconds = SECONDS): { rps: number; requests: number; errors: string | null } {
  const args = ['-t2', '-c50', `-d${seconds}s`];
  if (script !== null) args.push('-s', script);
  args.push(url);
  const out = execFileSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const errors = /Socket errors:[^\n]*|Non-2xx[^\n]*/.exec(out)?.[0] ?? null;
  return { rps, requests, errors };
}

export async function run(): Promise<object> {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 but runs; only ENOENT means absent.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stdout.write('wrk not installed: skipping\n');
      return { skipped: 'wrk not installed' };
    }
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'hf-bench-'));
  const postScript = path.join(dir, 'post.lua');
  writeFileSync(postScript, `wrk.method = "POST"\nwrk.body = string.rep("a", 1024)\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  const results: Record<string, Record<string, number | null>> = {};
  const cpuRounds: Record<string, Record<string, number[]>> = {};
  const notes: string[] = [];
  const targets: { kind: string; child: ChildProcess; port: number }[] = [];
  try {
    for (const kind of SERVERS) targets.push({ kind, ...(await startTarget(kind)) });
    // Warm-up: the JIT sees the connection loop before measuring.
    for (const t of targets) {
      wrk(`http://127.0.0.1:${t.port}/json`, null, 1);
      results[t.kind] = {};
      cpuRounds[t.kind] = {};
    }
    // Rounds interleave the servers, so a burst of load from elsewhere on the machine hits them
    // all alike; the best round of each is kept.
    for (const route of ROUTES) {
      for (let round = 0; round < ROUNDS; round++) {
        for (const t of targets) {
          if (t.kind === 'raw-net' && route.post) {
            results[t.kind]![route.name] = null;
            continue;
          }
          const before = cpuMicros(t.child.pid);
          const r = wrk(`http://127.0.0.1:${t.port}${route.path}`, route.post ? postScript : null);
          const cpu = (cpuMicros(t.child.pid) - before) / r.requests;
          results[t.kind]![route.name] = Math.max(results[t.kind]![route.name] ?? 0, Math.round(r.rps));
          (cpuRounds[t.kind]![route.name] ??= []).push(cpu);
          if (r.errors !== null) notes.push(`${t.kind} ${route.name}: ${r.errors}`);
        }
      }
    }
  } finally {
    for (const t of targets) t.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  const cpuPerRequest: Record<string, Record<string, number | null>> = {};
  for (const kind of SERVERS) {
    cpuPerRequest[kind] = {};
    for (const route of ROUTES) {
      const xs = (cpuRounds[kind]![route.name] ?? []).filter(Number.isFinite).sort((a, b) => a - b);
      cpuPerRequest[kind][route.name] = xs.length === 0 ? null : Math.round(xs[Math.floor(xs.length / 2)]! * 10) / 10;
    }
  }
  // The goals: holdfast's defaults against @hono/node-server's defaults and node:http; the
  // platform-Response rows are the reference (same Response on both servers).
  const pairs: ReadonlyArray<readonly [string, string]> = [
    ['holdfast-fetch', 'hono-node'],
    ['holdfast-fetch', 'node-http'],
    ['holdfast-fetch-platform', 'hono-node-platform'],
    ['holdfast-fetch-platform', 'node-http'],
    ['holdfast-stream', 'node-http'],
    ['raw-net', 'node-http'],
  ];
  const ratio = (table: Record<string, Record<string, number | null>>, a: string, b: string, invert: boolean): Record<string, number | null> => {
    const row: Record<string, number | null> = {};
    for (const route of ROUTES) {
      const x = table[a]?.[route.name];
      const y = table[b]?.[route.name];
      row[route.name] = x == null || y == null || x === 0 || y === 0 ? null : Math.round((invert ? y / x : x / y) * 100) / 100;
    }
    return row;
  };
  const ratios: Record<string, Record<string, number | null>> = {};
  const cpuRatios: Record<string, Record<string, number | null>> = {};
  for (const [a, b] of pairs) {
    if (results[a] === undefined || results[b] === undefined) continue;
    ratios[`${label(a)} / ${label(b)}`] = ratio(results, a, b, false);
    // Requests per CPU-second, as a ratio: higher is better, like requests/s.
    cpuRatios[`${label(a)} / ${label(b)}`] = ratio(cpuPerRequest, a, b, true);
  }
  const W = 62;
  const col = (v: string): string => v.padStart(13);
  const head = `${''.padEnd(W)}${ROUTES.map((r) => col(r.name)).join('')}\n`;
  const line = (name: string, row: Record<string, number | null>, suffix = ''): string => `${name.padEnd(W)}${ROUTES.map((r) => col(row[r.name] == null ? '-' : `${row[r.name]}${suffix}`)).join('')}\n`;
  let out = `requests/s (wrk -t2 -c50 -d${SECONDS}s, loopback, best of ${ROUNDS})\n${head}`;
  for (const k of SERVERS) out += line(label(k), results[k]!);
  for (const [name, row] of Object.entries(ratios)) out += line(name, row, '×');
  out += `\nserver CPU µs per request (median of ${ROUNDS})\n${head}`;
  for (const k of SERVERS) out += line(label(k), cpuPerRequest[k]!);
  out += 'requests per CPU-second, ratio\n';
  for (const [name, row] of Object.entries(cpuRatios)) out += line(name, row, '×');
  process.stdout.write(out);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  return { tool: `wrk -t2 -c50 -d${SECONDS}s, best of ${ROUNDS} interleaved rounds`, labels: LABELS, requestsPerSecond: results, ratios, cpuMicrosPerRequest: cpuPerRequest, cpuRatios, notes };
}

if (import.meta.main) {
  const out = await run();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
