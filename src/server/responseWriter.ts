/**
 * The response half of one exchange, written straight to the socket with backpressure. The
 * writer owns framing: it chooses Content-Length, chunked or close-delimited, adds the
 * connection-management fields, and refuses to let a handler produce bytes that would
 * desynchronise the connection (more or fewer bytes than the Content-Length it announced).
 */
import { encodeLastChunk, HeaderList } from '../wire/index.ts';
import { serializeFieldLine, serializeStatusLine } from '../wire/serializer.ts';
import { isLengthValue, statusHasNoBody } from '../wire/framing.ts';
import { hasToken } from '../wire/fields.ts';
import { trimOws } from '../wire/chars.ts';
import { currentHttpDate } from '../wire/httpDate.ts';
import type { HeaderInit } from '../wire/index.ts';
import { ServerError } from './errors.ts';
import type { ServerRequest } from './serverRequest.ts';
import type { Socket } from 'node:net';

/** What a writer needs from its connection. */
export interface ResponseSink {
  /** Writes bytes; returns false when the socket's buffer is above its high-water mark. */
  writeRaw(data: string | Uint8Array, encoding?: BufferEncoding): boolean;
  cork(): void;
  uncork(): void;
  /** Resolves when the socket drains; rejects if the connection is lost first. */
  waitDrain(): Promise<void>;
  /** Decides, when the head is written, whether the connection may carry another request. */
  decideKeepAlive(req: ServerRequest, responseAllows: boolean): boolean;
  /** The `Keep-Alive` header value advertised on persistent connections. */
  readonly keepAliveValue: string;
  /** Every byte of the response has been handed to the socket. */
  responseEnded(res: ResponseWriter): void;
  /** The response cannot be completed correctly: the connection must close without finishing it. */
  responseAborted(res: ResponseWriter, err: Error): void;
  /** The connection is gone; writes cannot reach the client. */
  readonly lost: boolean;
  /** The socket's buffer is above its high-water mark. */
  readonly needDrain: boolean;
  /** Writes the serialized 101 `head` and hands the socket over (throws when the request asked for no upgrade). */
  switchProtocols(res: ResponseWriter, head: string): SwitchedConnection;
}

/** The socket of a connection that switched protocols, with the bytes read after the request head. */
export interface SwitchedConnection {
  readonly socket: Socket;
  readonly head: Buffer;
}

/** Body chunk types the writer accepts. */
export type BodyChunk = string | Uint8Array;

const F_NONE = 0;
const F_LENGTH = 1;
const F_CHUNKED = 2;
const F_CLOSE = 3;

const RESOLVED = Promise.resolve();
const CRLF = '\r\n';
const NON_ASCII = /[^\x00-\x7f]/;

function byteLength(chunk: BodyChunk): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : chunk.byteLength;
}

/** Headers a handler may pass: a `HeaderList`, a web `Headers`, pairs, or a record. */
export type ResponseHeaders = HeaderInit | Headers;

/**
 * Writes one response. `writeHead` only records; the head goes out with the first body byte or
 * at `end`, so `end(body)` after `writeHead` sends head and body in one write with a
 * Content-Length.
 */
export class ResponseWriter {
  /** Status code to send (settable until the head is sent). */
  status = 200;
  /** Reason phrase; defaults to the standard one. */
  reason: string | undefined = undefined;
  private headerInit: ResponseHeaders | null = null;
  /** `headerInit` holds pairs whose names and values were already checked (`writeCheckedHead`). */
  private headerInitChecked = false;
  private headerList: HeaderList | null = null;
  private framing = F_NONE;
  private remaining = 0;
  private sentHead = false;
  private done = false;
  /** Whether the connection stays open after this response (known once the head is sent). */
  keepAlive = false;
  private readonly sink: ResponseSink;
  private readonly req: ServerRequest;
  private readonly versionMinor: number;

  constructor(sink: ResponseSink, req: ServerRequest) {
    this.sink = sink;
    this.req = req;
    this.versionMinor = req.versionMinor;
  }

  /** Whether the head has been written to the socket. */
  get headSent(): boolean {
    return this.sentHead;
  }

  /** Whether `end()` has completed the response. */
  get finished(): boolean {
    return this.done;
  }

  /** The request this response answers. */
  get request(): ServerRequest {
    return this.req;
  }

