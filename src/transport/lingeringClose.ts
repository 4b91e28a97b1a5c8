/**
 * Lingering close (RFC 9112 §9.6; Apache `lingering_close`, nginx `lingering_close`, Go's
 * `closeWriteAndWait`): the only way a server can close a TCP connection without risking the
 * tail of its own response.
 *
 * Why it exists: when a socket is closed while unread bytes sit in its receive buffer (the rest
 * of an upload the handler never read, a pipelined request), the kernel answers with RST instead
 * of FIN, and the peer's kernel throws away every byte of our response it had not yet handed to
 * the application. So we never close with unread input: we flush, half-close (FIN: "no more
 * from me"), then keep reading and discarding until the peer's FIN — proof that it has read
 * everything it wanted — or until a bound, and only then release the socket.
 */
import type { Socket } from 'node:net';

/** Bounds of a lingering close. */
export interface LingerOptions {
  /** After our FIN, give up when the peer sends nothing for this long (ms). Apache: 2 s. */
  idleTimeout: number;
  /** After our FIN, give up after this long in all (ms). Apache: 30 s. */
  totalTimeout: number;
  /**
   * Before our FIN can go out, queued response bytes must be flushed; give up when the peer has
   * not accepted a single byte for this long (ms). A slow reader that makes progress is never cut.
   */
  flushTimeout: number;
}

export const DEFAULT_LINGER: LingerOptions = Object.freeze({ idleTimeout: 2_000, totalTimeout: 30_000, flushTimeout: 30_000 });

/** How a lingering close ended. */
export type LingerOutcome = 'peer-closed' | 'idle-timeout' | 'total-timeout' | 'flush-timeout' | 'error';

/**
 * Flushes, half-closes and drains `socket`, then destroys it. Resolves once the socket is
 * destroyed. The caller must have removed its own `data` listener first (bytes read from here
 * on are discarded). Safe to call on a socket whose peer already half-closed.
 */
export function lingeringClose(socket: Socket, options: LingerOptions = DEFAULT_LINGER): Promise<LingerOutcome> {
  return new Promise<LingerOutcome>((resolve) => {
    if (socket.destroyed) {
      resolve('error');
      return;
    }
    let flushed = false;
    let peerEnded = socket.readableEnded;
    let settled = false;
    let timer: NodeJS.Timeout | null = null;
    let totalTimer: NodeJS.Timeout | null = null;
    let lastPending = socket.writableLength;

    const finish = (outcome: LingerOutcome): void => {
      if (settled) return;
      settled = true;
      if (timer !== null) clearTimeout(timer);
      if (totalTimer !== null) clearTimeout(totalTimer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('finish', onFinish);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      // Both directions are done (or a bound was hit): nothing of ours is left in user space,
      // so destroying only releases the descriptor; the kernel still delivers what it holds.
      socket.destroy();
      resolve(outcome);
    };

    const onData = (): void => {
      if (flushed && timer !== null) timer.refresh();
    };
    const onEnd = (): void => {
      peerEnded = true;
      if (flushed) finish('peer-closed');
    };
    const onFinish = (): void => {
      // Our FIN has been handed to the kernel after every response byte.
      flushed = true;
      if (timer !== null) clearTimeout(timer);
      if (peerEnded) {
        finish('peer-closed');
        return;
      }
      timer = setTimeout(() => finish('idle-timeout'), options.idleTimeout);
      timer.unref();
      totalTimer = setTimeout(() => finish('total-timeout'), options.totalTimeout);
      totalTimer.unref();
    };
    const onClose = (): void => finish(peerEnded && flushed ? 'peer-closed' : 'error');
    const onError = (): void => finish('error');
    const checkFlushProgress = (): void => {
      if (flushed || settled) return;
      const pending = socket.writableLength;
      // A peer that accepted bytes since the last check is slow, not gone: keep waiting.
      if (pending > 0 && pending >= lastPending) {
        finish('flush-timeout');
        return;
      }
      lastPending = pending;
      timer!.refresh();
    };

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('finish', onFinish);
    socket.on('close', onClose);
    socket.on('error', onError);
    // Read (and discard) from now on, also while our response is still flushing: a client that
    // writes its whole upload before reading (python-requests, curl) must be able to finish
    // writing, or it never reads the answer we are flushing.
    // (The `data` listener above discards: bytes after our last response are never HTTP we will
    // answer, and reading them keeps the receive buffer empty so the final close is a FIN.)
    socket.resume();

    if (socket.writableFinished) {
      onFinish();
      return;
    }
    timer = setTimeout(checkFlushProgress, options.flushTimeout);
    timer.unref();
    if (!socket.writableEnded) socket.end();
  });
}
