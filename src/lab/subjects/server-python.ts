/**
 * Python's `http.server` running the standard application: `HTTPServer` (one connection at a
 * time) and `ThreadingHTTPServer`, both with `protocol_version = "HTTP/1.1"` and their default
 * (absent) idle timeout. Graceful shutdown: SIGTERM, which the driver turns into the documented
 * `server.shutdown()` + `server_close()`.
 */
import type { RunningServer, ServerSubject } from '../types.ts';
import { run, scriptDir } from '../child.ts';
import { PYTHON_ROUTES } from './server-app.ts';
import { startChildServer } from './child-server.ts';
import { pythonPath } from './executables.ts';

const DRIVER = PYTHON_ROUTES + String.raw`
import json, signal, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):
        pass

    def send_body(self, status, body):
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        kind, arg = route('GET', self.path)
        if kind == 'hello':
            self.send_body(200, b'hello\n')
        elif kind == 'big':
            self.send_body(200, b'x' * arg)
        elif kind == 'slow':
            time.sleep(arg / 1000)
            self.send_body(200, b'slow\n')
        else:
            self.send_body(404, b'')

    def do_POST(self):
        kind, arg = route('POST', self.path)
        if kind == 'early':
            # Answer without reading the upload.
            self.send_body(413, EARLY_BODY)
        else:
            length = int(self.headers.get('Content-Length') or 0)
            self.rfile.read(length)
            self.send_body(404, b'')

cls = ThreadingHTTPServer if sys.argv[1] == 'threading' else HTTPServer
server = cls(('127.0.0.1', 0), Handler)

def on_term(signum, frame):
    threading.Thread(target=server.shutdown).start()
signal.signal(signal.SIGTERM, on_term)

print(json.dumps({'port': server.server_address[1]}), flush=True)
server.serve_forever()
server.server_close()
`;

function pythonServer(mode: 'single' | 'threading'): ServerSubject {
  return {
    role: 'server',
    id: mode === 'single' ? 'python-httpserver' : 'python-threading',
    label: mode === 'single' ? 'Python http.server HTTPServer' : 'Python http.server ThreadingHTTPServer',
    family: 'peer',
    available: async () => {
      const r = await run(pythonPath(), ['-c', 'import http.server; print(http.server.ThreadingHTTPServer)'], { timeoutMs: 10_000 }).catch(() => null);
      return r !== null && r.code === 0 ? true : `not installed: ${pythonPath()} with http.server`;
    },
    async start(): Promise<RunningServer> {
      const dir = await scriptDir('pyserver', { 'server.py': DRIVER });
      return startChildServer({
        command: pythonPath(),
        args: ['-u', `${dir.path}/server.py`, mode],
        dir,
        port: 'stdout',
        startTimeoutMs: 10_000,
        shutdownSignal: 'SIGTERM',
        stopGraceMs: 0,
      });
    },
  };
}

export const pythonHttpServer = pythonServer('single');
export const pythonThreadingServer = pythonServer('threading');
