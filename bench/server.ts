/**
 * Server throughput: the same four handlers (hello world, 1 KiB JSON, 64 KiB body, 1 KiB POST
 * echo) on holdfast (fetch handler with the standard `Response`, fetch handler with
 * `lightResponse`, streaming API), on node:http, and the same fetch handler on @hono/node-server
 * (with the platform `Response` and with its own light one), plus a raw `net` server
 * writing canned responses (the ceiling no Node HTTP server can pass). Each server runs in its
 * own process; load comes from `wrk` (2 threads, 50 connections, short runs) on loopback, in interleaved
 * rounds (best kept).
 *
 * Run alone: `npx node bench/server.ts` (env BENCH_SECONDS to change the run length).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const SERVERS = (process.env['BENCH_SERVERS']?.split(',') ?? ['holdfast-fetch', 'holdfast-fetch-light', 'holdfast-stream', 'hono-node', 'hono-node-light', 'node-http', 'raw-net']) as readonly string[];
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

function wrk(url: string, script: string | null, seconds = SECONDS): { rps: number; errors: string | null } {
  const args = ['-t2', '-c50', `-d${seconds}s`];
  if (script !== null) args.push('-s', script);
  args.push(url);
  const out = execFileSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const errors = /Socket errors:[^\n]*|Non-2xx[^\n]*/.exec(out)?.[0] ?? null;
  return { rps, errors };
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
  const notes: string[] = [];
  const targets: { kind: string; child: ChildProcess; port: number }[] = [];
  try {
    for (const kind of SERVERS) targets.push({ kind, ...(await startTarget(kind)) });
    // Warm-up: the JIT sees the connection loop before measuring.
    for (const t of targets) {
      wrk(`http://127.0.0.1:${t.port}/json`, null, 1);
      results[t.kind] = {};
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
          const r = wrk(`http://127.0.0.1:${t.port}${route.path}`, route.post ? postScript : null);
          results[t.kind]![route.name] = Math.max(results[t.kind]![route.name] ?? 0, Math.round(r.rps));
          if (r.errors !== null) notes.push(`${t.kind} ${route.name}: ${r.errors}`);
        }
      }
    }
  } finally {
    for (const t of targets) t.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  // Each holdfast server against node:http, and each fetch path against the same handler run by
  // @hono/node-server on node:http (platform Response vs platform Response, light vs light).
  const pairs: ReadonlyArray<readonly [string, string]> = [
    ['holdfast-stream', 'node-http'],
    ['holdfast-fetch', 'node-http'],
    ['holdfast-fetch-light', 'node-http'],
    ['holdfast-fetch', 'hono-node'],
    ['holdfast-fetch-light', 'hono-node-light'],
    ['raw-net', 'node-http'],
  ];
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const [a, b] of pairs) {
    if (results[a] === undefined || results[b] === undefined) continue;
    const row: Record<string, number | null> = {};
    for (const route of ROUTES) {
      const x = results[a][route.name];
      const y = results[b][route.name];
      row[route.name] = x == null || y == null ? null : Math.round((x / y) * 100) / 100;
    }
    ratios[`${a} / ${b}`] = row;
  }
  const W = 38;
  const col = (v: string): string => v.padStart(14);
  const rows = SERVERS.map((k) => `${k.padEnd(W)}${ROUTES.map((r) => col(String(results[k]![r.name] ?? '-'))).join('')}`);
  process.stdout.write(`requests/s (wrk -t2 -c50 -d${SECONDS}s, loopback)\n${''.padEnd(W)}${ROUTES.map((r) => col(r.name)).join('')}\n${rows.join('\n')}\n`);
  for (const [name, row] of Object.entries(ratios)) {
    process.stdout.write(`${name.padEnd(W)}${ROUTES.map((r) => col(`${row[r.name] ?? '-'}×`)).join('')}\n`);
  }
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  return { tool: `wrk -t2 -c50 -d${SECONDS}s, best of ${ROUNDS} interleaved rounds`, requestsPerSecond: results, ratios, notes };
}

if (import.meta.main) {
  const out = await run();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
