/**
 * What the client benchmarks share: the node:http target they all request from (in a child
 * process, so the server's CPU is not counted as the client's), the scenarios, and the
 * measuring loop — N concurrent workers, a warm-up, then requests/s and CPU per request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';

export const ROUNDS = Number(process.env['HOLDFAST_BENCH_ROUNDS'] ?? 3);
export const RUN_MS = Number(process.env['HOLDFAST_BENCH_RUN_MS'] ?? 500);
export const WARMUP_MS = 100;
/** Once per client at start, so that the first measured cell does not pay for JIT warm-up. */
export const INITIAL_WARMUP_MS = 300;

const SERVER = `
const http = require('node:http');
const small = Buffer.from('hello, world');
const big = Buffer.alloc(64 * 1024, 120);
const s = http.createServer((req, res) => {
  if (req.method === 'POST') {
    let n = 0;
    req.on('data', (c) => { n += c.length; });
    req.on('end', () => { res.setHeader('content-length', String(String(n).length)); res.end(String(n)); });
    return;
  }
  const body = req.url === '/big' ? big : small;
  res.setHeader('content-length', body.length);
  res.end(body);
});
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;

export interface Scenario { name: string; path: string; post: boolean }
export const SCENARIOS: Scenario[] = [
  { name: 'GET small', path: '/small', post: false },
  { name: 'GET 64 KiB', path: '/big', post: false },
  { name: 'POST 1 KiB', path: '/post', post: true },
];
export const POST_BODY = Buffer.alloc(1024, 97);

/** One measured run. */
export interface Run { rps: number; cpuUs: number }

/** Median of a cell's runs, with the spread. */
export interface Figure { rps: number; min: number; max: number; cpuUsPerReq: number }

// A forced GC between runs (the flag is set at run time so the command stays `node bench/...`).
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Starts the target server; resolves with its origin and the child to kill afterwards. */
export async function startTarget(): Promise<{ origin: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  return { origin: `http://127.0.0.1:${Number(line.toString().trim())}`, child };
}

/** Runs `one` on `concurrency` workers: `warmupMs` uncounted, then `runMs` counted. */
export async function measureWith(one: () => Promise<void>, concurrency: number, warmupMs: number, runMs: number): Promise<Run> {
  gc();
  let count = 0;
  let stop = false;
  let counting = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      await one();
      if (counting) count++;
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, warmupMs));
  counting = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, runMs));
  counting = false;
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const n = count;
  stop = true;
  await Promise.all(workers);
  return { rps: (n / elapsed) * 1000, cpuUs: n === 0 ? 0 : (cpu.user + cpu.system) / n };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** A cell's figure: the median of its runs, with the spread. */
export function figure(runs: Run[]): Figure {
  const rps = runs.map((x) => x.rps);
  return {
    rps: Math.round(median(rps)),
    min: Math.round(Math.min(...rps)),
    max: Math.round(Math.max(...rps)),
    cpuUsPerReq: Math.round(median(runs.map((x) => x.cpuUs)) * 10) / 10,
  };
}

/** Prints one cell: a line per client, then its ratios. */
export function printCell(key: string, row: Record<string, Figure>, ratios: Record<string, number>): void {
  process.stdout.write(`${key}\n`);
  for (const [name, f] of Object.entries(row)) {
    process.stdout.write(`  ${name.padEnd(36)} ${String(f.rps).padStart(7)} req/s  (${f.min}–${f.max})  ${f.cpuUsPerReq.toFixed(1).padStart(6)} µs CPU/req\n`);
  }
  for (const [k, v] of Object.entries(ratios)) process.stdout.write(`  ${k} = ${v}\n`);
}