  /** Sets the status and headers (replacing any set before). Sends nothing yet. */
  writeHead(status: number, headers?: ResponseHeaders, reason?: string): this {
    if (this.sentHead) throw new ServerError('HF_SERVER_HEAD_SENT', 'the response head was already sent');
    if (!Number.isInteger(status) || status < 200 || status > 999) {
      throw new ServerError('HF_SERVER_INVALID_RESPONSE', `invalid final status ${status}`);
    }
    this.status = status;
    this.reason = reason;
    this.headerInit = headers ?? null;
    this.headerInitChecked = false;
    this.headerList = null;
    return this;
  }

  /**
   * `writeHead` with pairs whose names are tokens and whose values are trimmed, valid field values
   * (a `LightResponse`'s snapshot, checked when the handler built it): the head does not check
   * them a second time. @internal
   */
  writeCheckedHead(status: number, headers: readonly (readonly [string, string])[], reason?: string): this {
    this.writeHead(status, headers, reason);
    this.headerInitChecked = true;
    return this;
  }

  private list(): HeaderList {
    if (this.headerList === null) {
      const init = this.headerInit;
      this.headerList = init === null ? new HeaderList() : new HeaderList(init as HeaderInit);
      this.headerInit = null;
    }
    return this.headerList;
  }

  /** Replaces the field `name`. */
  setHeader(name: string, value: string): this {
    if (this.sentHead) throw new ServerError('HF_SERVER_HEAD_SENT', 'the response head was already sent');
    this.list().set(name, value);
    return this;
  }

  /** Adds a line of field `name` (for Set-Cookie and other repeatable fields). */
  appendHeader(name: string, value: string): this {
    if (this.sentHead) throw new ServerError('HF_SERVER_HEAD_SENT', 'the response head was already sent');
    this.list().append(name, value);
    return this;
  }

  /** A header set so far, or undefined. */
  getHeader(name: string): string | undefined {
    return this.list().get(name);
  }

  /** Sends a 1xx informational response (e.g. 103 Early Hints) before the final one. */
  writeInformational(status: number, headers?: ResponseHeaders): void {
    if (this.sentHead) throw new ServerError('HF_SERVER_HEAD_SENT', 'the response head was already sent');
    if (!Number.isInteger(status) || status < 100 || status > 199 || status === 101) {
      throw new ServerError('HF_SERVER_INVALID_RESPONSE', `invalid informational status ${status}`);
    }
    // HTTP/1.0 clients do not understand 1xx (RFC 9110 §15.2).
    if (this.versionMinor === 0) return;
    let head = serializeStatusLine(status);
    if (headers !== undefined) {
      for (const [name, value] of new HeaderList(headers as HeaderInit)) head += serializeFieldLine(name, value);
    }
    this.sink.writeRaw(`${head}\r\n`, 'latin1');
  }

