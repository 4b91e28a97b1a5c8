/**
 * Soak test of `holdfast proxy` (run with `npm run soak`; about 4 min, so not part of `npm test`).
 *
 * 60 s of wrk load at 100 connections through `holdfast proxy --workers 2` to two backends,
 * while every 5 s one backend (in turn) is killed with SIGKILL and restarted a second later, and
 * the proxy gets a SIGHUP halfway. Passes when wrk saw no non-2xx answer and no socket error
 * (every request is an idempotent GET, which the proxy may repeat on the other backend), and the
 * proxy's open file descriptors and resident memory (primary plus workers) are back within 10 %
 * of their cold start: measured once the proxy has started and idled 2 s, before any request,
 * and the same way after the load, at the end of an idle window. Prints the figures.
 *
 * Why the idle window is long (150 s): under load V8 grows each process's young generation to
 * its ceiling (64 MiB) and leaves garbage in the old one. It gives that memory back in a
 * memory-reducing GC, which its memory reducer starts only once the allocation rate looks low;
 * that rate is sampled at GCs, and an idle process does no GC, so the rate it sees stays the one
 * of the load and the memory reducer waits for its watchdog instead: 100 s after the last
 * mark-compact (checked every 8 s). Measured 5 s after the load, RSS was 30 % above the level
 * after a warm-up; measured after the window it is back at the cold start (docs/benchmarks.md).
 *
 * `HOLDFAST_SOAK_SECONDS` (default 60), `HOLDFAST_SOAK_CONNECTIONS` (default 100) and
 * `HOLDFAST_SOAK_IDLE_SECONDS` (default 150) override.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, stopChild, waitForPort } from '../../src/lab/child.ts';

const WRK = '/usr/bin/wrk';
const SECONDS = Number(process.env['HOLDFAST_SOAK_SECONDS'] ?? 60);
const CONNECTIONS = Number(process.env['HOLDFAST_SOAK_CONNECTIONS'] ?? 100);
const IDLE_SECONDS = Number(process.env['HOLDFAST_SOAK_IDLE_SECONDS'] ?? 150);
const CLI = fileURLToPath(new URL('../../src/cli/proxy.ts', import.meta.url));

const BACKEND = `
const http = require('node:http');
const body = Buffer.from('soak backend ' + process.argv[1] + '\\n');
const s = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.setHeader('content-length', body.length);
  res.end(body);
});
s.keepAliveTimeout = 60000;
s.listen(Number(process.argv[1]), '127.0.0.1');
`;

function startBackend(port: number): ChildProcess {
  return spawn(process.execPath, ['-e', BACKEND, String(port)], { stdio: 'ignore' });
}

/** Open descriptors and resident kB of a process and its children (and each one's RSS in MiB). */
function usage(pid: number): { fds: number; rssKb: number; pids: number; each: number[] } {
  let pids = [pid];
  try {
    pids = pids.concat(execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter((l) => l !== '').map(Number));
  } catch {
    // no children
  }
  let fds = 0;
  let rssKb = 0;
  const each: number[] = [];
  for (const p of pids) {
    fds += readdirSync(`/proc/${p}/fd`).length;
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    rssKb += kb;
    each.push(Math.round(kb / 1024));
  }
  return { fds, rssKb, pids: pids.length, each };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function runWrk(url: string, seconds: number): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(WRK, ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '10s', url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', () => resolve(out));
  });
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'hf-soak-'));
  const ports = [await freePort(), await freePort()];
  const backends: ChildProcess[] = ports.map((p) => startBackend(p));
  for (let i = 0; i < 2; i++) await waitForPort(ports[i]!, backends[i]!, 5000, () => '');
  const port = await freePort();
  const config = join(dir, 'proxy.json');
  writeFileSync(config, JSON.stringify({ listen: `127.0.0.1:${port}`, routes: [{ upstreams: ports.map((p) => `http://127.0.0.1:${p}`), failTimeout: 1000 }] }));
  const proxy = spawn(process.execPath, [CLI, '--config', config, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proxy.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proxy.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/listening on/.test(out)) resolve();
    });
    proxy.once('exit', (code) => reject(new Error(`proxy exited ${code}: ${stderr}`)));
  });
  const url = `http://127.0.0.1:${port}/soak`;
  try {
    // The cold start: the workers are listening, nothing has been asked yet.
    await sleep(2000);
    const before = usage(proxy.pid!);
    let stop = false;
    let kills = 0;
    const chaos = (async () => {
      const started = Date.now();
      let hup = false;
      for (let n = 0; !stop; n++) {
        await sleep(5000);
        if (stop) break;
        const i = n % 2;
        backends[i]!.kill('SIGKILL');
        kills++;
        await sleep(1000);
        backends[i] = startBackend(ports[i]!);
        if (!hup && Date.now() - started >= (SECONDS * 1000) / 2) {
          hup = true;
          proxy.kill('SIGHUP');
        }
      }
    })();
    // RSS every 10 s: a plateau is heap sizing, a steady climb a leak.
    const series: number[] = [];
    const sampler = setInterval(() => series.push(Math.round(usage(proxy.pid!).rssKb / 1024)), 10_000);
    const out = await runWrk(url, SECONDS);
    clearInterval(sampler);
    stop = true;
    await chaos;
    // Idle: RSS every 10 s, the last one measured as the cold start was.
    const idle: number[] = [];
    for (let t = 10; t <= IDLE_SECONDS; t += 10) {
      await sleep(10_000);
      idle.push(Math.round(usage(proxy.pid!).rssKb / 1024));
    }
    const after = usage(proxy.pid!);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const socketErrors = sock === null ? 0 : Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]);
    const fdRatio = after.fds / before.fds;
    const rssRatio = after.rssKb / before.rssKb;
    process.stdout.write(
      `soak: ${SECONDS} s, ${CONNECTIONS} connections, ${kills} backend kills, 1 SIGHUP\n` +
        `  requests ${requests} (${rps.toFixed(0)} req/s), non-2xx ${non2xx}, socket errors ${socketErrors}${sock === null ? '' : ` (${sock[0]})`}\n` +
        `  open fds (primary + ${before.pids - 1} workers): ${before.fds} before, ${after.fds} after (${(fdRatio * 100).toFixed(0)} %)\n` +
        `  RSS at the cold start: ${(before.rssKb / 1024).toFixed(1)} MiB (${before.each.join(' + ')}), after ${IDLE_SECONDS} s idle: ${(after.rssKb / 1024).toFixed(1)} MiB (${after.each.join(' + ')}) (${(rssRatio * 100).toFixed(0)} %)\n` +
        `  RSS during the load every 10 s: ${series.join(', ')} MiB; then idle every 10 s: ${idle.join(', ')} MiB\n`,
    );
    const ok = requests > 0 && non2xx === 0 && socketErrors === 0 && fdRatio <= 1.1 && rssRatio <= 1.1;
    process.stdout.write(ok ? 'soak: PASS\n' : 'soak: FAIL\n');
    return ok ? 0 : 1;
  } finally {
    await stopChild(proxy, 10_000);
    for (const b of backends) await stopChild(b);
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
