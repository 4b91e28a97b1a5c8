/**
 * One server connection: an explicit state machine over one socket.
 *
 *   new ──first byte──> reading-head ──head──> handling ──response done──> idle ──first byte──> reading-head ...
 *    │                      │                     │                          │
 *    └──header timeout──────┴─────────────────────┴── close decided ─────────┴──idle timeout──> lingering ──> closed
 *                                                 │
 *                                                 └──upgrade hook took the socket──> upgraded ──socket closed──> closed
 *
 * Each connection runs on its own events and timers: nothing here waits on another connection,
 * so a browser's silent preconnect costs one socket and one timer, never a stalled server.
 * Requests are answered strictly in order (pipelining); every way out goes through
 * `lingeringClose`, so no close ever discards the tail of a response.
 */
import type { Socket } from 'node:net';
import { RequestParser, WireError, reasonPhrase, serializeResponseHead, currentHttpDate } from '../wire/index.ts';
import type { RequestHead } from '../wire/index.ts';
import { lingeringClose } from '../transport/lingeringClose.ts';
import { ServerError } from './errors.ts';
import { IncomingBody, type BodySource } from './incomingBody.ts';
import { ServerRequest } from './serverRequest.ts';
import { ResponseWriter, type ResponseSink, type SwitchedConnection } from './responseWriter.ts';
import type { ResolvedOptions, StreamingHandler } from './options.ts';
import { upgradeRequest } from './upgrade.ts';
import {
  serverConnectionClosedChannel, serverConnectionCreatedChannel, serverRequestEndChannel, serverRequestStartChannel,
  type ServerCloseReason,
} from './diagnostics.ts';

/** Where a connection is in its life. */
export type ServerConnectionState = 'new' | 'reading-head' | 'handling' | 'idle' | 'lingering' | 'upgraded' | 'closed';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly options: ResolvedOptions;
  readonly handler: StreamingHandler;
  /** Graceful shutdown has begun: finish what is in flight, then close. */
  readonly closing: boolean;
  connectionClosed(conn: Connection): void;
}

/** One request/response pair, queued in arrival order. */
class Exchange {
  readonly req: ServerRequest;
  res: ResponseWriter | null = null;
  /** A response the server gives without calling the handler (413, 417, 501). */
  autoStatus = 0;
  /** Body bytes received when the response completed (start of the post-response drain). */
  drainFrom = -1;
  /** The protocols the request asks to upgrade to (empty: none); the parser holds what follows it. */
  readonly upgrade: readonly string[];
  /** When the request began (`performance.now()`), kept only for `onAutoResponse`. */
  readonly startedAt: number;
  constructor(req: ServerRequest, upgrade: readonly string[], startedAt: number) {
    this.req = req;
    this.upgrade = upgrade;
    this.startedAt = startedAt;
  }
}

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

let nextConnectionId = 1;

export class Connection implements ResponseSink, BodySource {
  /** Current state (see the diagram above). */
  state: ServerConnectionState = 'new';
  /** For diagnostics: tells this connection's events from others'. */
  readonly id = nextConnectionId++;
  /** Why the server decided to close (null: it did not, the socket just closed). */
  private closeReason: ServerCloseReason | null = null;
  private closeError: WireError | null = null;
  /** Requests whose response has completed. */
  served = 0;
  lost = false;
  readonly keepAliveValue: string;
  private readonly socket: Socket;
  private readonly host: ConnectionHost;
  private readonly opts: ResolvedOptions;
  private readonly parser: RequestParser;
  private readonly secure: boolean;
  private timer: NodeJS.Timeout | null = null;
  /**
   * The keep-alive close timer, apart from `timer` and made once per connection: entering `idle`
   * refreshes it, and leaving `idle` leaves it alone (it does nothing when it fires in another
   * state). A timer set and cleared around every keep-alive request was a measurable share of a
   * proxied request's CPU. Refreshed on each entry, it fires `keepAliveCloseAfter` after the
   * latest one, as a timer started there would.
   */
  private idleTimer: NodeJS.Timeout | null = null;
  /**
   * `bodyTimeout`: runs while a body is being received and the server is reading (never while it
   * stopped reading itself), refreshed by each body byte. Without it, a client that sends a head
   * and part of a body, then nothing, holds the connection forever.
   */
  private bodyTimer: NodeJS.Timeout | null = null;
  /** `requestTimeout`: from a request's first byte until its body is complete. */
  private requestTimer: NodeJS.Timeout | null = null;
  private readonly queue: Exchange[] = [];
  /** The exchange whose request body the parser is currently delivering. */
  private parsing: Exchange | null = null;
  /** A malformed request head, answered once every earlier request has been answered. */
  private pendingError: WireError | null = null;
  /** No more input is parsed (a parse error happened). */
  private inputClosed = false;
  private peerEnded = false;
  private closeAfterResponse = false;
  private paused = false;
  private pumping = false;
  private pumpAgain = false;
  private drainWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  /** When the request head being read began (`performance.now()`); kept only for `onAutoResponse`. */
  private headStartedAt = 0;
  /** Request heads parsed on this connection (tells `onData` whether a read completed one). */
  private headsParsed = 0;

