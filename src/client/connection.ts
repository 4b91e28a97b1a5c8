/**
 * One client connection and its state machine:
 *
 * ```
 * connecting ──> reserved ──> busy ──> idle ──> reserved ──> busy ... ──> closing ──> closed
 *                  │  │         │        │
 *                  │  └──> idle (its request was given up before a byte was written)
 *                  └────────────┴────────┴──> closing (peer FIN/RST/stray bytes, timeout, error)
 * ```
 *
 * - `idle`: in the pool. Any socket event here means the connection is dead (FIN, RST, or bytes
 *   nobody asked for, such as a server's unsolicited `408`): it is evicted at once.
 * - `reserved`: checked out for a request that is not written yet (the pool gives pending socket
 *   events a turn of the event loop here). Socket events are treated as in `idle`.
 * - `busy`: one exchange in flight. Requests are never pipelined.
 * - `closing`: the socket is being destroyed; `closed` once its `close` event fired (a socket
 *   that closes by itself goes to `closed` from any state).
 * - A `101 Switching Protocols` answering a request sent as an upgrade (`OutgoingRequest.upgrade`)
 *   takes `busy` straight to `closed` (reason `upgraded`): the socket, with the bytes read past the
 *   101, belongs to the caller from then on, and the pool no longer counts it.
 *
 * While `busy`, the exchange has a writing and a reading state (hyper's `Writing` and
 * `Reading`), each moving one way:
 *
 * ```
 * writing:  init ──> [continue ──>] [body ──>] done       continue, body ──> abandoned
 * reading:  init ──> head ──> body ──> done                head ──> held ──> held-done ──> done
 *                                                          held ──> body (a large 408 body)
 * ```
 *
 * The connection may carry another request only from (`done`, `done`), with keep-alive not
 * disabled (`Connection: close`, a `retire()`): see `reuseVerdict`. Everything else closes it,
 * and the close reason says why. Only the transition methods write these states, and each
 * asserts the state it starts from.
 *
 * Socket listeners are attached once for the connection's life and dispatch on the state, so
 * no event can fall into a gap between a listener being removed and another being added.
 */
import assert from 'node:assert';
import type { Socket } from 'node:net';
import { ResponseParser, TruncatedMessageError, parseKeepAlive } from '../wire/index.ts';
import type { ResponseHead, HeaderList, KeepAliveHint } from '../wire/index.ts';
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