  /**
   * Serializes and writes the head. `knownLength` is the whole body's size when `end(body)` is
   * the first write. Returns the head string (not yet written when `defer`).
   */
  private buildHead(knownLength: number): string {
    const status = this.status;
    let head = serializeStatusLine(status, this.reason);
    let userLength = -1;
    let hasDate = false;
    let wantsClose = false;
    let wantsTrailers = false;
    const fields: Iterable<readonly [string, string]> | null = this.headerList ?? this.headerInit as Iterable<readonly [string, string]> | null;
    // One line: checked and serialized, unless it is the server's business (framing, connection
    // management: a handler's own Transfer-Encoding or Keep-Alive could contradict the framing
    // actually used). `key` is the lower-cased name.
    // `checked`: the line is from a verified HeaderList (see `HeaderList.verified`).
    const addLine = (name: string, key: string, value: string, checked: boolean): void => {
      const line = serializeFieldLine(name, value, checked);
      if (key === 'content-length') {
        if (!isLengthValue(trimOws(value)) || (userLength !== -1 && userLength !== Number(value))) {
          throw new ServerError('HF_SERVER_INVALID_RESPONSE', `invalid Content-Length ${JSON.stringify(value)}`);
        }
        userLength = Number(value);
        return;
      }
      if (key === 'connection') {
        if (hasToken(value, 'close')) wantsClose = true;
        return;
      }
      if (key === 'transfer-encoding' || key === 'keep-alive') return;
      if (key === 'date') hasDate = true;
      else if (key === 'trailer') wantsTrailers = true;
      head += line;
    };
    if (fields instanceof HeaderList) {
      // A list (what a proxy hands over): by index, keys already lower-cased, no pair per line.
      const { names, keys, values } = fields.lines();
      const checked = fields.verified;
      for (let i = 0; i < names.length; i++) addLine(names[i]!, keys[i]!, values[i]!, checked);
    } else if (fields !== null) {
      const checked = this.headerInitChecked;
      const iterable = Symbol.iterator in fields ? fields : Object.entries(fields);
      for (const [name, raw] of iterable as Iterable<readonly [string, string | readonly string[] | undefined]>) {
        if (raw === undefined) continue;
        // Only the names compared below need lower-casing (4 to 17 characters).
        const key = name.length >= 4 && name.length <= 17 ? name.toLowerCase() : '';
        if (typeof raw === 'string') addLine(name, key, raw, checked);
        else for (const value of raw) addLine(name, key, value, false);
      }
    }
    const isHead = this.req.method === 'HEAD';
    const bodiless = statusHasNoBody(status);
    if (knownLength !== -1 && userLength !== -1 && knownLength !== userLength && !isHead && !bodiless) {
      throw new ServerError('HF_SERVER_CONTENT_LENGTH_MISMATCH', `Content-Length ${userLength} but the body has ${knownLength} bytes`);
    }
    let framing: number;
    if (bodiless) {
      framing = F_NONE;
      if (status === 304 && userLength !== -1) head += `Content-Length: ${userLength}\r\n`;
    } else if (isHead) {
      framing = F_NONE;
      // A HEAD response announces the length the GET response would have (RFC 9110 §9.3.2).
      const length = userLength !== -1 ? userLength : knownLength > 0 ? knownLength : -1;
      if (length !== -1) head += `Content-Length: ${length}\r\n`;
    } else if (userLength !== -1 || (knownLength !== -1 && !wantsTrailers)) {
      framing = F_LENGTH;
      this.remaining = userLength !== -1 ? userLength : knownLength;
      head += `Content-Length: ${this.remaining}\r\n`;
    } else if (this.versionMinor >= 1) {
      framing = F_CHUNKED;
      head += 'Transfer-Encoding: chunked\r\n';
    } else {
      // An HTTP/1.0 client knows no chunked coding: the end of the body is the end of the connection.
      framing = F_CLOSE;
    }
    this.framing = framing;
    const keepAlive = this.sink.decideKeepAlive(this.req, !wantsClose && framing !== F_CLOSE);
    this.keepAlive = keepAlive;
    if (!keepAlive) head += 'Connection: close\r\n';
    else if (this.versionMinor === 0) head += `Connection: keep-alive\r\nKeep-Alive: ${this.sink.keepAliveValue}\r\n`;
    else head += `Keep-Alive: ${this.sink.keepAliveValue}\r\n`;
    if (!hasDate) head += `Date: ${currentHttpDate()}\r\n`;
    this.sentHead = true;
    return head + CRLF;
  }

  private fail(err: Error): never {
    this.done = true;
    this.sink.responseAborted(this, err);
    throw err;
  }

  private writeHeadNow(): void {
    this.sink.writeRaw(this.buildHead(-1), 'latin1');
  }

  /**
   * Writes a body chunk (sending the head first if needed). Resolves at once while the socket
   * buffer is below its high-water mark, else when it drains: `await res.write(x)` is backpressure.
   */
  write(chunk: BodyChunk): Promise<void> {
    if (this.done) return Promise.reject(new ServerError('HF_SERVER_RESPONSE_ENDED', 'write after end'));
    if (this.sink.lost) return Promise.reject(new ServerError('HF_SERVER_CONNECTION_CLOSED', 'the connection was closed'));
    const size = byteLength(chunk);
    if (!this.sentHead) {
      this.sink.cork();
      try {
        this.writeHeadNow();
        if (size > 0) this.writeBody(chunk, size);
      } finally {
        this.sink.uncork();
      }
    } else if (size > 0) {
      if (!this.writeBody(chunk, size)) return this.sink.waitDrain();
    }
    return this.sink.needDrain ? this.sink.waitDrain() : RESOLVED;
  }

  /** Writes body bytes in the current framing; returns the socket's `write` result. */
  private writeBody(chunk: BodyChunk, size: number): boolean {
    switch (this.framing) {
      case F_NONE:
        return true;
      case F_LENGTH:
        if (size > this.remaining) {
          this.fail(new ServerError('HF_SERVER_CONTENT_LENGTH_MISMATCH', `body exceeds Content-Length by ${size - this.remaining} bytes`));
        }
        this.remaining -= size;
        return this.sink.writeRaw(chunk);
      case F_CHUNKED: {
        this.sink.cork();
        this.sink.writeRaw(`${size.toString(16)}\r\n`, 'latin1');
        this.sink.writeRaw(chunk);
        const ok = this.sink.writeRaw(CRLF, 'latin1');
        this.sink.uncork();
        return ok;
      }
      default:
        return this.sink.writeRaw(chunk);
    }
  }

