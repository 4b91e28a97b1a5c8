/**
 * axios on a keep-alive `http.Agent`, with its `timeout` option. Comparison only (dev dependency).
 */
import http from 'node:http';
import type { ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, LabRequest } from '../types.ts';
import { errorOutcome } from '../util.ts';
import { importOptional } from './optional-import.ts';

interface AxiosResponse { status: number; data: ArrayBuffer; headers: Record<string, unknown> }
interface AxiosInstance { request(config: Record<string, unknown>): Promise<AxiosResponse> }
interface AxiosModule { default: { create(config: Record<string, unknown>): AxiosInstance } }

class AxiosSession implements ClientSession {
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly instance: AxiosInstance;

  constructor(mod: AxiosModule, options: ClientSessionOptions) {
    this.instance = mod.default.create({
      httpAgent: this.agent,
      timeout: options.timeoutMs ?? 0,
      responseType: 'arraybuffer',
      validateStatus: () => true,
      maxRedirects: 0,
      proxy: false,
    });
  }

  async request(req: LabRequest): Promise<ClientOutcome> {
    try {
      const res = await this.instance.request({ url: req.url, method: req.method, headers: req.headers, data: req.body === undefined ? undefined : Buffer.from(req.body) });
      return { kind: 'response', status: res.status, bodyLength: res.data.byteLength, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])) };
    } catch (err) {
      return errorOutcome(err);
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

export const axiosClient: ClientSubject = {
  role: 'client',
  id: 'axios',
  label: 'axios (keep-alive agent)',
  family: 'peer',
  reusesConnections: true,
  available: async () => ((await importOptional<AxiosModule>('axios')) !== undefined ? true : 'not installed: npm i -D axios'),
  open: async (options) => {
    const mod = await importOptional<AxiosModule>('axios');
    if (mod === undefined) throw new Error('axios not installed');
    return new AxiosSession(mod, options);
  },
};
