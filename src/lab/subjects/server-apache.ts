/**
 * Apache httpd (event MPM, `-DFOREGROUND`) with its own config in a temp dir: static files for
 * `/` and `/big/N`, a CGI script for `/slow/MS`, and `LimitRequestBody` so `POST /early` with a
 * large upload is answered 413 without being read. `KeepAliveTimeout 1`. Graceful shutdown:
 * SIGWINCH (`apachectl graceful-stop`).
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningServer, ServerSubject } from '../types.ts';
import { freePort, isExecutable, tempDir } from '../child.ts';
import { filler } from '../util.ts';
import { BIG_SIZES } from './server-app.ts';
import { startChildServer } from './child-server.ts';
import { apachePath } from './executables.ts';

const MODULES = '/usr/lib/apache2/modules';

const SLOW_CGI = `#!/bin/sh
ms=\${PATH_INFO#/}
sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
printf 'Content-Type: text/plain\\r\\nContent-Length: 5\\r\\n\\r\\nslow\\n'
`;

function config(dir: string, port: number): string {
  return `ServerRoot "${dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile "${dir}/httpd.pid"
DefaultRuntimeDir "${dir}"
ErrorLog "${dir}/error.log"
LogLevel warn
LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule dir_module ${MODULES}/mod_dir.so
LoadModule alias_module ${MODULES}/mod_alias.so
LoadModule cgid_module ${MODULES}/mod_cgid.so
LoadModule reqtimeout_module ${MODULES}/mod_reqtimeout.so
User www-data
Group www-data
DocumentRoot "${dir}/htdocs"
<Directory "${dir}/htdocs">
  Require all granted
</Directory>
DirectoryIndex index.html
KeepAlive On
KeepAliveTimeout 1
LimitRequestBody 1048576
ScriptSock "${dir}/cgid.sock"
ScriptAlias /slow "${dir}/cgi/slow.sh"
<Directory "${dir}/cgi">
  Require all granted
  Options +ExecCGI
</Directory>
GracefulShutdownTimeout 5
`;
}

export const apacheServer: ServerSubject = {
  role: 'server',
  id: 'apache',
  label: 'Apache httpd 2.4 (event MPM)',
  family: 'peer',
  available: async () => ((await isExecutable(apachePath())) ? true : `not installed: ${apachePath()}`),
  async start(): Promise<RunningServer> {
    const dir = await tempDir('apache');
    // Apache's workers run as www-data: they must be able to read the tree.
    await chmod(dir.path, 0o755);
    await mkdir(join(dir.path, 'htdocs', 'big'), { recursive: true });
    await mkdir(join(dir.path, 'cgi'));
    await writeFile(join(dir.path, 'htdocs', 'index.html'), 'hello\n');
    await writeFile(join(dir.path, 'htdocs', 'early'), 'early\n');
    for (const size of BIG_SIZES) await writeFile(join(dir.path, 'htdocs', 'big', String(size)), filler(size));
    await writeFile(join(dir.path, 'cgi', 'slow.sh'), SLOW_CGI, { mode: 0o755 });
    const port = await freePort();
    await writeFile(join(dir.path, 'httpd.conf'), config(dir.path, port));
    return startChildServer({
      command: apachePath(),
      args: ['-f', join(dir.path, 'httpd.conf'), '-DFOREGROUND'],
      dir,
      port,
      startTimeoutMs: 15_000,
      shutdownSignal: 'SIGWINCH',
      // SIGTERM (not SIGKILL first): the parent must take its worker processes down with it.
      stopGraceMs: 5000,
      failedStartGraceMs: 3000,
    });
  },
};
