/**
 * One client connection and its state machine:
 *
 * ```
 * connecting ──> reserved ──> busy ──> idle ──> reserved ──> busy ... ──> closing ──> closed
 *                     │          │        │
 *                     └──────────┴────────┴──> closing (peer FIN/RST/stray bytes, timeout, error)
 * ```
 *
 * - `idle`: in the pool. Any socket event here means the connection is dead (FIN, RST, or bytes
 *   nobody asked for, such as a server's unsolicited `408`): it is evicted at once.
 * - `reserved`: checked out for a request that is not written yet (the pool gives pending socket
 *   events a turn of the event loop here). Socket events are treated as in `idle`.
 * - `busy`: one exchange in flight. Requests are never pipelined.
 * - `closing`: the socket is being destroyed; `closed` once its `close` event fired.
 *
 * Socket listeners are attached once for the connection's life and dispatch on the state, so
 * no event can fall into a gap between a listener being removed and another being added.
 */
import type { Socket } from 'node:net';
import { ResponseParser, TruncatedMessageError, WireError, parseKeepAlive } from '../wire/index.ts';
import type { ResponseHead, HeaderList } from '../wire/index.ts';
import { encodeChunk, encodeLastChunk } from '../wire/index.ts';
import { pollTurn } from '../transport/liveness.ts';
import type { OutgoingBody } from './outgoingBody.ts';
import { ClientResponse } from './response.ts';
import { ResponseBody, type BodySource } from './responseBody.ts';
import {
  type ClientError,
  ResponseParseError,
  SocketResetError,
  StaleConnectionError,
  TimeoutError,
  TruncatedBodyError,
  RequestBodyError,
  PoolClosedError,
} from './errors.ts';
import {
  connectionClosedChannel,
  requestBodyDoneChannel,
  requestErrorChannel,
  requestHeadersChannel,
} from './diagnostics.ts';

/** States of a connection (see the module comment). */
export type ClientConnectionState = 'connecting' | 'idle' | 'reserved' | 'busy' | 'closing' | 'closed';

/** Why a connection was closed (published on `holdfast:client:connection:closed`). */
export type CloseReason =
  | 'peer-closed'
  | 'peer-reset'
  | 'unsolicited-data'
  | 'idle-timeout'
  | 'keep-alive-hint'
  | 'max-requests'
  | 'connection-close'
  | 'not-reusable'
  | 'error'
  | 'timeout'
  | 'aborted'
  | 'close-idle'
  | 'pool-closed'
  | 'destroyed';

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The exchange finished and the connection may carry another request. */
  release(conn: ClientConnection): void;
  /** The connection is gone. */
  closed(conn: ClientConnection, reason: CloseReason): void;
}

/** Settings of a connection fixed by its agent. */
export interface ConnectionSettings {
  /** Milliseconds subtracted from a `Keep-Alive: timeout` hint. */
  keepAliveMargin: number;
  /** Idle lifetime without a hint. */
  idleTimeout: number;
  /** Upper bound on the idle lifetime, even with a longer hint. */
  maxIdleTimeout: number;
}

/** Per-exchange limits, in milliseconds (0 = none). */
export interface ExchangeTimeouts {
  headers: number;
  body: number;
  expectContinue: number;
}

/** The request as the connection writes it. */
export interface OutgoingRequest {
  method: string;
  /** Serialized head, ending with the empty line. */
  head: string;
  body: OutgoingBody | null;
  /** The body is sent with chunked coding (its length is not known or the caller asked). */
  chunked: boolean;
  /** The head carries `Expect: 100-continue`: hold the body until `100` or the timeout. */
  expectContinue: boolean;
  /** Opaque, passed to diagnostics subscribers. */
  diagnostics: object;
  url: string;
}

let nextConnectionId = 1;

const PHASE_HEADERS = 0;
const PHASE_BODY = 1;

/**
 * Body bytes of a held `408` (see `Exchange.held`) buffered before it is delivered anyway. A
 * server timing out a connection sends a short page, not a body worth holding back.
 */
