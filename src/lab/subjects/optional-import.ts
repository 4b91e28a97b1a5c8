/**
 * Dynamic imports of comparison-only dev dependencies (undici, axios, got): the lab runs without
 * them and shows those subjects as "not installed".
 */
import type { ClientSession, ClientSessionOptions, ClientSubject } from '../types.ts';

/** Imports `name` if installed; the caller states the shape it relies on. */
export async function importOptional<T>(name: string): Promise<T | undefined> {
  try {
    return (await import(name)) as T;
  } catch {
    return undefined;
  }
}

/** A pooling comparison client backed by the optional package `module`, whose shape is `M`. */
export function optionalModuleClient<M>(spec: {
  id: string;
  label: string;
  module: string;
  open(mod: M, options: ClientSessionOptions): ClientSession;
}): ClientSubject {
  return {
    role: 'client',
    id: spec.id,
    label: spec.label,
    family: 'peer',
    reusesConnections: true,
    available: async () => ((await importOptional<M>(spec.module)) !== undefined ? true : `not installed: npm i -D ${spec.module}`),
    open: async (options) => {
      const mod = await importOptional<M>(spec.module);
      if (mod === undefined) throw new Error(`${spec.module} not installed`);
      return spec.open(mod, options);
    },
  };
}
