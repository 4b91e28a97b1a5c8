/**
 * Django's development server (`python3 -m django runserver --noreload`) running the standard
 * application from a minimal settings module in a temp dir. Graceful shutdown: SIGTERM.
 */
import type { RunningServer, ServerSubject } from '../types.ts';
import { freePort, run, scriptDir } from '../child.ts';
import { PYTHON_ROUTES } from './server-app.ts';
import { startChildServer } from './child-server.ts';
import { pythonPath } from './executables.ts';

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
    const r = await run(pythonPath(), ['-c', 'import django; print(django.get_version())'], { timeoutMs: 10_000 }).catch(() => null);
    return r !== null && r.code === 0 ? true : `not installed: ${pythonPath()} -m django`;
  },
  async start(): Promise<RunningServer> {
    const dir = await scriptDir('django', { 'labsettings.py': SETTINGS, 'labapp.py': APP });
    const port = await freePort();
    return startChildServer({
      command: pythonPath(),
      args: ['-m', 'django', 'runserver', `127.0.0.1:${port}`, '--noreload', '--settings=labsettings'],
      cwd: dir.path,
      env: { ...process.env, PYTHONPATH: dir.path, PYTHONUNBUFFERED: '1' },
      dir,
      port,
      startTimeoutMs: 20_000,
      shutdownSignal: 'SIGTERM',
      stopGraceMs: 0,
    });
  },
};