const HELD_408_BODY_LIMIT = 64 * 1024;

/** State of the one exchange in flight. */
class Exchange {
  readonly req: OutgoingRequest;
  readonly timeouts: ExchangeTimeouts;
  readonly reused: boolean;
  resolve: (res: ClientResponse) => void;
  reject: (err: ClientError) => void;
  response: ClientResponse | null = null;
  /** Some request byte was handed to the socket. */
  written = false;
  /** The whole request was handed to the socket. */
  requestDone = false;
  /** Some response byte arrived. */
  responseByte = false;
  responseDone = false;
  /** Waiting for `100 Continue` before writing the body. */
  awaitingContinue = false;
  /** The body will not be sent (a final response came first): the connection cannot be reused. */
  bodySkipped = false;
  /**
   * `performance.now()` by which the current phase must progress, or 0 for none: the response
   * head (`PHASE_HEADERS`) or the next body bytes (`PHASE_BODY`). Enforced by the connection's
   * one lazily re-armed timer (see `ClientConnection.armDeadline`), not a timer per request.
   */
  deadline = 0;
  deadlinePhase = PHASE_HEADERS;
  continueTimer: NodeJS.Timeout | null = null;
  /** The body idle deadline is suspended while the consumer is not reading. */
  bodyTimerPaused = false;
  keepAlive = true;
  /**
   * A `408` on a reused connection whose server did not say it closes: the head is not handed
   * out until its body ended and one liveness turn passed, so that a FIN right behind it turns
   * it into the stale-connection error it is (see `onHead`).
   */
  held = false;

  /** The caller has the response head (a held 408 does not count until it is handed out). */
  get headDelivered(): boolean {
    return this.response !== null && !this.held;
  }

  constructor(req: OutgoingRequest, timeouts: ExchangeTimeouts, reused: boolean, resolve: (res: ClientResponse) => void, reject: (err: ClientError) => void) {
    this.req = req;
    this.timeouts = timeouts;
    this.reused = reused;
    this.resolve = resolve;
    this.reject = reject;
  }
}

/** A pooled HTTP/1.1 connection to one origin. */
export class ClientConnection implements BodySource {
  readonly id = nextConnectionId++;
  readonly origin: string;
  state: ClientConnectionState = 'connecting';
  /** Exchanges started on this connection; > 0 means the next one runs on a reused connection. */
  requestCount = 0;
  /** `performance.now()` after which this idle connection must not be reused. */
  idleDeadline = 0;
  /** Why the connection closed (or is closing). */
  closeReason: CloseReason | null = null;
  socket: Socket | null = null;
  private owner: ConnectionOwner;
  private readonly settings: ConnectionSettings;
  private readonly parser: ResponseParser;
  private ex: Exchange | null = null;
  private lastError: Error | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleTimerMs = -1;
  /** Requests the server still accepts (`Keep-Alive: max`). */
  private remainingRequests = Infinity;
  /** Close after the current exchange instead of returning to the pool. */
  private retireAfterExchange: CloseReason | null = null;
  private readonly onIdleTimeout = (): void => {
    if (this.state === 'idle') this.close('idle-timeout');
  };
  /** The one timer enforcing `Exchange.deadline`, and when it fires (`performance.now()`). */
  private deadlineTimer: NodeJS.Timeout | null = null;
  private deadlineTimerAt = 0;
  private readonly onDeadlineTimer = (): void => this.checkDeadline();

  constructor(origin: string, owner: ConnectionOwner, settings: ConnectionSettings) {
    this.origin = origin;
    this.owner = owner;
    this.settings = settings;
    this.parser = new ResponseParser({
      onHead: (head) => this.onHead(head),
      onBody: (chunk) => this.onBody(chunk),
      onComplete: (trailers) => this.onComplete(trailers),
      onInformational: (head) => this.onInformational(head),
    });
  }

