/**
 * Seed 002 through the proxy: Django's runserver (`--nothreading`, so every response says
 * `Connection: close` and the server shuts the socket right after writing) answering large
 * responses, read through the proxy by several slow readers at once → every body whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PYTHON, freePort, startProxy, stopChild, tempDir, waitForPort, writeFiles, directRequest } from './helpers.ts';

const SETTINGS = `
SECRET_KEY = 'holdfast-proxy-test'
DEBUG = False
ALLOWED_HOSTS = ['*']
ROOT_URLCONF = 'proxyapp'
MIDDLEWARE = []
INSTALLED_APPS = []
DATABASES = {}
LOGGING_CONFIG = None
`;

const APP = `
from django.http import HttpResponse
from django.urls import re_path

PATTERN = b'0123456789abcdef'

def big(request):
    n = int(request.GET.get('n', '1000000'))
    return HttpResponse((PATTERN * (n // 16 + 1))[:n], content_type='application/octet-stream')

urlpatterns = [re_path(r'^big$', big)]
`;

const SIZE = 3 * 1024 * 1024 + 123;
const READERS = 3;

function expectedSha(n: number): string {
  const pattern = Buffer.from('0123456789abcdef');
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i += 16) pattern.copy(buf, i, 0, Math.min(16, n - i));
  return createHash('sha256').update(buf).digest('hex');
}

/** Decodes a complete chunked body (no extensions expected); `null` when it is cut short. */
function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let i = 0;
  for (let n = 0; n < 1_000_000; n++) {
    const eol = data.indexOf('\r\n', i);
    if (eol === -1) return null;
    const size = parseInt(data.subarray(i, eol).toString('latin1'), 16);
    if (!Number.isInteger(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    if (eol + 2 + size + 2 > data.length) return null;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return null;
}

/**
 * A slow reader: sends one `Connection: close` request on a raw socket and takes the answer in
 * small sips (pausing after every chunk). Resolves with the body and whether it was whole.
 */
function slowRead(port: number, path: string, deadlineMs: number): Promise<{ status: number; length: number | null; chunked: boolean; body: Buffer; error: string | null }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let error: string | null = null;
    const deadline = setTimeout(() => {
      error = 'deadline';
      s.destroy();
    }, deadlineMs);
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      s.pause();
      setTimeout(() => s.resume(), 8);
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    s.on('close', () => {
      clearTimeout(deadline);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = end === -1 ? '' : all.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
      let body: Buffer = end === -1 ? Buffer.alloc(0) : all.subarray(end + 4);
      if (chunked) {
        const decoded = dechunk(body);
        if (decoded === null) error ??= 'chunked body without its last chunk';
        body = decoded ?? Buffer.alloc(0);
      } else if (cl === null) {
        error ??= 'neither Content-Length nor chunked: the end of the body cannot be verified';
      }
      resolve({ status, length: cl === null ? null : Number(cl[1]), chunked, body, error });
    });
  });
}

test('Django runserver --nothreading behind the proxy: large Connection: close responses reach slow readers whole', async (t) => {
  const dir = tempDir(t, 'hf-proxy-django-');
  writeFiles(dir, { 'proxysettings.py': SETTINGS, 'proxyapp.py': APP });
  const port = await freePort();
  const child = spawn(PYTHON, ['-m', 'django', 'runserver', `127.0.0.1:${port}`, '--noreload', '--nothreading', '--settings=proxysettings'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONPATH: dir, PYTHONUNBUFFERED: '1' },
  });
  t.after(() => stopChild(child));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  await waitForPort(port, child, 20_000, () => stderr);

  // The backend as the proxy sees it: it closes every connection after one response.
  const direct = await directRequest(`http://127.0.0.1:${port}/big?n=10`);
  assert.equal(direct.status, 200);
  assert.equal(direct.headers.connection, 'close');

  const proxy = await startProxy(t, { upstreams: [`http://127.0.0.1:${port}`], upstreamConcurrency: 1 });
  const proxyPort = Number(new URL(proxy.url).port);
  const want = expectedSha(SIZE);
  for (let round = 0; round < 2; round++) {
    const results = await Promise.all(Array.from({ length: READERS }, (_, i) => slowRead(proxyPort, `/big?n=${SIZE}&r=${round}-${i}`, 60_000)));
    for (const [i, r] of results.entries()) {
      assert.equal(r.error, null, `reader ${round}-${i}: ${r.error}`);
      assert.equal(r.status, 200, `reader ${round}-${i} status`);
      // Django sends no Content-Length (close-delimited); the proxy re-frames it as chunked, so
      // the reader can tell a whole body from a cut one.
      assert.ok(r.length === SIZE || (r.length === null && r.chunked), `reader ${round}-${i} framing`);
      assert.equal(r.body.length, SIZE, `reader ${round}-${i} got ${r.body.length} of ${SIZE} bytes`);
      assert.equal(createHash('sha256').update(r.body).digest('hex'), want, `reader ${round}-${i} body content`);
    }
  }
  assert.equal(proxy.stats.truncated, 0);
  assert.equal(proxy.stats.upstreamErrors, 0);
});