  constructor(socket: Socket, host: ConnectionHost, secure: boolean) {
    this.socket = socket;
    this.host = host;
    this.opts = host.options;
    this.secure = secure;
    this.keepAliveValue = this.opts.keepAliveValue;
    this.parser = new RequestParser({
      onHead: (head) => this.onHead(head),
      onBody: (chunk) => this.onBody(chunk),
      onComplete: () => this.onComplete(),
    }, this.opts.limits);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    // The header timeout runs from accept: a preconnect that never speaks is closed silently.
    this.startTimer(this.opts.headersTimeout, this.onHeaderTimeout);
    if (serverConnectionCreatedChannel.hasSubscribers) serverConnectionCreatedChannel.publish({ connectionId: this.id, socket, secure });
  }

  // ---- socket events ------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    if (this.inputClosed || this.state === 'upgraded') return;
    const state = this.state;
    const first = state === 'new' || state === 'idle';
    if (first) {
      this.state = 'reading-head';
      if (this.opts.onAutoResponse !== null) this.headStartedAt = performance.now();
    }
    const heads = this.headsParsed;
    try {
      this.parser.execute(chunk);
    } catch (err) {
      this.onParseError(err);
    }
    if (first && this.headsParsed === heads && !this.inputClosed) {
      // A request's first bytes without its whole head: its header timeout (a later request
      // gets its own, replacing the idle timer) and request timeout run from here, the same
      // tick as its first byte. A head complete in its first read (nearly every request) would
      // have them cleared by `onHead` at once, so they are not created: two timers less per
      // keep-alive request. `onHead` clears the idle timer and starts a body's request timer.
      if (state === 'idle') this.startTimer(this.opts.headersTimeout, this.onHeaderTimeout);
      this.startRequestTimer();
    }
    this.pump();
  };

  private readonly onEnd = (): void => {
    this.peerEnded = true;
    if (this.state === 'lingering' || this.state === 'closed') return;
    if (!this.inputClosed) {
      try {
        this.parser.finish();
      } catch (err) {
        // Truncated inside a body: the handler's read fails. Inside a head: nobody to answer.
        const ex = this.parsing;
        if (ex !== null) {
          this.parsing = null;
          ex.req.body.fail(new ServerError('HF_SERVER_BODY_TRUNCATED', 'the client closed before the request body ended', 400, { cause: err }));
        }
      }
      this.inputClosed = true;
      this.clearBodyTimers();
    }
    this.pump();
  };

  private readonly onError = (): void => {
    // 'close' follows; the error itself (ECONNRESET, EPIPE) is the client's business.
  };

  private readonly onClose = (): void => {
    this.state = 'closed';
    this.lost = true;
    this.clearTimer();
    this.clearIdleTimer();
    this.clearBodyTimers();
    const err = new ServerError('HF_SERVER_CONNECTION_CLOSED', 'the connection was closed');
    for (const ex of this.queue) {
      if (ex.res === null || !ex.res.finished) ex.req.abort(err);
      ex.req.body.fail(err);
    }
    this.queue.length = 0;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.reject(err);
    this.host.connectionClosed(this);
    if (serverConnectionClosedChannel.hasSubscribers) {
      const message = { connectionId: this.id, reason: this.closeReason ?? 'socket-closed', requestCount: this.served };
      serverConnectionClosedChannel.publish(this.closeError === null ? message : { ...message, error: this.closeError });
    }
  };

  private readonly onDrain = (): void => {
    const waiters = this.drainWaiters;
    if (waiters.length === 0) return;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  };

  // ---- timers -------------------------------------------------------------------------

  private startTimer(ms: number, fn: () => void): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** `→ idle`: the keep-alive close runs from now (see `idleTimer`). */
  private armIdleTimer(): void {
    if (this.idleTimer === null) {
      this.idleTimer = setTimeout(this.onIdleTimeout, this.opts.keepAliveCloseAfter);
      this.idleTimer.unref();
    } else {
      this.idleTimer.refresh();
    }
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
  }

  private readonly onHeaderTimeout = (): void => {
    this.timer = null;
    if (this.state === 'new') {
      // Never an unsolicited 408: a client that preconnected would read it as the answer to the
      // request it sends next.
      this.startLinger('headers-timeout');
    } else if (this.state === 'reading-head' && this.queue.length === 0) {
      // Part of a head arrived: the client is waiting for an answer to it.
      this.sendErrorAndLinger(408, 'headers-timeout');
    }
  };

  private startRequestTimer(): void {
    if (this.opts.requestTimeout === 0) return;
    if (this.requestTimer !== null) clearTimeout(this.requestTimer);
    this.requestTimer = setTimeout(this.onRequestTimeout, this.opts.requestTimeout);
    this.requestTimer.unref();
  }

  /** Arms (or re-arms) the body timer when a body is arriving and the server is reading it. */
  private armBodyTimer(): void {
    const ex = this.parsing;
    if (ex === null || this.paused || this.inputClosed || this.opts.bodyTimeout === 0) return;
    const req = ex.req;
    // Before `100 Continue` the client is right to wait: the silence is ours.
    if (req.expect === '100-continue' && req.versionMinor >= 1 && !req.body.started && (ex.res === null || !ex.res.finished)) return;
    if (this.bodyTimer !== null) {
      this.bodyTimer.refresh();
      return;
    }
    this.bodyTimer = setTimeout(this.onBodyTimeout, this.opts.bodyTimeout);
    this.bodyTimer.unref();
  }

  private clearBodyTimer(): void {
    if (this.bodyTimer !== null) {
      clearTimeout(this.bodyTimer);
      this.bodyTimer = null;
    }
  }

  private clearBodyTimers(): void {
    this.clearBodyTimer();
    if (this.requestTimer !== null) {
      clearTimeout(this.requestTimer);
      this.requestTimer = null;
    }
  }

  private readonly onBodyTimeout = (): void => {
    this.bodyTimer = null;
    this.receiveTimedOut(new ServerError('HF_SERVER_BODY_TIMEOUT', `no request body byte for ${this.opts.bodyTimeout} ms`, 408));
  };

  private readonly onRequestTimeout = (): void => {
    this.requestTimer = null;
    const ex = this.parsing;
    // A body queued behind an earlier exchange is not being read: its wait is ours (the body
    // timer resumes when reading does).
    if (ex !== null && ex.res === null) return;
    this.receiveTimedOut(new ServerError('HF_SERVER_REQUEST_TIMEOUT', `request not received within ${this.opts.requestTimeout} ms`, 408));
  };

  /**
   * The client took too long to send a request. In its head: 408 and close. In its body: the body
   * fails with the error (so a handler reading it sees why), the server answers 408 itself if
   * the handler has not begun a response, and the connection closes after the response — its
   * remaining bytes can no longer be told apart from a next request.
   */
  private receiveTimedOut(err: ServerError): void {
    if (this.state === 'lingering' || this.state === 'closed' || this.state === 'upgraded') return;
    const ex = this.parsing;
    if (ex === null) {
      if (this.state === 'reading-head' && this.queue.length === 0) {
        this.sendErrorAndLinger(408, err.code === 'HF_SERVER_BODY_TIMEOUT' ? 'body-timeout' : 'request-timeout');
      }
      return;
    }
    this.parsing = null;
    this.inputClosed = true;
    this.closeAfterResponse = true;
    this.clearBodyTimers();
    this.setPaused(true);
    ex.req.body.fail(err);
    const res = ex.res;
    if (res === null) {
      ex.autoStatus = 408;
    } else if (!res.headSent && !res.finished) {
      this.writeAutoResponse(res, 408);
    }
    this.pump();
  }

  private readonly onIdleTimeout = (): void => {
    // Fired while a request is under way (the connection left `idle` since the last refresh):
    // nothing to do; the next `idle` refreshes the timer.
    if (this.state === 'idle') this.startLinger('idle-timeout');
  };

  // ---- parser events ------------------------------------------------------------------

  private onHead(head: RequestHead): void {
    this.headsParsed++;
    if (this.queue.length === 0) this.clearTimer();
    const empty = head.framing.kind === 'none';
    const body = new IncomingBody(this, empty);
    const req = new ServerRequest(head, body, this.secure, this.socket.remoteAddress ?? '', this.socket.remotePort ?? 0);
    const ex = new Exchange(req, head.upgrade, this.headStartedAt);
    // A pipelined head that follows began, at the latest, where this one ended.
    if (this.opts.onAutoResponse !== null) this.headStartedAt = performance.now();
    if (head.method === 'CONNECT') {
      ex.autoStatus = 501;
      this.closeAfterResponse = true;
      // The parser treats what follows as tunnel bytes; we do not tunnel.
      this.inputClosed = true;
    } else if (head.expect !== undefined && head.expect !== '100-continue' && head.versionMinor >= 1) {
      ex.autoStatus = 417;
    } else if (head.framing.kind === 'length' && head.framing.length > this.opts.maxBodySize) {
      ex.autoStatus = 413;
    }
    this.queue.push(ex);
    if (empty) {
      // The request is complete with its head.
      if (this.requestTimer !== null) {
        clearTimeout(this.requestTimer);
        this.requestTimer = null;
      }
    } else {
      this.parsing = ex;
      // A pipelined head parsed while an earlier exchange runs started no timer of its own yet.
      if (this.requestTimer === null) this.startRequestTimer();
      this.armBodyTimer();
    }
    if (serverRequestStartChannel.hasSubscribers) serverRequestStartChannel.publish({ connectionId: this.id, request: req });
  }

  private onBody(chunk: Buffer): void {
    const ex = this.parsing!;
    const body = ex.req.body;
    if (this.bodyTimer !== null) this.bodyTimer.refresh();
    body.push(chunk);
    if (body.received > this.opts.maxBodySize) {
      throw new WireError('HF_WIRE_BODY_TOO_LARGE', `request body larger than ${this.opts.maxBodySize} bytes`, 413);
    }
  }

  private onComplete(): void {
    const ex = this.parsing;
    if (ex === null) return;
    this.parsing = null;
    this.clearBodyTimers();
    ex.req.body.end();
  }

  private onParseError(err: unknown): void {
    const we = err instanceof WireError ? err : new WireError('HF_WIRE_INVALID_START_LINE', String(err));
    this.inputClosed = true;
    this.clearBodyTimers();
    // Stop reading until the answer is out; the lingering close then drains with bounds.
    this.setPaused(true);
    const ex = this.parsing;
    if (ex !== null) {
      this.parsing = null;
      const code = we.code === 'HF_WIRE_BODY_TOO_LARGE' ? 'HF_SERVER_BODY_TOO_LARGE' : 'HF_SERVER_BODY_MALFORMED';
      ex.req.body.fail(new ServerError(code, we.message, we.status, { cause: we }));
      this.closeAfterResponse = true;
      if (ex.res === null && ex.autoStatus === 0 && we.status === 413) ex.autoStatus = 413;
    } else {
      this.pendingError = we;
    }
  }

  // ---- the exchange loop --------------------------------------------------------------

  /**
   * Advances the connection: dispatches the next request, retires finished exchanges, drains
   * unread bodies, goes idle or closes. Re-entrant calls (a synchronous handler finishing inside
   * dispatch) are folded into the running loop.
   */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.pumpOnce();
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private pumpOnce(): void {
    for (;;) {
      if (this.state === 'lingering' || this.state === 'closed' || this.state === 'upgraded') return;
      const ex = this.queue[0];
      if (ex === undefined) break;
      if (ex.res === null) {
        this.dispatch(ex);
        continue;
      }
      const res = ex.res;
      if (!res.finished) break;
      if (!res.keepAlive) {
        this.startLinger('connection-close');
        return;
      }
      const body = ex.req.body;
      if (!body.complete) {
        if (body.failed !== null) {
          this.startLinger('unread-body');
          return;
        }
        // The handler answered without reading the whole body: discard the rest (bounded) so
        // the connection can carry the next request.
        if (ex.drainFrom === -1) {
          ex.drainFrom = body.received;
          body.abandon();
        }
        if (body.received - ex.drainFrom > this.opts.maxDrainBytes) {
          this.startLinger('unread-body');
          return;
        }
        break;
      }
      this.queue.shift();
      if (ex.upgrade.length > 0) this.resumeAfterDeclinedUpgrade();
    }
    if (this.queue.length === 0) {
      if (this.pendingError !== null) {
        this.sendErrorAndLinger(this.pendingError.status, 'bad-request', this.pendingError);
        return;
      }
      if (this.peerEnded || this.host.closing || this.inputClosed) {
        this.startLinger(this.peerEnded ? 'peer-closed' : this.host.closing ? 'shutdown' : 'connection-close');
        return;
      }
      if (this.state === 'handling') {
        if (this.parser.idle) {
          this.state = 'idle';
          // Close later than advertised, so a client honouring `Keep-Alive: timeout=N` always
          // retires the connection before our close can race its next request.
          this.clearTimer();
          this.armIdleTimer();
        } else {
          this.state = 'reading-head';
          this.startTimer(this.opts.headersTimeout, this.onHeaderTimeout);
          if (this.parsing === null) this.startRequestTimer();
        }
      }
    }
    this.updateFlow();
  }

  private dispatch(ex: Exchange): void {
    this.state = 'handling';
    // Declined by the hook (or no hook): the handler answers, and may still switch protocols
    // itself (`res.switchProtocols`, as a proxy does once its upstream agreed).
    if (ex.upgrade.length > 0 && ex.autoStatus === 0 && this.tryUpgrade(ex)) return;
    const res = new ResponseWriter(this, ex.req);
    ex.res = res;
    if (ex.autoStatus !== 0) {
      if (ex.autoStatus === 413) this.closeAfterResponse = true;
      const bytes = this.writeAutoResponse(res, ex.autoStatus);
      if (this.opts.onAutoResponse !== null) this.reportAutoResponse(ex.autoStatus, ex.req, ex.req.method === 'HEAD' ? 0 : bytes, ex.startedAt, null);
      return;
    }
    let result: void | Promise<void>;
    try {
      result = this.host.handler(ex.req, res);
    } catch (err) {
      this.handlerFailed(ex, err);
      return;
    }
    if (result !== undefined && typeof (result).then === 'function') {
      (result).then(() => this.handlerDone(ex), (err: unknown) => this.handlerFailed(ex, err));
    } else {
      this.handlerDone(ex);
    }
  }

  /**
   * Offers the upgrade request `ex` (first in the queue: everything before it is answered) to the
   * upgrade hook. Returns whether the hook took the socket; if it did, this connection only waits
   * for the socket's close.
   */
  private tryUpgrade(ex: Exchange): boolean {
    const hook = this.opts.upgrade;
    // During shutdown the request is answered with `Connection: close` instead: a new long-lived
    // connection would only be destroyed at the deadline.
    if (hook === null || this.host.closing || this.peerEnded) return false;
    const socket = this.socket;
    this.detachForUpgrade();
    const head = this.parser.upgradeBuffer ?? Buffer.alloc(0);
    this.parser.upgradeBuffer = null;
    let taken: boolean;
    try {
      taken = hook(upgradeRequest(ex.req, socket, ex.upgrade), socket, head) !== false;
    } catch (err) {
      this.opts.onError(err, ex.req);
      socket.destroy();
      return true;
    }
    if (!taken) {
      this.parser.upgradeBuffer = head.length > 0 ? head : null;
      this.reattachAfterDeclinedUpgrade();
      return false;
    }
    this.queue.shift();
    this.served++;
    return true;
  }

  /** Leaves the HTTP lifecycle: no timer, no reader, no pause of ours stays on the socket. */
  private detachForUpgrade(): void {
    this.state = 'upgraded';
    this.closeReason = 'upgraded';
    this.clearTimer();
    this.clearIdleTimer();
    this.clearBodyTimers();
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('drain', this.onDrain);
    // As node:http does before its 'upgrade' event: neither flowing nor paused, so the new owner's
    // 'data' listener starts the flow (a socket we paused would stay silent).
    this.paused = false;
    (this.socket as { readableFlowing: boolean | null }).readableFlowing = null;
  }

  /**
   * The upgrade request was answered without switching: the bytes the parser held are the next
   * request(s), never the other protocol (a client that sent them early guessed wrong, and reading
   * them as HTTP is what every later hop will do too).
   */
  private resumeAfterDeclinedUpgrade(): void {
    const held = this.parser.releaseUpgrade();
    if (held === null || this.inputClosed) return;
    try {
      this.parser.execute(held);
    } catch (err) {
      this.onParseError(err);
    }
  }

  private reattachAfterDeclinedUpgrade(): void {
    this.state = 'handling';
    this.closeReason = null;
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('drain', this.onDrain);
    this.socket.pause();
    this.paused = true;
  }

  /** Answers with a short text body; returns its length. */
  private writeAutoResponse(res: ResponseWriter, status: number): number {
    const text = `${status} ${reasonPhrase(status)}\n`;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(text).catch(() => {});
    return text.length;
  }

  private reportAutoResponse(status: number, req: ServerRequest | null, bytes: number, startedAt: number, error: WireError | null): void {
    const socket = this.socket;
    try {
      this.opts.onAutoResponse?.({
        status, request: req, remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, bytes, durationMs: performance.now() - startedAt, error,
      });
    } catch (err) {
      this.opts.onError(err, req);
    }
  }

  private handlerDone(ex: Exchange): void {
    const res = ex.res!;
    if (!res.finished && !this.lost) {
      // Go semantics: the handler returning completes the response.
      res.end().catch((err: unknown) => this.opts.onError(err, ex.req));
    }
    this.pump();
  }

  private handlerFailed(ex: Exchange, err: unknown): void {
    const res = ex.res!;
    const lostConnection = err instanceof ServerError && err.code === 'HF_SERVER_CONNECTION_CLOSED';
    if (!lostConnection) this.opts.onError(err, ex.req);
    if (!res.finished && !this.lost) {
      if (!res.headSent) {
        // A ServerError carries the client's fault (a malformed or too large body, a timeout); any
        // other error, a WireError from the handler's own invalid field or reason phrase included,
        // is the handler's mistake: a server error.
        const status = err instanceof ServerError && err.status >= 400 ? err.status : 500;
        if (status < 500) this.closeAfterResponse = this.closeAfterResponse || !ex.req.body.complete;
        try {
          this.writeAutoResponse(res, status);
        } catch {
          res.abort(err instanceof Error ? err : new Error(String(err)));
        }
      } else {
        res.abort(err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.pump();
  }

  /** Pauses reading while a pipelined request waits or a body's buffer is full. */
  private updateFlow(): void {
    // An upgraded socket's flow is its new owner's.
    if (this.state === 'lingering' || this.state === 'closed' || this.state === 'upgraded') return;
    // While the parser holds the bytes after an upgrade request, reading on would only grow them.
    let pause = this.inputClosed || this.queue.length > 1 || this.parser.upgraded;
    const ex = this.parsing;
    if (!pause && ex !== null) {
      const body = ex.req.body;
      pause = !body.abandoned && body.buffered >= this.opts.bodyHighWaterMark;
    }
    this.setPaused(pause);
  }

  private setPaused(pause: boolean): void {
    if (pause === this.paused) return;
    this.paused = pause;
    if (pause) {
      this.socket.pause();
      this.clearBodyTimer();
    } else {
      this.socket.resume();
      this.armBodyTimer();
    }
  }

  // ---- closing ------------------------------------------------------------------------

  private sendErrorAndLinger(status: number, reason: ServerCloseReason, error: WireError | null = null): void {
    if (this.state === 'lingering' || this.state === 'closed' || this.state === 'upgraded') return;
    this.closeError = error;
    const text = `${status} ${reasonPhrase(status)}\n`;
    const head = serializeResponseHead({
      status,
      headers: [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(text.length)], ['Connection', 'close'], ['Date', currentHttpDate()]],
    });
    this.socket.write(head + text, 'latin1');
    if (this.opts.onAutoResponse !== null) this.reportAutoResponse(status, null, text.length, this.headStartedAt, error);
    this.startLinger(reason);
  }

  /** Every close: flush, half-close, read and discard until the client's FIN (bounded), destroy. */
  private startLinger(reason: ServerCloseReason): void {
    if (this.state === 'lingering' || this.state === 'closed' || this.state === 'upgraded') return;
    this.state = 'lingering';
    this.closeReason = reason;
    this.lost = true;
    this.clearTimer();
    this.clearIdleTimer();
    this.clearBodyTimers();
    this.inputClosed = true;
    this.socket.removeListener('data', this.onData);
    const err = new ServerError('HF_SERVER_CONNECTION_CLOSED', 'the connection is closing');
    for (const ex of this.queue) {
      if (ex.res !== null && !ex.res.finished) ex.req.abort(err);
      ex.req.body.fail(err);
    }
    this.paused = false;
    void lingeringClose(this.socket, this.opts.linger);
  }

  /** Graceful shutdown: close now if nothing is in flight, else after the current response. */
  shutdown(): void {
    if (this.state === 'new' || this.state === 'idle') this.startLinger('shutdown');
    // 'reading-head' and 'handling': the response says `Connection: close` (decideKeepAlive),
    // and pump() closes when the queue empties.
  }

  /** Force-close (the graceful deadline passed). */
  destroy(): void {
    this.socket.destroy();
  }

  // ---- ResponseSink -------------------------------------------------------------------

  writeRaw(data: string | Uint8Array, encoding?: BufferEncoding): boolean {
    if (this.lost) return true;
    return encoding === undefined ? this.socket.write(data) : this.socket.write(data, encoding);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  get needDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  waitDrain(): Promise<void> {
    if (this.lost) return Promise.reject(new ServerError('HF_SERVER_CONNECTION_CLOSED', 'the connection was closed'));
    return new Promise<void>((resolve, reject) => {
      this.drainWaiters.push({ resolve, reject });
    });
  }

  switchProtocols(res: ResponseWriter, head: string): SwitchedConnection {
    const ex = this.queue[0];
    if (ex === undefined || ex.res !== res || ex.upgrade.length === 0 || !this.parser.upgraded || this.lost) {
      throw new ServerError('HF_SERVER_NOT_UPGRADABLE', 'only a request that asked for an upgrade (HTTP/1.1, Connection: upgrade, no body) can switch protocols');
    }
    this.socket.write(head, 'latin1');
    this.detachForUpgrade();
    const bytes = this.parser.upgradeBuffer ?? Buffer.alloc(0);
    this.parser.upgradeBuffer = null;
    // Nothing of the HTTP side may write to the socket any more.
    this.lost = true;
    this.queue.shift();
    this.served++;
    return { socket: this.socket, head: bytes };
  }

  decideKeepAlive(req: ServerRequest, responseAllows: boolean): boolean {
    if (!responseAllows || !req.head.keepAlive || this.closeAfterResponse || this.peerEnded || this.host.closing) return false;
    if (this.served + 1 >= this.opts.maxRequestsPerConnection) return false;
    const body = req.body;
    if (!body.complete) {
      if (body.failed !== null) return false;
      // Nothing was asked for after `Expect: 100-continue`: the client may never send the body,
      // or send it late — either way the next bytes on this connection are ambiguous.
      if (req.expect === '100-continue' && !body.started && body.received === 0) return false;
      const framing = req.framing;
      if (framing.kind === 'length' && framing.length - body.received > this.opts.maxDrainBytes) return false;
    }
    return true;
  }

  responseEnded(res: ResponseWriter): void {
    this.served++;
    if (serverRequestEndChannel.hasSubscribers) this.publishRequestEnd(res, null);
    this.pump();
  }

  responseAborted(res: ResponseWriter, err: Error): void {
    if (serverRequestEndChannel.hasSubscribers) this.publishRequestEnd(res, err);
    // The framing cannot be completed: close so the client sees a truncated message, never a
    // short one taken for whole.
    this.startLinger('response-aborted');
  }

  private publishRequestEnd(res: ResponseWriter, error: Error | null): void {
    const ex = this.queue.find((e) => e.res === res);
    if (ex === undefined) return;
    const message = { connectionId: this.id, request: ex.req, status: res.status, keepAlive: error === null && res.keepAlive };
    serverRequestEndChannel.publish(error === null ? message : { ...message, error });
  }

  // ---- BodySource ---------------------------------------------------------------------

  bodyRequested(body: IncomingBody): void {
    const ex = this.queue[0];
    if (ex === undefined || ex.req.body !== body) return;
    const req = ex.req;
    // `100 Continue` only when the handler actually wants the body (RFC 9110 §10.1.1).
    if (req.expect === '100-continue' && req.versionMinor >= 1 && !body.complete && body.received === 0 && ex.res !== null && !ex.res.headSent && !this.lost) {
      this.socket.write(CONTINUE, 'latin1');
    }
    // The client may now send: its silence counts from here.
    if (this.parsing === ex) this.armBodyTimer();
  }

  bodyConsumed(_body: IncomingBody): void {
    if (!this.pumping) this.updateFlow();
  }
}
