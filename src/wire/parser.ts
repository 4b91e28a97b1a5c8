/**
 * Incremental HTTP/1.1 message parsers (RFC 9112). Fed arbitrary slices of a byte stream — one
 * byte at a time works — they call back with each message head, body slices, and completion.
 * No sockets, no timers: the connection layers above decide what to do with each event.
 *
 * The parsers are strict where leniency lets two implementations disagree about where a message
 * ends (request smuggling, a desynchronised pooled connection): such input is an error with a
 * stable code and, for requests, the status a server should answer with.
 */
import { ChunkedDecoder } from './chunked.ts';
import { TruncatedMessageError, WireError } from './errors.ts';
import { HeaderList } from './headers.ts';
import { hasToken } from './fields.ts';
import { isToken, isTarget, invalidFieldValueAt, targetForm, trimOws } from './chars.ts';
import { parseAuthority, parseAbsoluteTarget, type Authority } from './authority.ts';
import { parseFieldLine, scanFieldLines, fillKeys } from './lines.ts';
import { requestFraming, responseFraming, NO_BODY, type BodyFraming } from './framing.ts';
import { requestedUpgrade } from './upgrade.ts';

const CR = 0x0d;

/** Persistence per RFC 9112 §9.3: 1.1 unless "close"; 1.0 only with "keep-alive" (and no "close"). */
function connectionKeepAlive(connection: string | undefined, versionMinor: number): boolean {
  if (connection === undefined) return versionMinor === 1;
  // Fast path for the usual single-option values.
  const c = connection.length <= 10 ? connection.toLowerCase() : '';
  if (c === 'keep-alive') return true;
  if (c === 'close') return false;
  return versionMinor === 1 ? !hasToken(connection, 'close') : hasToken(connection, 'keep-alive') && !hasToken(connection, 'close');
}
const LF = 0x0a;

/** Size limits; exceeding one gives a distinct error so a server can answer 414 or 431. */
export interface ParserLimits {
  /** Longest request-line or status-line, in bytes (414 for requests). */
  maxStartLineLength: number;
  /** Largest head (start line and fields), in bytes (431). */
  maxHeaderSize: number;
  /** Most field lines in a head (431). */
  maxHeaderCount: number;
  /** Longest chunk-extension text on one chunk line. */
  maxChunkExtensionLength: number;
  /** Largest trailer section. */
  maxTrailerSize: number;
}

export const DEFAULT_LIMITS: ParserLimits = Object.freeze({
  maxStartLineLength: 8 * 1024,
  maxHeaderSize: 16 * 1024,
  maxHeaderCount: 200,
  maxChunkExtensionLength: 4 * 1024,
  maxTrailerSize: 16 * 1024,
});

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 (1.x with x > 1 is read as 1.1, RFC 9112 §2.3). */
  readonly versionMinor: number;
  readonly headers: HeaderList;
  readonly framing: BodyFraming;
  /** Whether the client asked to keep the connection open after this exchange. */
  readonly keepAlive: boolean;
  /** The `Expect` field value, lower-cased, if any. */
  readonly expect: string | undefined;
  /**
   * The validated authority the request is for: an absolute-form target's (RFC 9112 §3.2.2 has it
   * replace Host), else `Host`'s; null when `Host` is empty or absent (HTTP/1.0).
   */
  readonly authority: Authority | null;
  /**
   * Protocols the request asks to upgrade to (RFC 9110 §7.8: `Upgrade` nominated by
   * `Connection`, HTTP/1.1, no body), lower-cased without versions; empty for none and for
   * CONNECT. Worked out once here for the parser, the server and the proxy.
   */
  readonly upgrade: readonly string[];
  /** Bytes of the head on the wire. */
  readonly headSize: number;
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly versionMinor: number;
  readonly headers: HeaderList;
  readonly framing: BodyFraming;
  /** Whether the connection may carry another request after this response. */
  readonly keepAlive: boolean;
  readonly headSize: number;
}

/** Callbacks of a parser. `onComplete` means the message's framing ended exactly. */
export interface ParserHandlers<H> {
  onHead(head: H): void;
  onBody(chunk: Buffer): void;
  onComplete(trailers: HeaderList | null): void;
  /** 1xx responses other than 101 (response parser only). */
  onInformational?(head: ResponseHead): void;
}