/** The transitions `ClientConnection.enter` accepts, from each state. */
const NEXT_STATES: Readonly<Record<ClientConnectionState, readonly ClientConnectionState[]>> = {
  connecting: ['reserved', 'closing'],
  reserved: ['busy', 'idle', 'closing', 'closed'],
  busy: ['idle', 'closing', 'closed'],
  idle: ['reserved', 'closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

/**
 * How far the request got onto the wire.
 *
 * - `init`: nothing handed to the socket yet; the request can go elsewhere whatever its method.
 * - `continue`: the head is sent with `Expect: 100-continue`; the body waits for `100` or the
 *   expect-continue timeout.
 * - `body`: the head is sent; the body is streaming.
 * - `done`: the whole request is handed to the socket, and the server knows where it ends.
 * - `abandoned`: a final response came before the body was sent (or finished): the body is
 *   never sent, so the server cannot know where a next request would start (hyper's
 *   `Writing::Closed`).
 */
type Writing = 'init' | 'continue' | 'body' | 'done' | 'abandoned';

/**
 * How far the response got.
 *
 * - `init`: no response byte yet. A reused connection lost here is the keep-alive race.
 * - `head`: response bytes arrived (perhaps `1xx` heads); no final head yet.
 * - `body`: the final head is handed to the caller; its body is arriving.
 * - `held`: a `408` on a reused connection whose server did not say it closes: its head is not
 *   handed out until its body ended and one liveness turn passed, so that a FIN right behind it
 *   turns it into the stale-connection error it is (see `onHead`).
 * - `held-done`: that `408` ended; waiting out the liveness turn.
 * - `done`: the response was read to the end its framing gave.
 */
type Reading = 'init' | 'head' | 'body' | 'held' | 'held-done' | 'done';

/**
 * What the exchange's deadline watches: the response head, the next body bytes, or nothing
 * while the consumer is not reading the body (not the server's fault; re-armed by `resume`).
 */
type DeadlinePhase = 'headers' | 'body' | 'body-paused';

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
  | 'destroyed'
  | 'upgraded';

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
  /** Told of each interim (1xx) response before the final one; null: nobody listens. */
  onInformational?: ((status: number, headers: HeaderList) => void) | null;
  /** The request asks for a protocol upgrade: a 101 hands the socket to the caller. */
  upgrade?: boolean;
}

/** The socket of a connection that switched protocols, with the bytes read after the 101. */
export interface SwitchedSocket {
  readonly socket: Socket;
  readonly head: Buffer;
}

let nextConnectionId = 1;

/**
 * Body bytes of a held `408` (see `Exchange.held`) buffered before it is delivered anyway. A
 * server timing out a connection sends a short page, not a body worth holding back.
 */
const HELD_408_BODY_LIMIT = 64 * 1024;

/**
 * State of the one exchange in flight. Its `writing` and `reading` states are written only by
 * the connection's transition methods.
 */
class Exchange {
  readonly req: OutgoingRequest;
  readonly timeouts: ExchangeTimeouts;
  readonly reused: boolean;
  resolve: (res: ClientResponse) => void;
  reject: (err: ClientError) => void;
  /** The response, from its final head on (also while that head is held). */
  response: ClientResponse | null = null;
  writing: Writing = 'init';
  reading: Reading = 'init';
  /**
   * `performance.now()` by which the current phase must progress, or 0 for none. Enforced by
   * the connection's one lazily re-armed timer (see `ClientConnection.armDeadline`), not a timer
   * per request.
   */
  deadline = 0;
  deadlinePhase: DeadlinePhase = 'headers';
  continueTimer: NodeJS.Timeout | null = null;

  /** Some request byte was handed to the socket. */
  get written(): boolean {
    return this.writing !== 'init';
  }

  /** Nothing more of the request will be written (all of it was, or the body is abandoned). */
  get requestOver(): boolean {
    return this.writing === 'done' || this.writing === 'abandoned';
  }

  /** The response ended (a held 408 included). */
  get responseOver(): boolean {
    return this.reading === 'done' || this.reading === 'held-done';
  }

  /** A 408's head is held back (see `Reading`). */
  get held(): boolean {
    return this.reading === 'held' || this.reading === 'held-done';
  }

  /** The caller has the response head (a held 408 does not count until it is handed out). */
  get headDelivered(): boolean {
    return this.reading === 'body' || this.reading === 'done';
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
  private lifecycle: ClientConnectionState = 'connecting';
  private exchanges = 0;
  private idleUntil = 0;
  private closedFor: CloseReason | null = null;
  private sock: Socket | null = null;
  private owner: ConnectionOwner;
  private readonly settings: ConnectionSettings;
  private readonly parser: ResponseParser;
  private ex: Exchange | null = null;
  private lastError: Error | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleTimerMs = -1;
  /** Requests the server still accepts (`Keep-Alive: max`). */
  private remainingRequests = Infinity;
  /**
   * Keep-alive is disabled (hyper's `KA::Disabled`): the connection closes, for this reason,
   * when the current exchange is over instead of returning to the pool. Set by the response's
   * `Connection: close` and by `retire()`; the first `retire()` reason wins over the response's.
   */
  private keepAliveOff: CloseReason | null = null;
  private readonly onIdleTimeout = (): void => {
    if (this.lifecycle === 'idle') this.close('idle-timeout');
  };
  /** The one timer enforcing `Exchange.deadline`, and when it fires (`performance.now()`). */
  private deadlineTimer: NodeJS.Timeout | null = null;
  private deadlineTimerAt = 0;
  private readonly onDeadlineTimer = (): void => this.checkDeadline();
  /** A 101 answering an upgrade request, handed over once the parser has kept what followed it. */
  private switching: ClientResponse | null = null;
  private readonly onSocketData = (chunk: Buffer): void => this.onData(chunk);
  private readonly onSocketEnd = (): void => this.onEnd();
  private readonly onSocketError = (err: Error): void => {
    this.lastError = err;
  };
  private readonly onSocketClose = (): void => this.onClose();

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

  /** The connection's state (see the module comment); changed only by its own transitions. */
  get state(): ClientConnectionState {
    return this.lifecycle;
  }

  /** Exchanges started on this connection; > 0 means the next one runs on a reused connection. */
  get requestCount(): number {
    return this.exchanges;
  }

  /** `performance.now()` after which this idle connection must not be reused. */
  get idleDeadline(): number {
    return this.idleUntil;
  }

  /** Why the connection closed (or is closing). */
  get closeReason(): CloseReason | null {
    return this.closedFor;
  }

  /** The connected socket, once attached. */
  get socket(): Socket | null {
    return this.sock;
  }

  /** The one writer of `state`: asserts that `next` may follow the current state. */
  private enter(next: ClientConnectionState): void {
    if (!NEXT_STATES[this.lifecycle].includes(next)) assert.fail(`client connection: no transition from ${this.lifecycle} to ${next}`);
    // An idle connection must not keep the process alive (as with Node's http.Agent and undici):
    // a script whose last request is done exits now, not when the idle timer fires.
    if (next === 'idle') this.sock?.unref();
    else if (this.lifecycle === 'idle') this.sock?.ref();
    this.lifecycle = next;
  }

  /** Attaches the connected socket; the connection becomes `reserved` for its first request. */
  attach(socket: Socket): void {
    assert(this.sock === null, 'client connection: a socket is attached already');
    this.sock = socket;
    socket.setNoDelay(true);
    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    if (this.lifecycle === 'connecting') this.enter('reserved');
  }

  /** Whether this connection has served a request before (the next one is a reuse). */
  get reused(): boolean {
    return this.exchanges > 0;
  }

  /** Whether the connection is usable right now (checked at checkout). */
  isReusable(now: number): boolean {
    const s = this.sock;
    return this.lifecycle === 'idle' && s !== null && !s.destroyed && !s.readableEnded && now < this.idleUntil;
  }

  /** Checks an idle connection out of the pool for one request: `idle` → `reserved`. */
  reserve(): void {
    assert(this.lifecycle === 'idle', 'client connection: only an idle connection can be reserved');
    this.enter('reserved');
  }

  /**
   * Returns a reserved connection whose request was given up before anything was written:
   * `reserved` → `idle`. A connection that never carried a request gets the default idle
   * lifetime. Returns false (and changes nothing) when the connection is not reserved any more
   * (it was evicted meanwhile).
   */
  unreserve(): boolean {
    if (this.lifecycle !== 'reserved') return false;
    this.enter('idle');
    if (this.idleUntil === 0) this.idleUntil = performance.now() + this.settings.idleTimeout;
    return true;
  }

  /**
   * Sends one request and resolves with the response once its head arrived. Rejects with a
   * `ClientError` telling whether any byte was written and whether any response byte arrived.
   */
  exchange(req: OutgoingRequest, timeouts: ExchangeTimeouts): Promise<ClientResponse> {
    return new Promise<ClientResponse>((resolve, reject) => {
      assert(this.ex === null, 'client connection: an exchange is in flight already');
      const reused = this.exchanges > 0;
      const ex = new Exchange(req, timeouts, reused, resolve, reject);
      this.ex = ex;
      this.exchanges++;
      if (this.remainingRequests !== Infinity) this.remainingRequests--;
      if (this.lifecycle !== 'reserved') {
        // Closed between checkout and now (the agent destroyed in the same tick): nothing was
        // written, and the close already has its reason.
        assert(this.lifecycle === 'closing' || this.lifecycle === 'closed', 'client connection: exchange on a connection that was not reserved');
        this.failExchange(ex, this.connectionLostError(ex, this.lastError));
        return;
      }
      this.enter('busy');
      const socket = this.sock!;
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
    assert(ex.writing === 'init', 'client connection: request written twice');
    const req = ex.req;
    const body = req.body;
    if (body === null || (body.bytes !== null && body.bytes.length === 0)) {
      socket.write(req.head, 'latin1');
      this.requestWritten(ex);
      return;
    }
    if (req.expectContinue) {
      socket.write(req.head, 'latin1');
      ex.writing = 'continue';
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
    ex.writing = 'body';
    void this.streamBody(ex, socket, body);
  }

  /** `100 Continue` arrived or its wait timed out: `continue` → `body` (or `done`). */
  private sendBodyAfterContinue(ex: Exchange): void {
    if (this.ex !== ex || ex.writing !== 'continue') return;
    if (ex.continueTimer !== null) {
      clearTimeout(ex.continueTimer);
      ex.continueTimer = null;
    }
    const body = ex.req.body!;
    const socket = this.sock!;
    if (body.bytes !== null && !ex.req.chunked) {
      socket.write(body.bytes);
      this.requestWritten(ex);
    } else {
      ex.writing = 'body';
      void this.streamBody(ex, socket, body);
    }
  }

  /** Writes a streamed body, honouring backpressure; chunked unless its length is known. */
  private async streamBody(ex: Exchange, socket: Socket, body: OutgoingBody): Promise<void> {
    const chunked = ex.req.chunked;
    let sent = 0;
    try {
      for await (const piece of body.open()) {
        // A final response came first (`abandoned`), or the exchange is over: stop sending.
        if (this.ex !== ex || ex.writing !== 'body') return;
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
      if (this.ex !== ex || ex.writing !== 'body') return;
      if (chunked) socket.write(encodeLastChunk());
      else if (body.length !== null && sent !== body.length) {
        throw new Error(`request body stream produced ${sent} bytes but its length is ${body.length}`);
      }
      this.requestWritten(ex);
    } catch (err) {
      if (this.ex !== ex) return;
      this.failExchange(ex, new RequestBodyError(`request body failed: ${(err as Error).message}`, true, err));
      this.close('error');
    }
  }

  /** The whole request is on its way (`init`/`continue`/`body` → `done`): wait for the head. */
  private requestWritten(ex: Exchange): void {
    // A response that ends first abandons the rest of the request (`onComplete`), so no write
    // can complete after it.
    assert(ex.writing === 'init' || ex.writing === 'continue' || ex.writing === 'body', 'client connection: request completed twice');
    assert(!ex.responseOver, 'client connection: request completed after its response');
    ex.writing = 'done';
    if (ex.response === null && ex.timeouts.headers > 0) {
      ex.deadlinePhase = 'headers';
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
    if (ex.deadlinePhase === 'headers') {
      // The head disarms its deadline (`onHead`).
      assert(ex.reading === 'init' || ex.reading === 'head', 'client connection: headers deadline armed past the head');
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
    if (ex === null || this.lifecycle !== 'busy') {
      // Nobody asked: a server's unsolicited 408 or garbage. The connection is out of step.
      if (this.lifecycle === 'idle' || this.lifecycle === 'reserved') this.close('unsolicited-data');
      return;
    }
    if (ex.responseOver) {
      // Bytes behind a held 408, during its turn: the server is out of step with us.
      this.failExchange(ex, this.staleAfter408(ex, null));
      this.close('unsolicited-data');
      return;
    }
    if (ex.reading === 'init') ex.reading = 'head';
    // Body idle timeout: data arrived, the clock restarts (the timer itself is left alone).
    if (ex.deadline !== 0 && ex.deadlinePhase === 'body') ex.deadline = performance.now() + ex.timeouts.body;
    try {
      this.parser.execute(chunk);
    } catch (err) {
      this.onParseError(err);
      return;
    }
    if (this.switching !== null) {
      this.handOver(ex, this.switching);
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
    if (ex === null || this.lifecycle !== 'busy') {
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
    const reason = this.closedFor ?? (this.lastError !== null ? 'peer-reset' : 'peer-closed');
    this.closedFor = reason;
    this.enter('closed');
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.clearDeadlineTimer();
    if (connectionClosedChannel.hasSubscribers) {
      connectionClosedChannel.publish({ connectionId: this.id, origin: this.origin, reason, requestCount: this.exchanges, error: this.lastError });
    }
    this.owner.closed(this, reason);
  }

  /** The error for a connection that died before any response head. */
  private connectionLostError(ex: Exchange, cause: Error | null): ClientError {
    const written = ex.written;
    const what = cause !== null ? `${(cause as NodeJS.ErrnoException).code ?? cause.message}` : 'closed by the server';
    if (ex.reused && ex.reading === 'init') {
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
    if (ex === null) return;
    if (head.status === 100 && ex.writing === 'continue') this.sendBodyAfterContinue(ex);
    // 101 is never interim here: the parser hands Switching Protocols over as a final head.
    ex.req.onInformational?.(head.status, head.headers);
  }

  private onHead(head: ResponseHead): void {
    const ex = this.ex;
    if (ex === null || ex.responseOver) {
      // A second response in the read that completed the first (or behind a held 408): nobody
      // asked for it, and the connection is out of step.
      if (ex !== null) this.failExchange(ex, this.staleAfter408(ex, null));
      this.close('unsolicited-data');
      return;
    }
    // Every response byte goes through `onData`, which leaves `init` before the parser runs.
    assert(ex.reading === 'head', 'client connection: a second final head in one response');
    ex.deadline = 0;
    if (ex.writing === 'continue') {
      // A final answer before the body was sent (417, 401, 413...): the body is never sent, so
      // the server cannot know where the next request would start. Retire the connection.
      ex.writing = 'abandoned';
      if (ex.continueTimer !== null) clearTimeout(ex.continueTimer);
    }
    if (!head.keepAlive) this.keepAliveOff ??= 'connection-close';
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
      ex.reading = 'held';
    }
    if (head.status === 101 && ex.req.upgrade === true) {
      // The socket goes to the caller once this read is parsed: what follows the 101 in it is
      // the new protocol's, and the parser holds it until then.
      this.switching = new ClientResponse({ status: 101, statusText: head.reason, headers: head.headers, body: null, url: ex.req.url });
      return;
    }
    if (head.status === 101) {
      // An upgrade nobody asked for: hand over the head, retire (the bytes after it are not HTTP).
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
      ex.deadlinePhase = 'body';
      this.armDeadline(ex, ex.timeouts.body);
    }
    if (ex.reading === 'head') this.deliverHead(ex, res);
  }

  /**
   * `busy` → `closed` (reason `upgraded`): the socket leaves this connection and the pool, with no
   * listener, timer or pause of ours left on it, and the bytes read after the 101 as `head`.
   */
  private handOver(ex: Exchange, res: ClientResponse): void {
    assert(this.lifecycle === 'busy' && this.ex === ex, 'client connection: switching protocols outside an exchange');
    const socket = this.sock!;
    this.switching = null;
    this.ex = null;
    this.clearDeadlineTimer();
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    socket.removeListener('data', this.onSocketData);
    socket.removeListener('end', this.onSocketEnd);
    // The error listener stays (it only records): an error before the new owner listens must not
    // become an uncaught exception.
    socket.removeListener('close', this.onSocketClose);
    const head = this.parser.upgradeBuffer ?? Buffer.alloc(0);
    this.parser.upgradeBuffer = null;
    this.closedFor = 'upgraded';
    this.enter('closed');
    if (connectionClosedChannel.hasSubscribers) {
      connectionClosedChannel.publish({ connectionId: this.id, origin: this.origin, reason: 'upgraded', requestCount: this.exchanges, error: null });
    }
    this.owner.closed(this, 'upgraded');
    switchedSockets.set(res, { socket, head });
    ex.resolve(res);
  }

  /** Hands the response head to the caller: `head`/`held` → `body`, `held-done` → `done`. */
  private deliverHead(ex: Exchange, res: ClientResponse): void {
    assert(ex.reading === 'head' || ex.held, 'client connection: response head delivered twice');
    ex.reading = ex.reading === 'held-done' ? 'done' : 'body';
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
    if (ex.reading === 'held' && res.body.bytesReceived + chunk.length > HELD_408_BODY_LIMIT) this.deliverHead(ex, res);
    res.body.push(chunk);
  }

  private onComplete(trailers: HeaderList | null): void {
    const ex = this.ex;
    if (ex === null) return;
    assert(ex.reading === 'body' || ex.reading === 'held', 'client connection: response completed without a head');
    ex.reading = ex.reading === 'held' ? 'held-done' : 'done';
    const res = ex.response!;
    res.trailers = trailers;
    ex.deadline = 0;
    if (!ex.requestOver) {
      // The server answered before reading all of the request (an early 413): stop sending; the
      // connection is out of step and is retired.
      ex.writing = 'abandoned';
    }
    if (ex.reading === 'held-done') {
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
    if (this.lifecycle !== 'busy') return;
    const reason = this.reuseVerdict(ex);
    if (reason !== null) {
      this.close(reason);
      return;
    }
    this.enter('idle');
    this.owner.release(this);
  }

  /**
   * `null` when the connection may be reused; otherwise why not. Sets the idle deadline. Only a
   * response read to its end behind a request written to its end leaves both sides in step:
   * hyper's `(Reading::KeepAlive, Writing::KeepAlive)`.
   */
  private reuseVerdict(ex: Exchange): CloseReason | null {
    if (this.keepAliveOff !== null) return this.keepAliveOff;
    assert(ex.reading === 'done', 'client connection: exchange finished before its response');
    switch (ex.writing) {
      case 'done':
        break;
      case 'abandoned':
        return 'not-reusable';
      default:
        assert.fail(`client connection: exchange finished while writing (${ex.writing})`);
    }
    if (!this.parser.idle) return 'unsolicited-data';
    const headers = ex.response!.headers;
    let idleMs = this.settings.idleTimeout;
    const hintValue = headers.get('keep-alive');
    if (hintValue !== undefined) {
      const hint = keepAliveHint(hintValue);
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
    this.idleUntil = performance.now() + idleMs;
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
    return { phase: ex.requestOver ? 'headers' : 'write', written: ex.written };
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
    if (this.lifecycle === 'busy') this.keepAliveOff = reason;
    else this.close(reason);
  }

  /** Closes the connection now. Idempotent. */
  close(reason: CloseReason): void {
    if (this.lifecycle === 'closing' || this.lifecycle === 'closed') return;
    this.closedFor = reason;
    const wasConnecting = this.lifecycle === 'connecting';
    this.enter('closing');
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
    if (this.sock !== null) this.sock.destroy();
    else if (wasConnecting) this.onClose();
  }

  // --- BodySource: flow control from the response body ----------------------------------------

  pause(): void {
    const ex = this.ex;
    if (ex !== null && ex.deadline !== 0 && ex.deadlinePhase === 'body') {
      // Not the server's fault while we are not reading.
      ex.deadline = 0;
      ex.deadlinePhase = 'body-paused';
    }
    this.sock?.pause();
  }

  resume(): void {
    const ex = this.ex;
    if (ex !== null && ex.deadlinePhase === 'body-paused' && ex.timeouts.body > 0) {
      ex.deadlinePhase = 'body';
      this.armDeadline(ex, ex.timeouts.body);
    }
    this.sock?.resume();
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

/** The sockets of 101 responses, until their upgrade caller takes them (see `takeSwitchedSocket`). */
const switchedSockets = new WeakMap<ClientResponse, SwitchedSocket>();

/** The socket a 101 response handed over (once: a second call returns null). */
export function takeSwitchedSocket(res: ClientResponse): SwitchedSocket | null {
  const s = switchedSockets.get(res) ?? null;
  switchedSockets.delete(res);
  return s;
}

/**
 * `parseKeepAlive`, remembering the last value: a server sends the same `Keep-Alive` line on every
 * response, and parsing it again per response is work for nothing. The hint is only read.
 */
function keepAliveHint(value: string): Readonly<KeepAliveHint> {
  if (value !== lastHintValue) {
    lastHint = parseKeepAlive(value);
    lastHintValue = value;
  }
  return lastHint;
}
let lastHintValue = '';
let lastHint: Readonly<KeepAliveHint> = {};

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
