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
import { isToken, isTarget, invalidFieldValueAt, isTokenByte } from './chars.ts';
import { requestFraming, responseFraming, NO_BODY, type BodyFraming } from './framing.ts';

const CR = 0x0d;
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
  /** Bytes of an incomplete head, kept across `execute` calls. */
  private pending: Buffer | null = null;
  /** Offset in `pending` up to which lines have been scanned. */
  private scanFrom = 0;
  private lineStart = 0;
  private lineCount = 0;
  private leadingEmpty = 0;
  private remaining = 0;
  private bodyReceived = 0;
  private chunked: ChunkedDecoder | null = null;
  private error: WireError | null = null;
  /** Bytes after a 101 response or a CONNECT tunnel: they are not HTTP. */
  upgradeBuffer: Buffer | null = null;
  protected abstract readonly allowBareLF: boolean;

  constructor(handlers: ParserHandlers<H>, limits: Partial<ParserLimits> = {}) {
    this.handlers = handlers;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** True between messages: no byte of a next message has been received. */
  get idle(): boolean {
    return this.state === ST_HEAD && this.pending === null;
  }

  /** True after a 101 response: the rest of the stream is another protocol. */
  get upgraded(): boolean {
    return this.state === ST_UPGRADED;
  }

  /** Body bytes of the current message received so far. */
  get bodyBytes(): number {
    return this.chunked !== null ? this.chunked.received : this.bodyReceived;
  }

  /** Feeds bytes. Throws `WireError` on malformed input; the parser is then unusable. */
  execute(chunk: Buffer): void {
    if (this.state === ST_ERROR) throw this.error!;
    try {
      this.run(chunk);
    } catch (err) {
      this.state = ST_ERROR;
      this.error = err instanceof WireError ? err : new WireError('HF_WIRE_INVALID_START_LINE', String(err));
      throw this.error;
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
      if (this.pending !== null) {
        const received = this.pending.length;
        this.pending = null;
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

  private run(chunk: Buffer): void {
    let buf = chunk;
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case ST_HEAD: {
          if (this.pending !== null) {
            buf = Buffer.concat([this.pending, buf.subarray(i)]);
            i = 0;
            this.pending = null;
          } else {
            this.scanFrom = i;
            this.lineStart = i;
            this.lineCount = 0;
            // Skip stray CRLFs between messages (RFC 9112 §2.2).
            while (this.skipsLeadingEmptyLines() && i < buf.length && (buf[i] === CR || buf[i] === LF)) {
              if (buf[i] === LF) this.leadingEmpty++;
              if (this.leadingEmpty > MAX_LEADING_EMPTY_LINES) throw new WireError('HF_WIRE_INVALID_START_LINE', 'too many empty lines before the request-line');
              i++;
            }
            if (i >= buf.length) return;
            this.scanFrom = i;
            this.lineStart = i;
          }
          const end = this.findHeadEnd(buf, i);
          if (end === -1) {
            this.pending = i === 0 ? buf : buf.subarray(i);
            this.scanFrom -= i;
            this.lineStart -= i;
            return;
          }
          const headStart = i;
          this.leadingEmpty = 0;
          i = end;
          this.onHeadBytes(buf, headStart, end);
          break;
        }
        case ST_LENGTH: {
          const take = Math.min(this.remaining, buf.length - i);
          const slice = buf.subarray(i, i + take);
          i += take;
          this.remaining -= take;
          this.bodyReceived += take;
          this.handlers.onBody(slice);
          if (this.remaining === 0) this.complete(null);
          break;
        }
        case ST_CHUNKED: {
          const dec = this.chunked!;
          i = dec.decode(buf, i, this.handlers.onBody);
          if (dec.done) this.complete(dec.trailers);
          break;
        }
        case ST_CLOSE: {
          const slice = i === 0 ? buf : buf.subarray(i);
          this.bodyReceived += slice.length;
          i = buf.length;
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

  protected skipsLeadingEmptyLines(): boolean {
    return false;
  }

  /**
   * Scans lines from `scanFrom` for the empty line ending the head. Returns the index after it,
   * or -1. Enforces the size limits while the head is still incomplete, so a peer cannot make us
   * buffer an endless line.
   */
  private findHeadEnd(buf: Buffer, headStart: number): number {
    const { maxStartLineLength, maxHeaderSize, maxHeaderCount } = this.limits;
    let from = this.scanFrom;
    for (;;) {
      const lf = buf.indexOf(LF, from);
      if (lf === -1) {
        this.scanFrom = buf.length;
        if (this.lineCount === 0 && buf.length - headStart > maxStartLineLength) this.startLineTooLong();
        if (buf.length - headStart > maxHeaderSize) this.headTooLarge();
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
  protected abstract onHeadBytes(buf: Buffer, start: number, end: number): void;

  /** Splits a complete head into its start line and field lines. */
  protected splitLines(buf: Buffer, start: number, end: number): { startLine: string; headers: HeaderList } {
    const text = buf.toString('latin1', start, end);
    const lines = text.split('\n');
    // The last two entries are the empty line and '' after its LF.
    const count = lines.length - 2;
    const headers = new HeaderList();
    let startLine = '';
    for (let k = 0; k < count; k++) {
      let line = lines[k]!;
      if (line.charCodeAt(line.length - 1) === CR) line = line.slice(0, -1);
      if (k === 0) {
        startLine = line;
        continue;
      }
      const first = line.charCodeAt(0);
      // obs-fold (RFC 9112 §5.2): rejected, since recipients that unfold and those that do not
      // would see different fields.
      if (first === 0x20 || first === 0x09) throw new WireError('HF_WIRE_OBS_FOLD', 'obsolete line folding');
      const colon = line.indexOf(':');
      if (colon <= 0) throw new WireError('HF_WIRE_INVALID_HEADER_NAME', `field line without a name: ${JSON.stringify(line.slice(0, 40))}`);
      const name = line.slice(0, colon);
      // Whitespace between name and colon must be rejected (RFC 9112 §5.1): it is how
      // "Transfer-Encoding : chunked" slips past one parser and not another.
      for (let j = 0; j < name.length; j++) {
        if (!isTokenByte(name.charCodeAt(j))) {
          const c = name.charCodeAt(j);
          const code = c === 0x20 || c === 0x09 ? 'whitespace before colon' : `invalid character 0x${c.toString(16)}`;
          throw new WireError('HF_WIRE_INVALID_HEADER_NAME', `invalid field name ${JSON.stringify(name)}: ${code}`);
        }
      }
      let vs = colon + 1;
      let ve = line.length;
      while (vs < ve && (line.charCodeAt(vs) === 0x20 || line.charCodeAt(vs) === 0x09)) vs++;
      while (ve > vs && (line.charCodeAt(ve - 1) === 0x20 || line.charCodeAt(ve - 1) === 0x09)) ve--;
      const value = line.slice(vs, ve);
      const bad = invalidFieldValueAt(value);
      if (bad !== -1) {
        const c = value.charCodeAt(bad);
        if (c === CR) throw new WireError('HF_WIRE_BARE_CR', `bare CR in field ${name}`);
        throw new WireError('HF_WIRE_INVALID_HEADER_VALUE', `invalid character 0x${c.toString(16)} in field ${name}`);
      }
      headers.push(name, name.toLowerCase(), value);
    }
    if (startLine.indexOf('\r') !== -1) throw new WireError('HF_WIRE_BARE_CR', 'bare CR in start line');
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

  protected override skipsLeadingEmptyLines(): boolean {
    return true;
  }

  protected override startLineTooLong(): never {
    throw new WireError('HF_WIRE_URI_TOO_LONG', `request-line longer than ${this.limits.maxStartLineLength} bytes`, 414);
  }

  protected onHeadBytes(buf: Buffer, start: number, end: number): void {
    const { startLine, headers } = this.splitLines(buf, start, end);
    const sp1 = startLine.indexOf(' ');
    const sp2 = sp1 === -1 ? -1 : startLine.indexOf(' ', sp1 + 1);
    if (sp1 === -1 || sp2 === -1 || startLine.indexOf(' ', sp2 + 1) !== -1) {
      throw new WireError('HF_WIRE_INVALID_START_LINE', `malformed request-line ${JSON.stringify(startLine.slice(0, 80))}`);
    }
    const method = startLine.slice(0, sp1);
    const target = startLine.slice(sp1 + 1, sp2);
    const version = startLine.slice(sp2 + 1);
    if (!isToken(method)) throw new WireError('HF_WIRE_INVALID_METHOD', `invalid method ${JSON.stringify(method.slice(0, 40))}`);
    if (!isTarget(target)) throw new WireError('HF_WIRE_INVALID_TARGET', 'invalid request-target');
    const m = VERSION_RE.exec(version);
    if (m === null) throw new WireError('HF_WIRE_INVALID_VERSION', `invalid HTTP version ${JSON.stringify(version.slice(0, 20))}`);
    if (m[1] !== '1') throw new WireError('HF_WIRE_UNSUPPORTED_VERSION', `HTTP/${m[1]!}.${m[2]!} not supported`, 505);
    const versionMinor = m[2] === '0' ? 0 : 1;
    const hosts = headers.count('host');
    // RFC 9112 §3.2: a 1.1 request without Host, or any request with more than one, gets 400.
    if (hosts > 1) throw new WireError('HF_WIRE_DUPLICATE_HOST', 'more than one Host field');
    if (hosts === 0 && versionMinor === 1) throw new WireError('HF_WIRE_MISSING_HOST', 'HTTP/1.1 request without Host');
    const framing = requestFraming(headers, versionMinor);
    const connection = headers.get('connection');
    const keepAlive = versionMinor === 1 ? !hasToken(connection, 'close') : hasToken(connection, 'keep-alive') && !hasToken(connection, 'close');
    const expectValue = headers.get('expect');
    const head: RequestHead = {
      method,
      target,
      versionMinor,
      headers,
      framing,
      keepAlive,
      expect: expectValue === undefined ? undefined : expectValue.trim().toLowerCase(),
      headSize: end - start,
    };
    // The handler sees the head before any body byte, so it can answer early (413, 417...).
    this.handlers.onHead(head);
    if (method === 'CONNECT') {
      this.enterUpgraded();
      return;
    }
    this.beginBody(framing);
  }
}

const STATUS_RE = /^HTTP\/1\.(\d) (\d{3})(?: (.*))?$/;

/**
 * Parses responses (client side). The caller announces each request with `expect(method)`
 * before its response can arrive; bytes arriving when no response is expected are an error
 * (`HF_WIRE_UNEXPECTED_DATA`): on a pooled connection they mean the server is not in step.
 */
export class ResponseParser extends MessageParser<ResponseHead> {
  // Bare LF ends lines in some old servers' responses; tolerating it cannot desynchronise
  // framing, since body framing still comes from the validated fields.
  protected readonly allowBareLF = true;
  private methods: string[] = [];

  /** Announces a request whose response comes next (queued in order for pipelining). */
  expect(method: string): void {
    this.methods.push(method);
  }

  /** Number of announced requests whose final response has not yet begun. */
  get awaiting(): number {
    return this.methods.length;
  }

  override execute(chunk: Buffer): void {
    if (this.methods.length === 0 && this.inHeadState && this.idle && chunk.length > 0) {
      throw new WireError('HF_WIRE_UNEXPECTED_DATA', `${chunk.length} unsolicited bytes on an idle connection`, 502);
    }
    super.execute(chunk);
  }

  protected onHeadBytes(buf: Buffer, start: number, end: number): void {
    const method = this.methods[0];
    if (method === undefined) throw new WireError('HF_WIRE_UNEXPECTED_DATA', 'response without a request', 502);
    const { startLine, headers } = this.splitLines(buf, start, end);
    const m = STATUS_RE.exec(startLine);
    if (m === null) throw new WireError('HF_WIRE_INVALID_STATUS', `malformed status-line ${JSON.stringify(startLine.slice(0, 80))}`, 502);
    const versionMinor = m[1] === '0' ? 0 : 1;
    const status = Number(m[2]);
    if (status < 100) throw new WireError('HF_WIRE_INVALID_STATUS', `invalid status ${status}`, 502);
    const reason = m[3] ?? '';
    if (invalidFieldValueAt(reason) !== -1) throw new WireError('HF_WIRE_INVALID_STATUS', 'invalid reason phrase', 502);
    if (status >= 100 && status < 200 && status !== 101) {
      const info: ResponseHead = { status, reason, versionMinor, headers, framing: NO_BODY, keepAlive: true, headSize: end - start };
      this.handlers.onInformational?.(info);
      return;
    }
    this.methods.shift();
    const framing = responseFraming(headers, method, status);
    const connection = headers.get('connection');
    let keepAlive = versionMinor === 1 ? !hasToken(connection, 'close') : hasToken(connection, 'keep-alive') && !hasToken(connection, 'close');
    if (framing.kind === 'close') keepAlive = false;
    const head: ResponseHead = { status, reason, versionMinor, headers, framing, keepAlive, headSize: end - start };
    this.handlers.onHead(head);
    if (status === 101 || (method === 'CONNECT' && status >= 200 && status < 300)) {
      this.enterUpgraded();
      return;
    }
    this.beginBody(framing);
  }
}