const ST_HEAD = 0;
const ST_LENGTH = 1;
const ST_CHUNKED = 2;
const ST_CLOSE = 3;
const ST_UPGRADED = 4;
const ST_ERROR = 5;

/** Empty lines tolerated before a request-line (RFC 9112 §2.2 asks to ignore at least one). */
const MAX_LEADING_EMPTY_LINES = 8;

abstract class MessageParser<H> {
  protected readonly limits: ParserLimits;
  protected readonly handlers: ParserHandlers<H>;
  private state = ST_HEAD;
  /**
   * Bytes of an incomplete head, copied (never a view of the caller's buffer, which it may
   * reuse) into a buffer that grows by doubling, so a head fed one byte at a time costs O(n).
   */
  private acc: Buffer | null = null;
  private accLen = 0;
  /** Offset in the head being scanned up to which lines have been scanned. */
  private scanFrom = 0;
  private lineStart = 0;
  private lineCount = 0;
  private leadingEmpty = 0;
  /** A CR before the request-line whose LF has not arrived yet. */
  private leadingCR = false;
  private remaining = 0;
  private bodyReceived = 0;
  private chunked: ChunkedDecoder | null = null;
  private error: WireError | null = null;
  private readonly emitBody: (chunk: Buffer) => void;
  /** Bytes after a 101 response or a CONNECT tunnel: they are not HTTP. */
  upgradeBuffer: Buffer | null = null;
  protected abstract readonly allowBareLF: boolean;
  protected abstract readonly responseSide: boolean;

  constructor(handlers: ParserHandlers<H>, limits: Partial<ParserLimits> = {}) {
    this.handlers = handlers;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.emitBody = (chunk) => this.handlers.onBody(chunk);
  }

  /** True between messages: no byte of a next message has been received. */
  get idle(): boolean {
    return this.state === ST_HEAD && this.acc === null && !this.leadingCR;
  }

  /** True after a 101 response: the rest of the stream is another protocol. */
  get upgraded(): boolean {
    return this.state === ST_UPGRADED;
  }

  /** Body bytes of the current message received so far. */
  get bodyBytes(): number {
    return this.chunked !== null ? this.chunked.received : this.bodyReceived;
  }

  /**
   * Feeds bytes. Throws `WireError` on malformed input; the parser is then unusable. An error
   * thrown by a handler propagates unchanged (and also leaves the parser unusable).
   */
  execute(chunk: Buffer): void {
    if (this.state === ST_ERROR) throw this.error!;
    try {
      this.run(chunk);
    } catch (err) {
      this.state = ST_ERROR;
      this.acc = null;
      if (err instanceof WireError) {
        // A bad response is the upstream's fault: a proxy answers 502, whatever the rule.
        if (this.responseSide && err.status !== 502) err = new WireError(err.code, err.message, 502);
        this.error = err as WireError;
      } else {
        this.error = new WireError('HF_WIRE_INVALID_START_LINE', `parser unusable after a handler error: ${String(err)}`);
      }
      throw err;
    }
  }

  /**
   * The peer ended its stream. A close-delimited body completes here; inside a head or a framed
   * body it is a `TruncatedMessageError` — never a normal end. Returns silently when idle.
   */
  finish(): void {
    if (this.state === ST_ERROR) throw this.error!;
    if (this.state === ST_CLOSE) {
      this.state = ST_HEAD;
      this.handlers.onComplete(null);
      return;
    }
    if (this.state === ST_HEAD) {
      if (this.acc !== null || this.leadingCR) {
        const received = this.acc !== null ? this.accLen : 1;
        this.acc = null;
        this.leadingCR = false;
        this.state = ST_ERROR;
        this.error = new TruncatedMessageError('HF_WIRE_TRUNCATED_HEAD', `stream ended inside a message head after ${received} bytes`, received, null);
        throw this.error;
      }
      return;
    }
    if (this.state === ST_LENGTH) {
      const expected = this.bodyReceived + this.remaining;
      this.state = ST_ERROR;
      this.error = new TruncatedMessageError('HF_WIRE_TRUNCATED_BODY', `body truncated at ${this.bodyReceived} of ${expected} bytes`, this.bodyReceived, expected);
      throw this.error;
    }
    if (this.state === ST_CHUNKED) {
      const received = this.chunked!.received;
      this.state = ST_ERROR;
      this.error = new TruncatedMessageError('HF_WIRE_TRUNCATED_BODY', `chunked body ended without its last chunk after ${received} bytes`, received, null);
      throw this.error;
    }
  }

