/**
 * Child processes the lab drives: Python helper scripts, curl, Apache, nginx. Every child is tracked
 * and stopped by PID; helper scripts are written to a temp dir so the lab works from a build too.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, readFile, rm, access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LabError } from './errors.ts';
import { within } from './util.ts';

/** A fresh temp dir, removed by the returned function. */
export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `holdfast-lab-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Writes `files` (name → contents) into a new temp dir. */
export async function scriptDir(prefix: string, files: Record<string, string>): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await tempDir(prefix);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir.path, name), text, { mode: 0o755 });
  return dir;
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs a command to completion (bounded), returning exit code and output. */
export function run(file: string, args: string[], options: { input?: Buffer; timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { encoding: 'buffer', timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, cwd: options.cwd }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
      resolve({ code, stdout, stderr: stderr.toString() });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const done = await within(exited.then(() => true), graceMs, () => false);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * A long-lived child speaking JSON lines: one request object per line on stdin, one answer per
 * line on stdout, in order.
 */
export class JsonLineChild {
  readonly child: ChildProcess;
  private readonly waiting: Array<(line: unknown) => void> = [];
  private stderrTail = '';

  constructor(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd, env: options.env ?? process.env });
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      const next = this.waiting.shift();
      if (next === undefined) return;
      try {
        next(JSON.parse(line));
      } catch {
        next({ kind: 'error', code: 'HF_LAB_DRIVER', message: `bad driver output: ${line.slice(0, 200)}` });
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000); });
    this.child.on('exit', () => {
      for (const w of this.waiting.splice(0)) w({ kind: 'error', code: 'HF_LAB_DRIVER', message: `driver exited: ${this.stderrTail.trim().split('\n').pop() ?? ''}` });
    });
    this.child.stdin!.on('error', () => { /* the child died; the exit handler answers */ });
  }

  /** Sends one message and resolves with the next line of output. */
  call(message: unknown): Promise<unknown> {
    if (this.child.exitCode !== null) return Promise.reject(new LabError('HF_LAB_DRIVER', `driver exited: ${this.stderrTail}`));
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin!.write(`${JSON.stringify(message)}\n`);
    });
  }

  get stderr(): string {
    return this.stderrTail;
  }

  stop(): Promise<void> {
    this.child.stdin!.end();
    return stopChild(this.child, 1000);
  }
}

/** Waits for the first stdout line of a child that prints `{"port": N}` once it listens. */
export function readPortLine(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => fail(`no port after ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string): void => {
      clearTimeout(timer);
      lines.close();
      reject(new LabError('HF_LAB_SUBJECT_START', `${why}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    };
    child.stderr?.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
    child.once('exit', (code) => fail(`exited with ${code}`));
    lines.on('line', (line) => {
      const m = /"port":\s*(\d+)/.exec(line);
      if (m !== null) {
        clearTimeout(timer);
        lines.close();
        resolve(Number(m[1]));
      }
    });
  });
}

/** A free TCP port on 127.0.0.1 (for servers that must be told their port). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once a TCP connection to the port succeeds; rejects after `timeoutMs` or if `child` exits. */
export async function waitForPort(port: number, child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<void> {
  const net = await import('node:net');
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new LabError('HF_LAB_SUBJECT_START', `port ${port} not listening: ${stderr().trim().split('\n').slice(-3).join(' | ')}`);
}

/** Debian's nginx binary. */
export const NGINX = '/usr/sbin/nginx';

/** A private nginx: foreground, one worker, its own temp dir, on a free loopback port. */
export interface NginxInstance {
  readonly port: number;
  readonly child: ChildProcess;
  /** Stops it by PID and removes its temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts nginx with `directives(port, dir)` inside its `http {}` block (after the temp paths,
 * which all point into `dir`). The directives must contain a `listen 127.0.0.1:${port}`.
 * `workers` above 1 runs nginx's master process with that many workers (for benchmarks beside a
 * multi-process server); stopping the master by PID stops them.
 */
export async function startNginx(directives: (port: number, dir: string) => string, options: { workers?: number } = {}): Promise<NginxInstance> {
  const workers = options.workers ?? 1;
  const dir = await tempDir('nginx');
  const at = (name: string): string => join(dir.path, name);
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'cache']) await mkdir(at(d));
  const port = await freePort();
  await writeFile(at('nginx.conf'), `daemon off;
master_process ${workers > 1 ? 'on' : 'off'};
worker_processes ${workers};
pid ${at('nginx.pid')};
error_log ${at('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${at('client_body')};
  proxy_temp_path ${at('proxy')};
  fastcgi_temp_path ${at('fastcgi')};
  uwsgi_temp_path ${at('uwsgi')};
  scgi_temp_path ${at('scgi')};
${directives(port, dir.path)}
}
`);
  const child = spawn(NGINX, ['-p', dir.path, '-e', at('error.log'), '-c', at('nginx.conf')], { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    await stopChild(child);
    await dir.remove();
  };
  let log = '';
  try {
    await waitForPort(port, child, 5000, () => log);
  } catch (err) {
    log = await readFile(at('error.log'), 'utf8').catch(() => '');
    await stop();
    throw new LabError('HF_LAB_SUBJECT_START', `nginx did not start: ${log.trim().split('\n').slice(-3).join(' | ')}`, { cause: err });
  }
  return { port, child, stop };
}
