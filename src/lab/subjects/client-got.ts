/**
 * got on a keep-alive `http.Agent`, with its default retry policy and `timeout.response`.
 * Comparison only (dev dependency).
 */
import http from 'node:http';
import type { ClientSubject } from '../types.ts';
import { optionalModuleClient } from './optional-import.ts';
import { adaptSession, bodyOf, headerRecord } from './session.ts';

interface GotResponse { statusCode: number; rawBody: Buffer; headers: Record<string, unknown> }
type Got = (url: string, options: Record<string, unknown>) => Promise<GotResponse>;
interface GotModule { default: Got }

export const gotClient: ClientSubject = optionalModuleClient<GotModule>({
  id: 'got',
  label: 'got (keep-alive agent)',
  module: 'got',
  open(mod, options) {
    const got = mod.default;
    const agent = new http.Agent({ keepAlive: true });
    return adaptSession({
      async send(req) {
        const res = await got(req.url, {
          method: req.method,
          headers: req.headers,
          body: bodyOf(req),
          agent: { http: agent },
          timeout: options.timeoutMs === undefined ? {} : { response: options.timeoutMs },
          // got's retry policy as is, but backoff capped so the lab stays fast (default waits ~1 s, 2 s).
          retry: { limit: 2, backoffLimit: 100 },
          throwHttpErrors: false,
          followRedirect: false,
          responseType: 'buffer',
        });
        return { status: res.statusCode, bodyLength: res.rawBody.length, headers: headerRecord(res.headers) };
      },
      close: () => agent.destroy(),
    });
  },
});
