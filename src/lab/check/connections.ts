/**
 * The connections of a check: raw connections to the named endpoint only, each recorded against
 * the probe that opened it, so that the runner can close whatever a probe leaves behind.
 */
import type { Endpoint } from './types.ts';
import { RawConnection } from '../raw-client.ts';

const tracked = new WeakMap<Endpoint, Set<RawConnection>>();

/** Opens a raw connection to an endpoint (recorded, when the endpoint is a tracked one). */
export async function connect(ep: Endpoint): Promise<RawConnection> {
  const conn = await RawConnection.open(ep.port, ep.host, ep.authority);
  tracked.get(ep)?.add(conn);
  return conn;
}

/**
 * A copy of `ep` whose connections are recorded, and a function that destroys every one still
 * open: a probe that ran out of time must not leave connections behind to block the next one
 * (a server that serves one connection at a time would wait on them).
 */
export function trackConnections<T extends Endpoint>(ep: T): { ep: T; destroyAll(): void } {
  const copy = { ...ep };
  const set = new Set<RawConnection>();
  tracked.set(copy, set);
  return { ep: copy, destroyAll: () => { for (const c of set) c.destroy(); } };
}
