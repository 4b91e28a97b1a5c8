/**
 * The chunked transfer coding (RFC 9112 §7.1): an incremental decoder that tells "last chunk and
 * trailers seen" apart from "ran out of bytes", and an encoder.
 */
import { WireError } from './errors.ts';
import { HeaderList } from './headers.ts';
import { isTokenByte } from './chars.ts';
import { parseFieldLine } from './lines.ts';
import { assertFieldName, assertFieldValue } from './headers.ts';

const CR = 0x0d;
const LF = 0x0a;

const S_SIZE = 0;
const S_SIZE_LF = 2;
const S_DATA = 3;
const S_DATA_CR = 4;
const S_DATA_LF = 5;
const S_TRAILER = 6;
const S_DONE = 7;
// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )  (RFC 9112 §7.1.1)
/** Whitespace after the size or a value: only ";" (or, in lenient mode, the line end) may follow. */
const S_EXT_BWS = 8;
/** After ";": optional whitespace, then a name. */
const S_EXT_NAME_BWS = 9;
const S_EXT_NAME = 10;
/** Whitespace after a name: "=", ";" or the line end. */
const S_EXT_AFTER_NAME = 11;
/** After "=": optional whitespace, then a token or a quoted-string. */
const S_EXT_VAL_BWS = 12;
const S_EXT_VAL = 13;
const S_EXT_QUOTED = 14;
const S_EXT_QUOTED_PAIR = 15;
/** After a quoted-string: whitespace, ";" or the line end. */
const S_EXT_BWS_OR_END = 16;

/** Significant hex digits beyond this cannot be a real chunk and would overflow a safe integer. */
const MAX_SIZE_DIGITS = 13;

const SP = 0x20;
const HTAB = 0x09;
const SEMI = 0x3b;
const EQ = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

export interface ChunkedLimits {
  /** Bytes of chunk extensions allowed on one chunk-size line. */
  maxExtensionLength: number;
  /** Bytes of trailer section allowed. */
  maxTrailerSize: number;
  /** Whether a bare LF may end a line (tolerated in responses, never in requests). */
  allowBareLF: boolean;
}

/** Incremental decoder of one chunked body. */
export class ChunkedDecoder {
  private state = S_SIZE;
  private size = 0;
  private digits = 0;
  private sawDigit = false;
  private extLength = 0;
  private remaining = 0;
  private trailerBytes: number[] | null = null;
  private trailerSize = 0;
  private trailerLineStart = 0;
  /** Decoded body bytes so far (for truncation reports). */
  received = 0;
  /** Trailer fields, once the last chunk has been read. */
  trailers: HeaderList | null = null;

  private readonly limits: ChunkedLimits;

  constructor(limits: ChunkedLimits) {
    this.limits = limits;
  }

