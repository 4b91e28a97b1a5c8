/**
 * Node's `http.request` with a keep-alive `http.Agent` — the default pool of most Node code.
 * The timeout is Node's `timeout` option (a socket idle timeout) handled the documented way.
 */
import http from 'node:http';
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

class AgentSession implements ClientSession {
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly timeoutMs: number | undefined;

  constructor(options: ClientSessionOptions) {
    this.timeoutMs = options.timeoutMs;
  }

  request(req: LabRequest): Promise<ClientOutcome> {
    return new Promise((resolve) => {
      const r = http.request(req.url, { method: req.method, headers: req.headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        let length = 0;
        res.on('data', (c: Buffer) => { length += c.length; });
        res.on('end', () => resolve({
          kind: 'response',
          status: res.statusCode ?? 0,
          bodyLength: length,
          headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
        }));
        res.on('error', (err) => resolve(errorOutcome(err)));
      });
      r.on('timeout', () => r.destroy(new TimeoutError('request timed out')));
      r.on('error', (err) => resolve(errorOutcome(err)));
      r.end(req.body === undefined ? undefined : Buffer.from(req.body));
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

export const nodeAgentClient: ClientSubject = {
  role: 'client',
  id: 'node-agent',
  label: 'node:http Agent (keepAlive)',
  family: 'peer',
  reusesConnections: true,
  available: async () => true,
  open: async (options) => new AgentSession(options),
};