  private run(buf: Buffer): void {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case ST_HEAD: {
          if (this.acc !== null) {
            i = this.continueHead(buf, i);
            break;
          }
          if (this.skipsLeadingEmptyLines()) {
            i = this.skipEmptyLines(buf, i);
            if (i >= n) return;
          }
          this.beforeHead();
          const whole = this.tryWholeHead(buf, i);
          if (whole !== -1) {
            i = whole;
            break;
          }
          this.scanFrom = i;
          this.lineStart = i;
          this.lineCount = 0;
          const end = this.findHeadEnd(buf, i);
          if (end === -1) {
            // Keep the incomplete head (a copy) and wait for more.
            const len = n - i;
            const acc = Buffer.allocUnsafe(Math.max(256, len * 2));
            buf.copy(acc, 0, i, n);
            this.acc = acc;
            this.accLen = len;
            this.scanFrom -= i;
            this.lineStart -= i;
            return;
          }
          this.leadingEmpty = 0;
          this.onHeadBytes(buf, i, end);
          i = end;
          break;
        }
        case ST_LENGTH: {
          const take = Math.min(this.remaining, n - i);
          const slice = i === 0 && take === n ? buf : buf.subarray(i, i + take);
          i += take;
          this.remaining -= take;
          this.bodyReceived += take;
          this.handlers.onBody(slice);
          if (this.remaining === 0) this.complete(null);
          break;
        }
        case ST_CHUNKED: {
          const dec = this.chunked!;
          i = dec.decode(buf, i, this.emitBody);
          if (dec.done) this.complete(dec.trailers);
          break;
        }
        case ST_CLOSE: {
          const slice = i === 0 ? buf : buf.subarray(i);
          this.bodyReceived += slice.length;
          i = n;
          this.handlers.onBody(slice);
          break;
        }
        case ST_UPGRADED: {
          const rest = buf.subarray(i);
          this.upgradeBuffer = this.upgradeBuffer === null ? Buffer.from(rest) : Buffer.concat([this.upgradeBuffer, rest]);
          return;
        }
        default:
          throw this.error!;
      }
    }
  }

  /**
   * Appends bytes of `buf` from `i` to the incomplete head; parses it when complete. Returns
   * the index in `buf` just past the consumed bytes.
   */
  private continueHead(buf: Buffer, i: number): number {
    const old = this.accLen;
    // More than maxHeaderSize + 1 bytes are never needed: either the head ends within them
    // or the size limit trips.
    const take = Math.min(buf.length - i, this.limits.maxHeaderSize + 2 - old);
    let acc = this.acc!;
    if (old + take > acc.length) {
      const grown = Buffer.allocUnsafe(Math.max(acc.length * 2, old + take));
      acc.copy(grown, 0, 0, old);
      acc = grown;
      this.acc = acc;
    }
    buf.copy(acc, old, i, i + take);
    this.accLen = old + take;
    const view = acc.subarray(0, this.accLen);
    const end = this.findHeadEnd(view, 0);
    if (end === -1) return i + take;
    this.acc = null;
    this.accLen = 0;
    this.leadingEmpty = 0;
    this.onHeadBytes(view, 0, end);
    return i + (end - old);
  }

  /** Skips CRLFs before a request-line (RFC 9112 §2.2); a bare CR or LF there is an error. */
  private skipEmptyLines(buf: Buffer, i: number): number {
    const n = buf.length;
    if (this.leadingCR) {
      if (buf[i] !== LF) throw new WireError('HF_WIRE_BARE_CR', 'bare CR before the request-line');
      this.leadingCR = false;
      this.countEmptyLine();
      i++;
    }
    while (i < n) {
      const c = buf[i];
      if (c === CR) {
        if (i + 1 === n) {
          this.leadingCR = true;
          return n;
        }
        if (buf[i + 1] !== LF) throw new WireError('HF_WIRE_BARE_CR', 'bare CR before the request-line');
        this.countEmptyLine();
        i += 2;
      } else if (c === LF) {
        throw new WireError('HF_WIRE_BARE_LF', 'bare LF before the request-line');
      } else {
        break;
      }
    }
    return i;
  }

  private countEmptyLine(): void {
    if (++this.leadingEmpty > MAX_LEADING_EMPTY_LINES) {
      throw new WireError('HF_WIRE_INVALID_START_LINE', 'too many empty lines before the request-line');
    }
  }

  protected skipsLeadingEmptyLines(): boolean {
    return false;
  }

  /** Called when the first byte of a new head arrives. */
  protected beforeHead(): void {}

  /**
   * Scans lines from `scanFrom` for the empty line ending the head. Returns the index after it,
   * or -1. Enforces the size limits while the head is still incomplete, so a peer cannot make us
   * buffer an endless line.
   */
  private findHeadEnd(buf: Buffer, headStart: number): number {
    const { maxStartLineLength, maxHeaderSize, maxHeaderCount } = this.limits;
    let from = this.scanFrom;
    const n = buf.length;
    for (;;) {
      const lf = buf.indexOf(LF, from);
      if (lf === -1) {
        this.scanFrom = n;
        if (this.lineCount === 0) {
          // A CR at the very end may be the start of the line's CRLF: not part of its length.
          const lineLength = n - headStart - (buf[n - 1] === CR ? 1 : 0);
          if (lineLength > maxStartLineLength) this.startLineTooLong();
        }
        if (n - headStart > maxHeaderSize) this.headTooLarge();
        return -1;
      }
      const hasCR = lf > this.lineStart && buf[lf - 1] === CR;
      if (!hasCR && !this.allowBareLF) throw new WireError('HF_WIRE_BARE_LF', 'line ended by a bare LF');
      const contentLength = lf - this.lineStart - (hasCR ? 1 : 0);
      if (this.lineCount === 0 && contentLength > maxStartLineLength) this.startLineTooLong();
      if (lf + 1 - headStart > maxHeaderSize) this.headTooLarge();
      if (contentLength === 0) {
        if (this.lineCount === 0) throw new WireError('HF_WIRE_INVALID_START_LINE', 'empty start line');
        return lf + 1;
      }
      this.lineCount++;
      if (this.lineCount - 1 > maxHeaderCount) throw new WireError('HF_WIRE_TOO_MANY_HEADERS', `more than ${maxHeaderCount} header fields`, 431);
      this.lineStart = lf + 1;
      from = lf + 1;
    }
  }

  protected startLineTooLong(): never {
    throw new WireError('HF_WIRE_INVALID_START_LINE', `start line longer than ${this.limits.maxStartLineLength} bytes`);
  }

  private headTooLarge(): never {
    throw new WireError('HF_WIRE_HEADERS_TOO_LARGE', `head larger than ${this.limits.maxHeaderSize} bytes`, 431);
  }

  /** Parses a complete head `buf[start, end)` and enters its body state. */
  private onHeadBytes(buf: Buffer, start: number, end: number): void {
    const { startLine, headers } = this.splitLines(buf, start, end);
    this.onHead(startLine, headers, end - start);
  }

  /** Handles a head split into its start line (CRLF removed) and fields; enters its body state. */
  protected abstract onHead(startLine: string, headers: HeaderList, headSize: number): void;

  /**
   * The usual case in one pass: a whole head at `buf[start..]`, every line ended by CRLF, every
   * field line valid (`scanFieldLines`), within every limit. Parses it and returns the index
   * after it. Otherwise returns -1 having changed nothing, and the general path (findHeadEnd,
   * splitLines) handles the bytes exactly as before — every error comes from there.
   */
  private tryWholeHead(buf: Buffer, start: number): number {
    const { maxStartLineLength, maxHeaderSize, maxHeaderCount } = this.limits;
    const lf = buf.indexOf(LF, start);
    const startLineLength = lf - 1 - start;
    if (startLineLength <= 0 || startLineLength > maxStartLineLength || buf[lf - 1] !== CR) return -1;
    const keys: string[] = [];
    const offs: number[] = [];
    // allowBareLF false: any bare LF sends the head to the general path, which knows where a
    // bare-LF head ends. The limit keeps the head within maxHeaderSize.
    const end = scanFieldLines(buf, lf + 1, Math.min(buf.length, start + maxHeaderSize), false, start, keys, offs);
    if (end === -1 || keys.length > maxHeaderCount) return -1;
    const text = buf.toString('latin1', start, end);
    const startLine = text.slice(0, startLineLength);
    if (startLine.indexOf('\r') !== -1) return -1;
    fillKeys(text, keys, offs);
    this.leadingEmpty = 0;
    this.onHead(startLine, HeaderList.fromSource(text, keys, offs), end - start);
    return end;
  }

  /** Splits a complete head into its start line and field lines. */
  private splitLines(buf: Buffer, start: number, end: number): { startLine: string; headers: HeaderList } {
    // One native decode of the whole head; field lines are then checked on the bytes and kept as
    // offsets into this text (see HeaderList.fromSource).
    const text = buf.toString('latin1', start, end);
    let nl = text.indexOf('\n');
    const startLine = text.charCodeAt(nl - 1) === CR ? text.slice(0, nl - 1) : text.slice(0, nl);
    if (startLine.indexOf('\r') !== -1) throw new WireError('HF_WIRE_BARE_CR', 'bare CR in start line');
    let pos = nl + 1;
    // The head ends with an empty line: stop when the remaining text is just "\r\n" or "\n".
    const stop = text.length - (text.charCodeAt(text.length - 2) === CR ? 2 : 1);
    const keys: string[] = [];
    const offs: number[] = [];
    if (scanFieldLines(buf, start + pos, end, this.allowBareLF, start, keys, offs) === end) {
      fillKeys(text, keys, offs);
      return { startLine, headers: HeaderList.fromSource(text, keys, offs) };
    }
    // Some line is invalid: parse line by line for the precise error.
    const headers = new HeaderList();
    while (pos < stop) {
      nl = text.indexOf('\n', pos);
      const lineEnd = text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      parseFieldLine(text.slice(pos, lineEnd), headers);
      pos = nl + 1;
    }
    return { startLine, headers };
  }

  /** Enters the body state for `framing`, or completes a body-less message at once. */
  protected beginBody(framing: BodyFraming): void {
    this.bodyReceived = 0;
    this.chunked = null;
    switch (framing.kind) {
      case 'none':
        this.complete(null);
        return;
      case 'length':
        this.remaining = framing.length;
        this.state = ST_LENGTH;
        return;
      case 'chunked':
        this.chunked = new ChunkedDecoder({
          maxExtensionLength: this.limits.maxChunkExtensionLength,
          maxTrailerSize: this.limits.maxTrailerSize,
          allowBareLF: this.allowBareLF,
        });
        this.state = ST_CHUNKED;
        return;
      case 'close':
        this.state = ST_CLOSE;
        return;
    }
  }

  protected enterUpgraded(): void {
    this.state = ST_UPGRADED;
  }

  protected leaveUpgraded(): void {
    this.state = ST_HEAD;
  }

  private complete(trailers: HeaderList | null): void {
    this.state = ST_HEAD;
    this.handlers.onComplete(trailers);
  }

  protected get inHeadState(): boolean {
    return this.state === ST_HEAD;
  }
}

