/**
 * Django's development server (`python3 -m django runserver --noreload`) running the standard
 * application from a minimal settings module in a temp dir. Graceful shutdown: SIGTERM.
 */
import { spawn } from 'node:child_process';
import type { RunningServer, ServerSubject } from '../types.ts';
import { freePort, run, scriptDir, stopChild, waitForPort } from '../child.ts';
import { PYTHON_ROUTES } from './server-app.ts';

const PYTHON = '/usr/bin/python3';

const SETTINGS = String.raw`
SECRET_KEY = 'holdfast-lab'
DEBUG = False
ALLOWED_HOSTS = ['*']
ROOT_URLCONF = 'labapp'
MIDDLEWARE = []
INSTALLED_APPS = []
DATABASES = {}
LOGGING_CONFIG = None
`;

const APP = PYTHON_ROUTES + String.raw`
from django.http import HttpResponse
from django.urls import re_path

def view(request):
    kind, arg = route(request.method, request.path)
    if kind == 'hello':
        return HttpResponse(b'hello\n', content_type='text/plain')
    if kind == 'big':
        return HttpResponse(b'x' * arg)
    if kind == 'slow':
        time.sleep(arg / 1000)
        return HttpResponse(b'slow\n')
    if kind == 'early':
        # Answer without reading the upload.
        return HttpResponse(EARLY_BODY, status=413)
    return HttpResponse(b'', status=404)

urlpatterns = [re_path(r'^.*$', view)]
`;

export const djangoServer: ServerSubject = {
  role: 'server',
  id: 'django',
  label: 'Django runserver',
  family: 'peer',
  available: async () => {
    const r = await run(PYTHON, ['-c', 'import django; print(django.get_version())'], { timeoutMs: 10_000 }).catch(() => null);
    return r !== null && r.code === 0 ? true : `not installed: ${PYTHON} -m django`;
  },
  async start(): Promise<RunningServer> {
    const dir = await scriptDir('django', { 'labsettings.py': SETTINGS, 'labapp.py': APP });
    const port = await freePort();
    const child = spawn(PYTHON, ['-m', 'django', 'runserver', `127.0.0.1:${port}`, '--noreload', '--settings=labsettings'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir.path,
      env: { ...process.env, PYTHONPATH: dir.path, PYTHONUNBUFFERED: '1' },
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
    try {
      await waitForPort(port, child, 20_000, () => stderr);
    } catch (err) {
      await stopChild(child, 0);
      await dir.remove();
      throw err;
    }
    let exited: Promise<void> | null = null;
    const shutdown = (): Promise<void> => {
      exited ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      return exited;
    };
    return {
      host: '127.0.0.1',
      port,
      shutdown,
      async stop() {
        await stopChild(child, 0);
        await dir.remove();
      },
    };
  },
};
