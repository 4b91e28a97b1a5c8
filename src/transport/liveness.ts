/**
 * Liveness of an idle client connection. A pooled connection can die at any moment (the
 * server's idle timer, a restart); the kernel tells us through FIN, RST or unsolicited bytes,
 * but only once the event loop polls for I/O. `pollTurn()` gives pending socket events that
 * chance before a reused connection is written to.
 */

let pending: Promise<void> | null = null;
let resolvePending: (() => void) | null = null;

function secondImmediate(): void {
  setImmediate(settleTurn);
}

function settleTurn(): void {
  const resolve = resolvePending!;
  pending = null;
  resolvePending = null;
  resolve();
}

/**
 * Resolves after the event loop has passed through at least one I/O poll phase, so that a FIN,
 * RST or stray bytes that reached the kernel before this call have been delivered to their
 * sockets' listeners.
 *
 * Why two `setImmediate`s: when called from an I/O callback (the usual case: the previous
 * response just completed), one `setImmediate` runs in the check phase of the *same* loop
 * iteration, before any further poll — it would let no socket event through. The second one
 * runs only after the next poll phase (which does not block, since an immediate is pending).
 *
 * All callers within the same turn share one promise, so fifty connections checked out at once
 * cost one turn, not fifty.
 */
export function pollTurn(): Promise<void> {
  if (pending === null) {
    pending = new Promise<void>((resolve) => {
      resolvePending = resolve;
    });
    setImmediate(secondImmediate);
  }
  return pending;
}
