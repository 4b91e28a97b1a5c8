/**
 * Node's `http.request` with a keep-alive `http.Agent` — the default pool of most Node code.
 * The timeout is Node's `timeout` option (a socket idle timeout) handled the documented way.
 */
import http from 'node:http';
import type { ClientSubject } from '../types.ts';
import { adaptSession, bodyOf, headerRecord } from './session.ts';

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

export const nodeAgentClient: ClientSubject = {
  role: 'client',
  id: 'node-agent',
  label: 'node:http Agent (keepAlive)',
  family: 'peer',
  reusesConnections: true,
  available: async () => true,
  open: async (options) => {
    const agent = new http.Agent({ keepAlive: true });
    return adaptSession({
      send: (req) => new Promise((resolve, reject) => {
        const r = http.request(req.url, { method: req.method, headers: req.headers, agent, timeout: options.timeoutMs }, (res) => {
          let length = 0;
          res.on('data', (c: Buffer) => { length += c.length; });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bodyLength: length, headers: headerRecord(res.headers) }));
          res.on('error', reject);
        });
        r.on('timeout', () => r.destroy(new TimeoutError('request timed out')));
        r.on('error', reject);
        r.end(bodyOf(req));
      }),
      close: () => agent.destroy(),
    });
  },
};
