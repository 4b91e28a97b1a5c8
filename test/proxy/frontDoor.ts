/**
 * Helpers for tests that run `holdfast proxy` as a process: start it, wait for lines on its
 * output, make a certificate with openssl.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { stopChild } from './helpers.ts';

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'proxy.ts');

/** A running `holdfast proxy`. */
export interface ProxyProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  out(): string;
  err(): string;
  /** Resolves with the match once `pattern` appears on stdout (or stderr with `stream`). */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<RegExpExecArray>;
}

/** Starts `holdfast proxy args` (stopped by PID after the test). */
export function runProxyCli(t: TestContext, args: string[]): ProxyProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    wake();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    wake();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    resolve(code);
    wake();
  }));
  t.after(() => stopChild(child, 8000));
  const waitFor = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 20_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = pattern.exec(stream === 'stdout' ? stdout : stderr);
        if (m !== null) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        } else if (child.exitCode !== null) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`proxy exited ${child.exitCode} before ${pattern}: ${stdout} ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms: ${stdout} ${stderr}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { child, exited, out: () => stdout, err: () => stderr, waitFor };
}

/** A self-signed certificate for `localhost` and 127.0.0.1, written into `dir`. */
export function makeCertificate(dir: string, name = 'server'): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

/** PIDs of the direct children of `pid` (the workers of a primary). */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter((l) => l !== '').map(Number);
  } catch {
    return [];
  }
}