  /** Attaches the connected socket; the connection becomes `reserved` for its first request. */
  attach(socket: Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: Error) => {
      this.lastError = err;
    });
    socket.on('close', () => this.onClose());
    if (this.state === 'connecting') this.state = 'reserved';
  }

  /** Whether this connection has served a request before (the next one is a reuse). */
  get reused(): boolean {
    return this.requestCount > 0;
  }

  /** Whether the connection is usable right now (checked at checkout). */
  isReusable(now: number): boolean {
    const s = this.socket;
    return this.state === 'idle' && s !== null && !s.destroyed && !s.readableEnded && now < this.idleDeadline;
  }

  /**
   * Sends one request and resolves with the response once its head arrived. Rejects with a
   * `ClientError` telling whether any byte was written and whether any response byte arrived.
   */
  exchange(req: OutgoingRequest, timeouts: ExchangeTimeouts): Promise<ClientResponse> {
    return new Promise<ClientResponse>((resolve, reject) => {
      const reused = this.requestCount > 0;
      const ex = new Exchange(req, timeouts, reused, resolve, reject);
      this.ex = ex;
      this.requestCount++;
      if (this.remainingRequests !== Infinity) this.remainingRequests--;
      this.state = 'busy';
      const socket = this.socket!;
      // The pool's liveness turn may have let a FIN or RST through after we were handed out:
      // then nothing is written and the request can go elsewhere whatever its method.
      if (socket.destroyed || !socket.writable || socket.readableEnded) {
        this.failExchange(ex, this.connectionLostError(ex, this.lastError));
        this.close(socket.readableEnded ? 'peer-closed' : 'peer-reset');
        return;
      }
      this.parser.expect(req.method);
      this.writeRequest(ex, socket);
    });
  }

  private writeRequest(ex: Exchange, socket: Socket): void {
    const req = ex.req;
    const body = req.body;
    ex.written = true;
    if (body === null || (body.bytes !== null && body.bytes.length === 0)) {
      socket.write(req.head, 'latin1');
      this.requestWritten(ex);
      return;
    }
    if (req.expectContinue) {
      socket.write(req.head, 'latin1');
      ex.awaitingContinue = true;
      if (ex.timeouts.expectContinue > 0) {
        ex.continueTimer = setTimeout(() => this.sendBodyAfterContinue(ex), ex.timeouts.expectContinue);
      }
      return;
    }
    if (body.bytes !== null && !req.chunked) {
      // One corked write: head and body leave in as few segments as possible.
      socket.cork();
      socket.write(req.head, 'latin1');
      socket.write(body.bytes);
      socket.uncork();
      this.requestWritten(ex);
      return;
    }
    socket.write(req.head, 'latin1');
    void this.streamBody(ex, socket, body);
  }

  private sendBodyAfterContinue(ex: Exchange): void {
    if (this.ex !== ex || !ex.awaitingContinue) return;
    ex.awaitingContinue = false;
    if (ex.continueTimer !== null) {
      clearTimeout(ex.continueTimer);
      ex.continueTimer = null;
    }
    const body = ex.req.body!;
    const socket = this.socket!;
    if (body.bytes !== null && !ex.req.chunked) {
      socket.write(body.bytes);
      this.requestWritten(ex);
    } else {
      void this.streamBody(ex, socket, body);
    }
  }

  /** Writes a streamed body, honouring backpressure; chunked unless its length is known. */
  private async streamBody(ex: Exchange, socket: Socket, body: OutgoingBody): Promise<void> {
    const chunked = ex.req.chunked;
    let sent = 0;
    try {
      for await (const piece of body.open()) {
        if (this.ex !== ex || ex.responseDone || ex.bodySkipped) return;
        const data = typeof piece === 'string' ? Buffer.from(piece) : piece;
        if (data.byteLength === 0) continue;
        sent += data.byteLength;
        let ok: boolean;
        if (chunked) {
          const parts = encodeChunk(data);
          socket.cork();
          socket.write(parts[0]!);
          socket.write(parts[1]!);
          ok = socket.write(parts[2]!);
          socket.uncork();
        } else {
          ok = socket.write(data);
        }
        if (!ok) await waitDrain(socket);
        if (this.ex !== ex) return;
      }
      if (this.ex !== ex || ex.responseDone || ex.bodySkipped) return;
      if (chunked) socket.write(encodeLastChunk());
      else if (body.length !== null && sent !== body.length) {
        throw new Error(`request body stream produced ${sent} bytes but its length is ${body.length!}`);
      }
      this.requestWritten(ex);
    } catch (err) {
      if (this.ex !== ex) return;
      this.failExchange(ex, new RequestBodyError(`request body failed: ${(err as Error).message}`, true, err));
      this.close('error');
    }
  }

  /** The whole request is on its way: start waiting for the response head. */
  private requestWritten(ex: Exchange): void {
    ex.requestDone = true;
    if (ex.responseDone) {
      this.finishExchange(ex);
      return;
    }
    if (ex.response === null && ex.timeouts.headers > 0) {
      ex.deadlinePhase = PHASE_HEADERS;
      this.armDeadline(ex, ex.timeouts.headers);
    }
  }

  // --- phase deadlines -----------------------------------------------------------------------
  //
  // Headers and body-idle timeouts are deadlines on the exchange, enforced by one timer per
  // connection that is only re-armed when it would fire too late. With the same timeouts on
  // every request (the usual case) a keep-alive exchange sets a number instead of creating and
  // clearing two timers; the timer wakes up at most once per timeout period, re-arms for what
  // is left, and fails the exchange only when `performance.now()` has passed the deadline.

  /** Sets the current exchange's deadline `ms` from now and makes sure a timer covers it. */
  private armDeadline(ex: Exchange, ms: number): void {
    const at = performance.now() + ms;
    ex.deadline = at;
    // A timer due at or before `at` will re-check (and re-arm) in time.
    if (this.deadlineTimer !== null && this.deadlineTimerAt <= at) return;
    this.scheduleDeadlineTimer(ms, at);
  }

  private scheduleDeadlineTimer(ms: number, at: number): void {
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = at;
    this.deadlineTimer = setTimeout(this.onDeadlineTimer, Math.max(1, Math.ceil(ms)));
    this.deadlineTimer.unref();
  }

  private clearDeadlineTimer(): void {
    if (this.deadlineTimer !== null) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = null;
    }
  }

  private checkDeadline(): void {
    this.deadlineTimer = null;
    const ex = this.ex;
    // No exchange, or its phase has no deadline: nothing to watch until one is armed again.
    if (ex === null || ex.deadline === 0) return;
    const left = ex.deadline - performance.now();
    if (left > 0) {
      this.scheduleDeadlineTimer(left, ex.deadline);
      return;
    }
    ex.deadline = 0;
    if (ex.deadlinePhase === PHASE_HEADERS) {
      if (ex.response !== null) return;
      this.failExchange(ex, new TimeoutError('HF_HEADERS_TIMEOUT', `no response head within ${ex.timeouts.headers} ms`, 'headers', true, ex.timeouts.headers));
    } else {
      const ms = ex.timeouts.body;
      this.failExchange(ex, new TimeoutError('HF_BODY_TIMEOUT', `no body data for ${ms} ms`, 'body', true, ms));
    }
    this.close('timeout');
  }

  // --- socket events -------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    const ex = this.ex;
    if (ex === null || this.state !== 'busy') {
      // Nobody asked: a server's unsolicited 408 or garbage. The connection is out of step.
      if (this.state === 'idle' || this.state === 'reserved') this.close('unsolicited-data');
      return;
    }
    if (ex.responseDone) {
      // Bytes behind a held 408, during its turn: the server is out of step with us.
      this.failExchange(ex, this.staleAfter408(ex, null));
      this.close('unsolicited-data');
      return;
    }
    ex.responseByte = true;
    // Body idle timeout: data arrived, the clock restarts (the timer itself is left alone).
    if (ex.deadline !== 0 && ex.deadlinePhase === PHASE_BODY) ex.deadline = performance.now() + ex.timeouts.body;
    try {
      this.parser.execute(chunk);
    } catch (err) {
      this.onParseError(err);
      return;
    }
    // Bytes after the end of the response, in the same read, that do not yet form a head: the
    // server sent something nobody asked for. Reusing the connection would read them as the
    // next response.
    if (this.ex === null && !this.parser.idle) this.close('unsolicited-data');
  }

  private onParseError(err: unknown): void {
    const ex = this.ex;
    if (ex === null) {
      // The response completed and stray bytes followed it in the same read.
      this.close('unsolicited-data');
      return;
    }
    const phase = ex.headDelivered ? 'body' : 'headers';
    this.failExchange(ex, new ResponseParseError(`invalid response: ${(err as Error).message}`, phase, err));
    this.close('error');
  }

  private onEnd(): void {
    const ex = this.ex;
    if (ex === null || this.state !== 'busy') {
      // FIN on an idle connection: the server closed it (idle timeout, restart). Evict now.
      this.close('peer-closed');
      return;
    }
    if (ex.held) {
      // The server closed right behind its 408 (or inside its body): it timed the connection
      // out as our request arrived.
      this.failExchange(ex, this.staleAfter408(ex, null));
      this.close('peer-closed');
      return;
    }
    try {
      // Completes a close-delimited body, or throws when the stream ended inside a message.
      this.parser.finish();
    } catch (err) {
      if (err instanceof TruncatedMessageError && ex.response !== null) {
        this.failExchange(ex, new TruncatedBodyError(`response body truncated: ${err.message}`, err.received, err.expected, err));
      } else {
        this.failExchange(ex, new SocketResetError(`connection closed inside the response head: ${(err as Error).message}`, 'headers', true, err));
      }
      this.close('peer-closed');
      return;
    }
    if (this.ex === ex) {
      // The stream ended before any response began.
      this.failExchange(ex, this.connectionLostError(ex, null));
    }
    this.close('peer-closed');
  }

  private onClose(): void {
    const ex = this.ex;
    if (ex !== null) {
      const err = this.lastError;
      if (ex.held) {
        this.failExchange(ex, this.staleAfter408(ex, err));
      } else if (ex.response !== null) {
        // Reset inside the body: its framing can no longer be satisfied.
        const received = ex.response.body.bytesReceived;
        const cause = err ?? new Error('socket closed');
        this.failExchange(ex, new TruncatedBodyError(`response body truncated after ${received} bytes: ${cause.message}`, received, null, cause));
      } else {
        this.failExchange(ex, this.connectionLostError(ex, err));
      }
    }
    const reason = this.closeReason ?? (this.lastError !== null ? 'peer-reset' : 'peer-closed');
    this.closeReason = reason;
    this.state = 'closed';
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.clearDeadlineTimer();
    if (connectionClosedChannel.hasSubscribers) {
      connectionClosedChannel.publish({ connectionId: this.id, origin: this.origin, reason, requestCount: this.requestCount, error: this.lastError });
    }
    this.owner.closed(this, reason);
  }

  /** The error for a connection that died before any response head. */
  private connectionLostError(ex: Exchange, cause: Error | null): ClientError {
    const written = ex.written;
    const what = cause !== null ? `${(cause as NodeJS.ErrnoException).code ?? cause.message}` : 'closed by the server';
    if (ex.reused && !ex.responseByte) {
      // The keep-alive race: the server gave up on the idle connection as our request arrived.
      return new StaleConnectionError(
        `reused connection ${what} before any response byte${written ? ' (the request was written and may have been processed)' : ' (nothing was written)'}`,
        written ? 'headers' : 'write',
        written,
        cause ?? undefined,
      );
    }
    return new SocketResetError(`connection ${what} before the response head`, written ? 'headers' : 'write', written, cause ?? undefined);
  }

  /** A reused connection answered `408` and closed: the keep-alive race (see `onHead`). */
  private staleAfter408(ex: Exchange, cause: Error | null): StaleConnectionError {
    return new StaleConnectionError(
      `reused connection answered 408 Request Timeout and closed${ex.held ? ' behind it' : ''} (the request was written and may have been processed)`,
      'headers',
      true,
      cause ?? undefined,
    );
  }

  // --- parser events -------------------------------------------------------------------------

  private onInformational(head: ResponseHead): void {
    const ex = this.ex;
    if (ex !== null && head.status === 100 && ex.awaitingContinue) this.sendBodyAfterContinue(ex);
  }

  private onHead(head: ResponseHead): void {
    const ex = this.ex;
    if (ex === null || ex.responseDone) {
      // A second response in the read that completed the first (or behind a held 408): nobody
      // asked for it, and the connection is out of step.
      if (ex !== null) this.failExchange(ex, this.staleAfter408(ex, null));
      this.close('unsolicited-data');
      return;
    }
    ex.deadline = 0;
    if (ex.awaitingContinue) {
      // A final answer before the body was sent (417, 401, 413...): the body is never sent, so
      // the server cannot know where the next request would start. Retire the connection.
      ex.awaitingContinue = false;
      ex.bodySkipped = true;
      if (ex.continueTimer !== null) clearTimeout(ex.continueTimer);
      ex.requestDone = true;
    }
    ex.keepAlive = head.keepAlive;
    if (head.status === 408 && ex.reused) {
      // A 408 on a reused connection is the keep-alive race seen from the server's side: its
      // idle timer fired as our request arrived, and it answered the request it gave up waiting
      // for before closing (node:http sends `408` + `Connection: close`; golang/go#32310 shows
      // Google's front ends doing the same). RFC 9110 §15.5.9 lets the client repeat the request
      // on a new connection, so it becomes the stale-connection error and the usual safe-retry
      // rules decide. Go's Transport handles only the idle half of this: a 408 read while no
      // request is outstanding closes the connection as `errServerClosedIdle`, which
      // `shouldRetryRequest` retries (transport.go `readLoopPeekFailLocked` / `is408Message`);
      // a 408 that crosses a request goes to the caller (golang/go#39063, still open).
      // Chromium retries every 408 on a reused socket (codereview 303443011), Firefox one within
      // 1 s of the write (bug 907800). Here it must also be the server's last word (`close`, or
      // EOF before the head is handed out), so that an application's own 408 on a connection
      // it keeps open still reaches the caller. The error says the request may have been
      // processed (that 408 may be the application's): a POST is not silently repeated.
      if (!head.keepAlive) {
        this.failExchange(ex, this.staleAfter408(ex, null));
        this.close('connection-close');
        return;
      }
      ex.held = true;
    }
    if (head.status === 101) {
      // Protocol upgrades are not supported by this client: hand over the head, retire.
      const res = new ClientResponse({ status: 101, statusText: head.reason, headers: head.headers, body: null, url: ex.req.url });
      this.ex = null;
      ex.resolve(res);
      this.close('not-reusable');
      return;
    }
    const body = new ResponseBody(this);
    const res = new ClientResponse({ status: head.status, statusText: head.reason, headers: head.headers, body, url: ex.req.url });
    res.reusedConnection = ex.reused;
    ex.response = res;
    if (head.framing.kind !== 'none' && ex.timeouts.body > 0) {
      ex.deadlinePhase = PHASE_BODY;
      this.armDeadline(ex, ex.timeouts.body);
    }
    if (!ex.held) this.deliverHead(ex, res);
  }

  /** Hands the response head to the caller. */
  private deliverHead(ex: Exchange, res: ClientResponse): void {
    ex.held = false;
    if (requestHeadersChannel.hasSubscribers) {
      requestHeadersChannel.publish({ request: ex.req.diagnostics, response: res, connectionId: this.id, reused: ex.reused });
    }
    ex.resolve(res);
  }

  private onBody(chunk: Buffer): void {
    const ex = this.ex;
    // Settled inside `onHead` (a 408 the server closes after): the rest of the read is moot.
    if (ex === null) return;
    const res = ex.response!;
    // A held 408 with a large body is not a server timing the connection out.
    if (ex.held && res.body.bytesReceived + chunk.length > HELD_408_BODY_LIMIT) this.deliverHead(ex, res);
    res.body.push(chunk);
  }

  private onComplete(trailers: HeaderList | null): void {
    const ex = this.ex;
    if (ex === null) return;
    ex.responseDone = true;
    const res = ex.response!;
    res.trailers = trailers;
    ex.deadline = 0;
    if (!ex.requestDone) {
      // The server answered before reading all of the request (an early 413): stop sending; the
      // connection is out of step and is retired.
      ex.bodySkipped = true;
      ex.requestDone = true;
    }
    if (ex.held) {
      // One turn for the FIN that closes a timed-out connection right after its 408: `onEnd`
      // or `onClose` then settle the exchange as stale; otherwise the 408 is the answer.
      void pollTurn().then(() => {
        if (this.ex !== ex) return;
        this.deliverHead(ex, res);
        this.endExchange(ex, res);
      });
      return;
    }
    this.endExchange(ex, res);
  }

  /** The response ended where its framing said: release the connection, end the body. */
  private endExchange(ex: Exchange, res: ClientResponse): void {
    this.finishExchange(ex);
    if (requestBodyDoneChannel.hasSubscribers) {
      requestBodyDoneChannel.publish({ request: ex.req.diagnostics, response: res, bytes: res.body.bytesReceived });
    }
    res.body.end();
  }

  /** Both directions are done: decide whether the connection returns to the pool. */
  private finishExchange(ex: Exchange): void {
    if (this.ex !== ex) return;
    this.ex = null;
    ex.deadline = 0;
    if (ex.continueTimer !== null) clearTimeout(ex.continueTimer);
    if (this.state !== 'busy') return;
    const reason = this.reuseVerdict(ex);
    if (reason !== null) {
      this.close(reason);
      return;
    }
    this.state = 'idle';
    this.owner.release(this);
  }

  /** `null` when the connection may be reused; otherwise why not. Sets the idle deadline. */
  private reuseVerdict(ex: Exchange): CloseReason | null {
    if (this.retireAfterExchange !== null) return this.retireAfterExchange;
    if (!ex.keepAlive) return 'connection-close';
    if (ex.bodySkipped) return 'not-reusable';
    if (!this.parser.idle) return 'unsolicited-data';
    const headers = ex.response!.headers;
    let idleMs = this.settings.idleTimeout;
    const hintValue = headers.get('keep-alive');
    if (hintValue !== undefined) {
      const hint = parseKeepAlive(hintValue);
      if (hint.timeout !== undefined) {
        // A hint at or below the margin leaves no safe window at all.
        const ms = hint.timeout * 1000 - this.settings.keepAliveMargin;
        if (ms <= 0) return 'keep-alive-hint';
        idleMs = ms;
      }
      if (hint.max !== undefined) {
        if (hint.max <= 0) return 'max-requests';
        this.remainingRequests = hint.max;
      }
    }
    if (this.remainingRequests <= 0) return 'max-requests';
    if (idleMs > this.settings.maxIdleTimeout) idleMs = this.settings.maxIdleTimeout;
    this.idleDeadline = performance.now() + idleMs;
    if (this.idleTimer === null || this.idleTimerMs !== idleMs) {
      if (this.idleTimer !== null) clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(this.onIdleTimeout, idleMs);
      this.idleTimer.unref();
      this.idleTimerMs = idleMs;
    } else {
      this.idleTimer.refresh();
    }
    return null;
  }

  /** Settles the exchange with an error: rejects the head promise or fails the body. */
  private failExchange(ex: Exchange, err: ClientError): void {
    if (this.ex !== ex) return;
    this.ex = null;
    ex.deadline = 0;
    if (ex.continueTimer !== null) clearTimeout(ex.continueTimer);
    // A held head was never handed out: its promise is still the caller's.
    if (ex.headDelivered) {
      const res = ex.response!;
      // The head went out, so the agent has no say any more: a tracer learns of a truncated,
      // timed-out or aborted body only here. Not when the consumer cancelled it first (`fail`
      // returns false): that is no failure of the request.
      if (res.body.fail(err) && requestErrorChannel.hasSubscribers) {
        requestErrorChannel.publish({ request: ex.req.diagnostics, error: err, response: res });
      }
    } else {
      ex.reject(err);
    }
  }

  /** Aborts the exchange in flight (caller's signal, request timeout) and closes. */
  abort(err: ClientError, reason: CloseReason): void {
    const ex = this.ex;
    if (ex !== null) this.failExchange(ex, err);
    this.close(reason);
  }

  /** Aborts the exchange of `req` if it is still in flight here (not a later one). */
  abortIf(req: OutgoingRequest, err: ClientError): void {
    const ex = this.ex;
    if (ex === null || ex.req !== req) return;
    this.failExchange(ex, err);
    this.close('aborted');
  }

  /** How far the exchange of `req` got (for the phase of abort and timeout errors). */
  progressOf(req: OutgoingRequest): { phase: 'write' | 'headers' | 'body'; written: boolean } {
    const ex = this.ex;
    if (ex === null || ex.req !== req) return { phase: 'body', written: true };
    if (ex.headDelivered) return { phase: 'body', written: true };
    return { phase: ex.requestDone ? 'headers' : 'write', written: ex.written };
  }

  /** Whether an exchange is in flight. */
  get inFlight(): boolean {
    return this.ex !== null;
  }

  /** Whether the current exchange wrote anything yet (for abort errors). */
  get wroteRequest(): boolean {
    return this.ex !== null && this.ex.written;
  }

  /** Close once the current exchange is over (graceful); at once when idle. */
  retire(reason: CloseReason): void {
    if (this.state === 'busy') this.retireAfterExchange = reason;
    else this.close(reason);
  }

  /** Closes the connection now. Idempotent. */
  close(reason: CloseReason): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.closeReason = reason;
    const wasConnecting = this.state === 'connecting';
    this.state = 'closing';
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.clearDeadlineTimer();
    const ex = this.ex;
    if (ex !== null) {
      const phase = ex.headDelivered ? 'body' : ex.written ? 'headers' : 'write';
      const processed = ex.written || ex.response !== null;
      const err = reason === 'destroyed'
        ? new PoolClosedError('the agent was destroyed during the request', processed, phase)
        : new SocketResetError(`connection closed (${reason})`, phase, processed);
      this.failExchange(ex, err);
    }
    if (this.socket !== null) this.socket.destroy();
    else if (wasConnecting) this.onClose();
  }

  // --- BodySource: flow control from the response body ----------------------------------------

  pause(): void {
    const ex = this.ex;
    if (ex !== null && ex.deadline !== 0 && ex.deadlinePhase === PHASE_BODY) {
      // Not the server's fault while we are not reading.
      ex.deadline = 0;
      ex.bodyTimerPaused = true;
    }
    this.socket?.pause();
  }

  resume(): void {
    const ex = this.ex;
    if (ex !== null && ex.bodyTimerPaused && ex.timeouts.body > 0) {
      ex.bodyTimerPaused = false;
      ex.deadlinePhase = PHASE_BODY;
      this.armDeadline(ex, ex.timeouts.body);
    }
    this.socket?.resume();
  }

  cancel(reason: Error): void {
    void reason;
    if (this.ex !== null) this.close('aborted');
  }

  /** Replaces the owner (used by the pool when handing a connection over). */
  setOwner(owner: ConnectionOwner): void {
    this.owner = owner;
  }
}

function waitDrain(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      socket.removeListener('drain', done);
      socket.removeListener('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
