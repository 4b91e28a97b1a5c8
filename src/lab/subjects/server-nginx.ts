/**
 * nginx (one worker, own config in a temp dir) serving the standard application's static part:
 * `/` and `/big/N` from files, and `POST /early` refused 413 by `client_max_body_size` without
 * reading the upload. `keepalive_timeout` is the lab's idle timeout, without the optional second
 * parameter: nginx's default, which sends no `Keep-Alive` hint. nginx cannot delay a response
 * (`/slow/MS`), so it is not in the lab's default matrix (graceful shutdown needs it); `holdfast
 * check` and its tests use it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningServer, ServerSubject } from '../types.ts';
import { NGINX, isExecutable, startNginx } from '../child.ts';
import { filler } from '../util.ts';
import { BIG_SIZES } from './server-app.ts';

export const nginxServer: ServerSubject = {
  role: 'server',
  id: 'nginx',
  label: 'nginx (static files)',
  family: 'peer',
  available: async () => ((await isExecutable(NGINX)) ? true : `not installed: ${NGINX}`),
  async start(options): Promise<RunningServer> {
    const seconds = Math.max(1, Math.round(options.idleTimeoutMs / 1000));
    let root = '';
    const nginx = await startNginx((port, dir) => {
      root = join(dir, 'htdocs');
      return `  server {
    listen 127.0.0.1:${port};
    root ${root};
    keepalive_timeout ${seconds}s;
    client_max_body_size 1m;
    location = /early { return 404; }
  }`;
    });
    await mkdir(join(root, 'big'), { recursive: true });
    await writeFile(join(root, 'index.html'), 'hello\n');
    for (const size of BIG_SIZES) await writeFile(join(root, 'big', String(size)), filler(size));
    const stop = (): Promise<void> => nginx.stop();
    return { host: '127.0.0.1', port: nginx.port, shutdown: stop, stop };
  },
};
