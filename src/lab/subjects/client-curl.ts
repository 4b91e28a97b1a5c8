/**
 * The curl command, one process per request (so it never reuses a connection across a scenario's
 * requests: scenarios about pooled connections report it as n/a). Timeout: `--max-time`.
 */
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { isExecutable, run } from '../child.ts';
import { curlPath } from './executables.ts';

class CurlSession implements ClientSession {
  private readonly timeoutMs: number | undefined;

  constructor(options: ClientSessionOptions) {
    this.timeoutMs = options.timeoutMs;
  }

  async request(req: LabRequest): Promise<ClientOutcome> {
    const args = ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '-X', req.method];
    for (const [k, v] of Object.entries(req.headers ?? {})) args.push('-H', `${k}: ${v}`);
    if (req.body !== undefined) args.push('--data-binary', '@-');
    if (this.timeoutMs !== undefined) args.push('--max-time', String(this.timeoutMs / 1000));
    args.push(req.url);
    const r = await run(curlPath(), args, { input: req.body === undefined ? undefined : Buffer.from(req.body), timeoutMs: 60_000 });
    if (r.code === 0) {
      const [status, size] = r.stdout.toString().trim().split(' ');
      return { kind: 'response', status: Number(status), bodyLength: Number(size), headers: {} };
    }
    const message = r.stderr.trim().split('\n').pop() ?? '';
    return { kind: 'error', code: `curl exit ${r.code ?? 'signal'}`, message, mayHaveBeenProcessed: undefined, timedOut: r.code === 28 };
  }

  async close(): Promise<void> {}
}

export const curlClient: ClientSubject = {
  role: 'client',
  id: 'curl',
  label: 'curl (one process per request)',
  family: 'peer',
  reusesConnections: false,
  available: async () => ((await isExecutable(curlPath())) ? true : `not installed: ${curlPath()}`),
  open: async (options) => new CurlSession(options),
};
