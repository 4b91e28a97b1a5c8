/**
 * Dynamic imports of comparison-only dev dependencies (undici, axios, got): the lab runs without
 * them and shows those subjects as "not installed".
 */

/** Imports `name` if installed; the caller states the shape it relies on. */
export async function importOptional<T>(name: string): Promise<T | undefined> {
  try {
    return (await import(name)) as T;
  } catch {
    return undefined;
  }
}
