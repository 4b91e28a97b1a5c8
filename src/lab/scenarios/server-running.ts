/**
 * Helpers for server scenarios: a server subject started with the lab's settings and always
 * stopped afterwards.
 */
import type { RunningServer, ServerSubject } from '../types.ts';
import { within } from '../util.ts';

/** Idle keep-alive timeout the lab configures on every server that lets it be set. */
export const SERVER_IDLE_MS = 1000;

export async function withServer<T>(subject: ServerSubject, fn: (server: RunningServer) => Promise<T>): Promise<T> {
  const server = await subject.start({ idleTimeoutMs: SERVER_IDLE_MS });
  try {
    return await fn(server);
  } finally {
    await within(server.stop(), 5000, () => undefined);
  }
}
