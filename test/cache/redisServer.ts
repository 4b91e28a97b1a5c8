/** Start a private redis-server for a test (random free port, temp dir, no persistence); stop by PID. */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/lab/child.ts';
import { sleep } from '../support.ts';

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p)) ??
  (spawnSync('sh', ['-c', 'command -v redis-server']).stdout?.toString().trim() || undefined);

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        sock.destroy();
        // A server that wants a password answers NOAUTH: it is up all the same.
        resolve(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'));
      }
    });
    sock.on('error', () => resolve(false));
  });
}

/**
 * `port`: a given port (a restart where clients expect it), tried once; default a free one.
 * `args`: more redis-server arguments (TLS, requirepass...).
 */
export async function startRedis(options: { port?: number; args?: string[] } = {}): Promise<RedisServer> {
  if (REDIS_SERVER === undefined) throw new Error('redis-server not installed');
  for (let attempt = 0; attempt < (options.port === undefined ? 5 : 1); attempt++) {
    const port = options.port ?? (await freePort());
    const dir = mkdtempSync(join(tmpdir(), 'hf-redis-'));
    const child: ChildProcess = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.args ?? [])], { stdio: 'ignore' });
    let exited = false;
    child.on('exit', () => (exited = true));
    // Wait until it answers PING (bounded number of tries; each try is one connection attempt).
    for (let i = 0; i < 200 && !exited; i++) {
      if (await ping(port)) {
        return {
          url: `redis://127.0.0.1:${port}`,
          port,
          stop: async () => {
            if (!exited) {
              const gone = new Promise((r) => child.once('exit', r));
              process.kill(child.pid!, 'SIGTERM');
              await gone;
            }
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
      await sleep(25);
    }
    if (!exited) process.kill(child.pid!, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error('could not start redis-server');
}
