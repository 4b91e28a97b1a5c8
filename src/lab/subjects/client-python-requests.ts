/**
 * python-requests with one `Session` kept across a scenario's requests: a small driver script
 * run by /usr/bin/python3 (or HOLDFAST_LAB_PYTHON), one JSON request per stdin line, one JSON outcome per stdout line.
 */
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { JsonLineChild, run, scriptDir } from '../child.ts';
import { errorOutcome } from '../util.ts';
import { pythonPath } from './executables.ts';

const DRIVER = String.raw`
import base64, json, sys
import requests

session = requests.Session()
timeout = float(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != '' else None

def answer(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()

for line in sys.stdin:
    msg = json.loads(line)
    body = base64.b64decode(msg['body']) if msg.get('body') is not None else None
    try:
        r = session.request(msg['method'], msg['url'], headers=msg.get('headers') or {}, data=body,
                            timeout=timeout, allow_redirects=False)
        content = r.content
        answer({'kind': 'response', 'status': r.status_code, 'bodyLength': len(content),
                'headers': {k.lower(): v for k, v in r.headers.items()}})
    except Exception as e:
        text = str(e)
        answer({'kind': 'error', 'code': type(e).__name__, 'message': text[:300],
                'timedOut': isinstance(e, requests.exceptions.Timeout) or 'timed out' in text})
`;

class RequestsSession implements ClientSession {
  private readonly driver: JsonLineChild;
  private readonly remove: () => Promise<void>;

  constructor(driver: JsonLineChild, remove: () => Promise<void>) {
    this.driver = driver;
    this.remove = remove;
  }

  async request(req: LabRequest): Promise<ClientOutcome> {
    try {
      const out = await this.driver.call({
        method: req.method,
        url: req.url,
        headers: req.headers ?? {},
        body: req.body === undefined ? null : Buffer.from(req.body).toString('base64'),
      }) as { kind: string; status?: number; bodyLength?: number; headers?: Record<string, string>; code?: string; message?: string; timedOut?: boolean };
      if (out.kind === 'response') return { kind: 'response', status: out.status ?? 0, bodyLength: out.bodyLength ?? 0, headers: out.headers ?? {} };
      return { kind: 'error', code: out.code ?? 'Error', message: out.message ?? '', mayHaveBeenProcessed: undefined, timedOut: out.timedOut === true };
    } catch (err) {
      return errorOutcome(err);
    }
  }

  async close(): Promise<void> {
    await this.driver.stop();
    await this.remove();
  }
}

export const pythonRequestsClient: ClientSubject = {
  role: 'client',
  id: 'python-requests',
  label: 'python-requests Session',
  family: 'peer',
  reusesConnections: true,
  available: async () => {
    const r = await run(pythonPath(), ['-c', 'import requests; print(requests.__version__)'], { timeoutMs: 10_000 }).catch(() => null);
    return r !== null && r.code === 0 ? true : `not installed: ${pythonPath()} with requests`;
  },
  open: async (options: ClientSessionOptions) => {
    const dir = await scriptDir('requests', { 'driver.py': DRIVER });
    const timeout = options.timeoutMs === undefined ? '' : String(options.timeoutMs / 1000);
    const driver = new JsonLineChild(pythonPath(), ['-u', `${dir.path}/driver.py`, timeout]);
    return new RequestsSession(driver, () => dir.remove());
  },
};