  /**
   * Completes the response, optionally with a last chunk and trailers (sent only with chunked
   * framing). When nothing was written before, head and body go out in one write with a
   * Content-Length.
   */
  end(chunk?: BodyChunk | null, trailers?: HeaderInit): Promise<void> {
    if (this.done) return Promise.reject(new ServerError('HF_SERVER_RESPONSE_ENDED', 'end after end'));
    if (!this.sentHead) {
      if (this.sink.lost) {
        this.done = true;
        return Promise.reject(new ServerError('HF_SERVER_CONNECTION_CLOSED', 'the connection was closed'));
      }
      const body = chunk ?? '';
      const size = byteLength(body);
      if (trailers !== undefined && this.versionMinor >= 1) {
        // Trailers need chunked framing: send the head without a known length.
        return this.write(body).then(() => this.end(null, trailers));
      }
      const head = this.buildHead(size);
      this.done = true;
      const writesBody = this.framing === F_LENGTH && size > 0;
      if (!writesBody) {
        this.sink.writeRaw(head, 'latin1');
      } else if (typeof body === 'string') {
        // One write for head and body: one syscall, one TCP segment for small responses.
        if (NON_ASCII.test(head)) {
          this.sink.cork();
          this.sink.writeRaw(head, 'latin1');
          this.sink.writeRaw(body, 'utf8');
          this.sink.uncork();
        } else {
          this.sink.writeRaw(head + body, 'utf8');
        }
      } else if (size <= 16384) {
        const headLength = head.length;
        const out = Buffer.allocUnsafe(headLength + size);
        out.write(head, 0, headLength, 'latin1');
        out.set(body, headLength);
        this.sink.writeRaw(out);
      } else {
        this.sink.cork();
        this.sink.writeRaw(head, 'latin1');
        this.sink.writeRaw(body);
        this.sink.uncork();
      }
      this.remaining = 0;
      this.sink.responseEnded(this);
      return RESOLVED;
    }
    if (this.sink.lost) {
      this.done = true;
      return Promise.reject(new ServerError('HF_SERVER_CONNECTION_CLOSED', 'the connection was closed'));
    }
    const size = chunk === undefined || chunk === null ? 0 : byteLength(chunk);
    this.sink.cork();
    try {
      if (size > 0) this.writeBody(chunk!, size);
      if (this.framing === F_CHUNKED) {
        this.sink.writeRaw(encodeLastChunk(trailers === undefined ? undefined : new HeaderList(trailers)));
      } else if (this.framing === F_LENGTH && this.remaining > 0) {
        this.fail(new ServerError('HF_SERVER_CONTENT_LENGTH_MISMATCH', `body ended ${this.remaining} bytes short of its Content-Length`));
      }
    } finally {
      this.sink.uncork();
    }
    this.done = true;
    this.sink.responseEnded(this);
    return RESOLVED;
  }

  /**
   * Answers the request with `101 Switching Protocols` and hands over the connection: for a
   * request that asked for an upgrade (HTTP/1.1, `Connection: upgrade`, no body), before anything
   * else of the response was sent. `headers` must include `Upgrade` (the protocol switched to);
   * `Connection: Upgrade` is added. Returns the socket and the bytes already read after the
   * request head; the server forgets the connection except to count it until it closes (see
   * `UpgradeHook` for what that means for shutdown). Throws `ServerError` otherwise.
   */
  switchProtocols(headers: ResponseHeaders): SwitchedConnection {
    if (this.sentHead || this.done) throw new ServerError('HF_SERVER_HEAD_SENT', 'the response head was already sent');
    const list = new HeaderList(headers as HeaderInit);
    if (!list.has('upgrade')) throw new ServerError('HF_SERVER_INVALID_RESPONSE', 'a 101 response must say which protocol it switches to (Upgrade)');
    let head = serializeStatusLine(101);
    for (const [name, value] of list) {
      if (name.toLowerCase() !== 'connection') head += serializeFieldLine(name, value);
    }
    head += `Connection: Upgrade${CRLF}${CRLF}`;
    const switched = this.sink.switchProtocols(this, head);
    this.status = 101;
    this.sentHead = true;
    this.done = true;
    return switched;
  }

  /**
   * Gives up on this response: the connection closes without completing the body, so the client
   * sees a truncated message rather than a wrong one.
   */
  abort(reason?: Error): void {
    if (this.done) return;
    this.done = true;
    this.sink.responseAborted(this, reason ?? new ServerError('HF_SERVER_INVALID_RESPONSE', 'response aborted'));
  }
}