const VERSION_RE = /^HTTP\/(\d)\.(\d)$/;

/** Parses a stream of requests (server side). Bare LF line ends are rejected. */
export class RequestParser extends MessageParser<RequestHead> {
  protected readonly allowBareLF = false;
  protected readonly responseSide = false;
  // The Host of the last request on this connection and what it parsed to: a keep-alive client
  // sends the same value every time, so each later request skips the parse (a parsed Authority is
  // frozen, so sharing it between requests is safe).
  private lastHost = '';
  private lastAuthority: Authority | null = null;

  protected override skipsLeadingEmptyLines(): boolean {
    return true;
  }

  protected override startLineTooLong(): never {
    throw new WireError('HF_WIRE_URI_TOO_LONG', `request-line longer than ${this.limits.maxStartLineLength} bytes`, 414);
  }

  protected onHead(startLine: string, headers: HeaderList, headSize: number): void {
    const sp1 = startLine.indexOf(' ');
    const sp2 = sp1 === -1 ? -1 : startLine.indexOf(' ', sp1 + 1);
    if (sp1 === -1 || sp2 === -1 || startLine.indexOf(' ', sp2 + 1) !== -1) {
      throw new WireError('HF_WIRE_INVALID_START_LINE', `malformed request-line ${JSON.stringify(startLine.slice(0, 80))}`);
    }
    const method = startLine.slice(0, sp1);
    const target = startLine.slice(sp1 + 1, sp2);
    const version = startLine.slice(sp2 + 1);
    if (!isToken(method)) throw new WireError('HF_WIRE_INVALID_METHOD', `invalid method ${JSON.stringify(method.slice(0, 40))}`);
    // RFC 9112 §3.2: origin-form, absolute-form or asterisk-form; authority-form for CONNECT.
    const form = method === 'CONNECT' ? (isTarget(target) ? 'authority' : null) : targetForm(target);
    if (form === null) {
      throw new WireError('HF_WIRE_INVALID_TARGET', `invalid request-target ${JSON.stringify(target.slice(0, 80))}`);
    }
    let versionMinor: number;
    if (version === 'HTTP/1.1') {
      versionMinor = 1;
    } else {
      const m = VERSION_RE.exec(version);
      if (m === null) throw new WireError('HF_WIRE_INVALID_VERSION', `invalid HTTP version ${JSON.stringify(version.slice(0, 20))}`);
      if (m[1] !== '1') throw new WireError('HF_WIRE_UNSUPPORTED_VERSION', `HTTP/${m[1]!}.${m[2]!} not supported`, 505);
      versionMinor = m[2] === '0' ? 0 : 1;
    }
    const hosts = headers.count('host');
    // RFC 9112 §3.2: a 1.1 request without Host, or any request with more than one, gets 400.
    if (hosts > 1) throw new WireError('HF_WIRE_DUPLICATE_HOST', 'more than one Host field');
    if (hosts === 0 && versionMinor === 1) throw new WireError('HF_WIRE_MISSING_HOST', 'HTTP/1.1 request without Host');
    // Host is validated even when an absolute-form target overrides it: an intermediary that
    // prefers Host would otherwise see a value this server never checked.
    let authority: Authority | null = null;
    if (hosts === 1) {
      const host = headers.get('host')!;
      // An empty Host is valid: the target URI has no authority (RFC 9112 §3.2).
      if (host !== '') {
        if (host === this.lastHost) {
          authority = this.lastAuthority;
        } else {
          authority = parseAuthority(host);
          if (authority === null) throw new WireError('HF_WIRE_INVALID_HOST', `invalid Host ${JSON.stringify(host.slice(0, 80))}`);
          this.lastHost = host;
          this.lastAuthority = authority;
        }
      }
    }
    if (form === 'absolute') {
      const absolute = parseAbsoluteTarget(target);
      if (absolute === null) throw new WireError('HF_WIRE_INVALID_TARGET', `invalid absolute-form request-target ${JSON.stringify(target.slice(0, 80))}`);
      authority = absolute.authority;
    } else if (form === 'authority') {
      const a = parseAuthority(target);
      if (a === null || a.port === null) throw new WireError('HF_WIRE_INVALID_TARGET', `invalid authority-form request-target ${JSON.stringify(target.slice(0, 80))}`);
    }
    const framing = requestFraming(headers, versionMinor);
    const connection = headers.get('connection');
    const keepAlive = connectionKeepAlive(connection, versionMinor);
    const expectValue = headers.get('expect');
    const head: RequestHead = {
      method,
      target,
      versionMinor,
      headers,
      framing,
      keepAlive,
      expect: expectValue === undefined ? undefined : trimOws(expectValue).toLowerCase(),
      authority,
      upgrade: method === 'CONNECT' ? [] : requestedUpgrade(headers, versionMinor, framing),
      headSize,
    };
    // The handler sees the head before any body byte, so it can answer early (413, 417...).
    this.handlers.onHead(head);
    if (method === 'CONNECT') {
      this.enterUpgraded();
      return;
    }
    if (head.upgrade.length > 0) {
      // What follows is either the new protocol or the next request: only the server's answer
      // to this one can say which, so nothing after it is parsed until then (`releaseUpgrade`).
      this.enterUpgraded();
      return;
    }
    this.beginBody(framing);
  }

