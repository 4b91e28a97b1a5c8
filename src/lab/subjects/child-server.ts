/**
 * Server subjects that run as a child process (Python, Django, Apache): spawn the server, wait
 * until it listens, and hand back a `RunningServer` whose graceful shutdown is one signal and
 * whose hard stop is SIGTERM-then-SIGKILL by PID, removing the server's temp dir.
 */
import { spawn } from 'node:child_process';
import type { RunningServer } from '../types.ts';
import { readPortLine, stopChild, waitForPort } from '../child.ts';

export interface ChildServerSpec {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The server's temp dir (config, scripts); removed when the server stops or fails to start. */
  dir: { path: string; remove(): Promise<void> };
  /**
   * The port the server was told to listen on (polled until it accepts connections), or
   * `'stdout'` for a driver that prints `{"port": N}` once it listens.
   */
  port: number | 'stdout';
  /** How long the server may take to listen. */
  startTimeoutMs: number;
  /** The stack's idiomatic graceful-shutdown signal. */
  shutdownSignal: NodeJS.Signals;
  /** SIGTERM-to-SIGKILL grace of a hard stop. */
  stopGraceMs: number;
  /** The same grace for a server that failed to start (default `stopGraceMs`). */
  failedStartGraceMs?: number;
}

export async function startChildServer(spec: ChildServerSpec): Promise<RunningServer> {
  const { dir } = spec;
  const child = spawn(spec.command, spec.args, {
    stdio: ['ignore', spec.port === 'stdout' ? 'pipe' : 'ignore', 'pipe'],
    cwd: spec.cwd,
    env: spec.env,
  });
  let port: number;
  try {
    if (spec.port === 'stdout') {
      port = await readPortLine(child, spec.startTimeoutMs);
    } else {
      port = spec.port;
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
      await waitForPort(port, child, spec.startTimeoutMs, () => stderr);
    }
  } catch (err) {
    await stopChild(child, spec.failedStartGraceMs ?? spec.stopGraceMs);
    await dir.remove();
    throw err;
  }
  let exited: Promise<void> | null = null;
  return {
    host: '127.0.0.1',
    port,
    shutdown() {
      exited ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(spec.shutdownSignal);
      });
      return exited;
    },
    async stop() {
      await stopChild(child, spec.stopGraceMs);
      await dir.remove();
    },
  };
}
