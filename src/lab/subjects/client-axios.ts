/**
 * axios on a keep-alive `http.Agent`, with its `timeout` option. Comparison only (dev dependency).
 */
import http from 'node:http';
import type { ClientSubject } from '../types.ts';
import { optionalModuleClient } from './optional-import.ts';
import { adaptSession, bodyOf, headerRecord } from './session.ts';

interface AxiosResponse { status: number; data: ArrayBuffer; headers: Record<string, unknown> }
interface AxiosInstance { request(config: Record<string, unknown>): Promise<AxiosResponse> }
interface AxiosModule { default: { create(config: Record<string, unknown>): AxiosInstance } }

export const axiosClient: ClientSubject = optionalModuleClient<AxiosModule>({
  id: 'axios',
  label: 'axios (keep-alive agent)',
  module: 'axios',
  open(mod, options) {
    const agent = new http.Agent({ keepAlive: true });
    const instance = mod.default.create({
      httpAgent: agent,
      timeout: options.timeoutMs ?? 0,
      responseType: 'arraybuffer',
      validateStatus: () => true,
      maxRedirects: 0,
      proxy: false,
    });
    return adaptSession({
      async send(req) {
        const res = await instance.request({ url: req.url, method: req.method, headers: req.headers, data: bodyOf(req) });
        return { status: res.status, bodyLength: res.data.byteLength, headers: headerRecord(res.headers) };
      },
      close: () => agent.destroy(),
    });
  },
});