  /**
   * After a request that asked for an upgrade (see `requestedUpgrade`), the parser holds every later
   * byte in `upgradeBuffer`. The server declined the upgrade: returns to HTTP and hands back the
   * held bytes, to be fed to `execute` as the next request(s).
   */
  releaseUpgrade(): Buffer | null {
    if (!this.upgraded) return null;
    const held = this.upgradeBuffer;
    this.upgradeBuffer = null;
    this.leaveUpgraded();
    return held;
  }
}

/**
 * Parses responses (client side). The caller announces each request with `expect(method)`
 * before its response can arrive; bytes arriving when no response is expected are an error
 * (`HF_WIRE_UNEXPECTED_DATA`): on a pooled connection they mean the server is not in step.
 */
export class ResponseParser extends MessageParser<ResponseHead> {
  // Bare LF ends lines in some old servers' responses; tolerating it cannot desynchronise
  // framing, since body framing still comes from the validated fields.
  protected readonly allowBareLF = true;
  protected readonly responseSide = true;
  private methods: string[] = [];

  /** Announces a request whose response comes next (queued in order for pipelining). */
  expect(method: string): void {
    this.methods.push(method);
  }

  /** Number of announced requests whose final response has not yet begun. */
  get awaiting(): number {
    return this.methods.length;
  }