  get done(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Consumes bytes from `buf` starting at `start`; calls `onData` with body slices. Returns the
   * index just past the last byte consumed: equal to `buf.length` unless the body ended inside
   * `buf` (the rest belongs to the next message).
   */
  decode(buf: Buffer, start: number, onData: (chunk: Buffer) => void): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      const state = this.state;
      if (state === S_DATA) {
        const take = Math.min(this.remaining, n - i);
        onData(i === 0 && take === n ? buf : buf.subarray(i, i + take));
        this.received += take;
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = S_DATA_CR;
        continue;
      }
      if (state === S_DONE) return i;
      const c = buf[i]!;
      if (state >= S_EXT_BWS) {
        if (++this.extLength > this.limits.maxExtensionLength) {
          throw new WireError('HF_WIRE_INVALID_CHUNK', 'chunk extensions too long');
        }
        this.extension(c);
        i++;
        continue;
      }
      switch (state) {
        case S_SIZE: {
          const v = hexValue(c);
          if (v !== -1) {
            // Leading zeros are allowed and do not count towards the overflow limit.
            if (this.size !== 0 || v !== 0) {
              if (++this.digits > MAX_SIZE_DIGITS) throw new WireError('HF_WIRE_CHUNK_TOO_LARGE', 'chunk size overflows');
            }
            this.size = this.size * 16 + v;
            this.sawDigit = true;
          } else if (!this.sawDigit) {
            throw new WireError('HF_WIRE_INVALID_CHUNK', `invalid chunk size byte 0x${c.toString(16)}`);
          } else if (c === CR) {
            this.state = S_SIZE_LF;
          } else if (c === LF && this.limits.allowBareLF) {
            this.afterSizeLine();
          } else if (c === SEMI) {
            this.state = S_EXT_NAME_BWS;
          } else if (c === SP || c === HTAB) {
            this.state = S_EXT_BWS;
          } else {
            throw new WireError('HF_WIRE_INVALID_CHUNK', `invalid chunk size byte 0x${c.toString(16)}`);
          }
          i++;
          break;
        }
        case S_SIZE_LF: {
          if (c !== LF) throw new WireError('HF_WIRE_BARE_CR', 'bare CR in chunk size line');
          i++;
          this.afterSizeLine();
          break;
        }
        case S_DATA_CR: {
          if (c === CR) {
            this.state = S_DATA_LF;
          } else if (c === LF && this.limits.allowBareLF) {
            this.state = S_SIZE;
          } else {
            throw new WireError('HF_WIRE_INVALID_CHUNK', 'chunk data not followed by CRLF');
          }
          i++;
          break;
        }
        case S_DATA_LF: {
          if (c !== LF) throw new WireError('HF_WIRE_BARE_CR', 'bare CR after chunk data');
          this.state = S_SIZE;
          i++;
          break;
        }
        case S_TRAILER: {
          i++;
          const t = this.trailerBytes!;
          t.push(c);
          if (++this.trailerSize > this.limits.maxTrailerSize) {
            throw new WireError('HF_WIRE_TRAILERS_TOO_LARGE', 'trailer section too large', 431);
          }
          if (c === LF) {
            const lineLength = t.length - this.trailerLineStart;
            const hasCR = lineLength >= 2 && t[t.length - 2] === CR;
            if (!hasCR && !this.limits.allowBareLF) throw new WireError('HF_WIRE_BARE_LF', 'bare LF in trailers');
            if (lineLength === (hasCR ? 2 : 1)) {
              // Usually the section is just its empty line: nothing to decode or parse.
              this.trailers = t.length === lineLength ? new HeaderList() : parseTrailerSection(Buffer.from(t));
              this.trailerBytes = null;
              this.state = S_DONE;
              return i;
            }
            this.trailerLineStart = t.length;
          }
          break;
        }
      }
    }
    return i;
  }

  /** One byte of a chunk extension (RFC 9112 §7.1.1); extensions are validated, then ignored. */
  private extension(c: number): void {
    const ws = c === SP || c === HTAB;
    const lineEnd = c === CR || (c === LF && this.limits.allowBareLF);
    switch (this.state) {
      case S_EXT_BWS:
        if (ws) return;
        if (c === SEMI) { this.state = S_EXT_NAME_BWS; return; }
        // Trailing whitespace before the line end: tolerated only in lenient (response) mode.
        if (lineEnd && this.limits.allowBareLF) return this.extensionEnd(c);
        break;
      case S_EXT_NAME_BWS:
        if (ws) return;
        if (isTokenByte(c)) { this.state = S_EXT_NAME; return; }
        break;
      case S_EXT_NAME:
        if (isTokenByte(c)) return;
        if (ws) { this.state = S_EXT_AFTER_NAME; return; }
        if (c === EQ) { this.state = S_EXT_VAL_BWS; return; }
        if (c === SEMI) { this.state = S_EXT_NAME_BWS; return; }
        if (lineEnd) return this.extensionEnd(c);
        break;
      case S_EXT_AFTER_NAME:
        if (ws) return;
        if (c === EQ) { this.state = S_EXT_VAL_BWS; return; }
        if (c === SEMI) { this.state = S_EXT_NAME_BWS; return; }
        if (lineEnd && this.limits.allowBareLF) return this.extensionEnd(c);
        break;
      case S_EXT_VAL_BWS:
        if (ws) return;
        if (c === DQUOTE) { this.state = S_EXT_QUOTED; return; }
        if (isTokenByte(c)) { this.state = S_EXT_VAL; return; }
        break;
      case S_EXT_VAL:
        if (isTokenByte(c)) return;
        if (ws) { this.state = S_EXT_BWS; return; }
        if (c === SEMI) { this.state = S_EXT_NAME_BWS; return; }
        if (lineEnd) return this.extensionEnd(c);
        break;
      case S_EXT_QUOTED:
        if (c === DQUOTE) { this.state = S_EXT_BWS_OR_END; return; }
        if (c === BACKSLASH) { this.state = S_EXT_QUOTED_PAIR; return; }
        // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
        if (c !== 0x7f && (c === HTAB || c >= 0x20)) return;
        break;
      case S_EXT_QUOTED_PAIR:
        if (c !== 0x7f && (c === HTAB || c >= 0x20)) { this.state = S_EXT_QUOTED; return; }
        break;
      case S_EXT_BWS_OR_END:
        if (ws) { this.state = S_EXT_BWS; return; }
        if (c === SEMI) { this.state = S_EXT_NAME_BWS; return; }
        if (lineEnd) return this.extensionEnd(c);
        break;
    }
    if (c === CR || c === LF) throw new WireError('HF_WIRE_INVALID_CHUNK', 'chunk extension ends early');
    throw new WireError('HF_WIRE_INVALID_CHUNK', `invalid byte 0x${c.toString(16)} in chunk extension`);
  }

  private extensionEnd(c: number): void {
    if (c === CR) this.state = S_SIZE_LF;
    else this.afterSizeLine();
  }

  private afterSizeLine(): void {
    if (this.size === 0) {
      this.state = S_TRAILER;
      this.trailerBytes = [];
    } else {
      this.remaining = this.size;
      this.state = S_DATA;
    }
    this.size = 0;
    this.digits = 0;
    this.sawDigit = false;
    this.extLength = 0;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Parses the trailer section bytes (ending in an empty line) as field lines, as strictly as a head. */
function parseTrailerSection(bytes: Buffer): HeaderList {
  const headers = new HeaderList();
  const lines = bytes.toString('latin1').split('\n');
  for (let line of lines) {
    if (line.charCodeAt(line.length - 1) === CR) line = line.slice(0, -1);
    if (line.length === 0) continue;
    parseFieldLine(line, headers);
  }
  return headers;
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** Frames one chunk of body: `[size CRLF, data, CRLF]`. An empty chunk is framed as nothing. */
export function encodeChunk(data: Uint8Array): Buffer[] {
  if (data.byteLength === 0) return [];
  return [Buffer.from(`${data.byteLength.toString(16)}\r\n`, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength), CRLF];
}

/** The last chunk, with optional trailer fields, ending the chunked body. */
export function encodeLastChunk(trailers?: HeaderList): Buffer {
  if (trailers === undefined || trailers.size === 0) return LAST_CHUNK;
  let s = '0\r\n';
  for (const [name, value] of trailers) {
    // HeaderList.push skips validation: check again, as the head serializers do.
    assertFieldName(name);
    assertFieldValue(name, value);
    s += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${s}\r\n`, 'latin1');
}