  /** A response byte arriving when no request awaits one: the server is out of step. */
  protected override beforeHead(): void {
    if (this.methods.length === 0) {
      throw new WireError('HF_WIRE_UNEXPECTED_DATA', 'unsolicited bytes on a connection with no request outstanding', 502);
    }
  }

  protected onHead(startLine: string, headers: HeaderList, headSize: number): void {
    const method = this.methods[0];
    if (method === undefined) throw new WireError('HF_WIRE_UNEXPECTED_DATA', 'response without a request', 502);
    // status-line = "HTTP/1." DIGIT SP 3DIGIT [ SP reason ], read by position: a regex match
    // allocates an array and a string per group on every response.
    const len = startLine.length;
    const d7 = startLine.charCodeAt(7) - 0x30;
    const d9 = startLine.charCodeAt(9) - 0x30;
    const d10 = startLine.charCodeAt(10) - 0x30;
    const d11 = startLine.charCodeAt(11) - 0x30;
    if (
      len < 12 || !startLine.startsWith('HTTP/1.') || !(d7 >= 0 && d7 <= 9) || startLine.charCodeAt(8) !== 0x20 ||
      !(d9 >= 0 && d9 <= 9) || !(d10 >= 0 && d10 <= 9) || !(d11 >= 0 && d11 <= 9) || (len > 12 && startLine.charCodeAt(12) !== 0x20)
    ) {
      throw new WireError('HF_WIRE_INVALID_STATUS', `malformed status-line ${JSON.stringify(startLine.slice(0, 80))}`, 502);
    }
    const versionMinor = d7 === 0 ? 0 : 1;
    const status = d9 * 100 + d10 * 10 + d11;
    if (status < 100) throw new WireError('HF_WIRE_INVALID_STATUS', `invalid status ${status}`, 502);
    const reason = len > 12 ? startLine.slice(13) : '';
    if (invalidFieldValueAt(reason) !== -1) throw new WireError('HF_WIRE_INVALID_STATUS', 'invalid reason phrase', 502);
    if (status >= 100 && status < 200 && status !== 101) {
      const info: ResponseHead = { status, reason, versionMinor, headers, framing: NO_BODY, keepAlive: true, headSize };
      this.handlers.onInformational?.(info);
      return;
    }
    // pop() on the usual one-entry queue avoids shift()'s element moving.
    if (this.methods.length === 1) this.methods.pop();
    else this.methods.shift();
    const framing = responseFraming(headers, method, status, versionMinor);
    const connection = headers.get('connection');
    let keepAlive = connectionKeepAlive(connection, versionMinor);
    if (framing.kind === 'close') keepAlive = false;
    const head: ResponseHead = { status, reason, versionMinor, headers, framing, keepAlive, headSize };
    this.handlers.onHead(head);
    if (status === 101 || (method === 'CONNECT' && status >= 200 && status < 300)) {
      this.enterUpgraded();
      return;
    }
    this.beginBody(framing);
  }
}
