/**
 * The chunked transfer coding (RFC 9112 §7.1): an incremental decoder that tells "last chunk and
 * trailers seen" apart from "ran out of bytes", and an encoder.
 */
import { WireError } from './errors.ts';
import { HeaderList } from './headers.ts';
import { isFieldValueByte, isTokenByte } from './chars.ts';

const CR = 0x0d;
const LF = 0x0a;

const S_SIZE = 0;
const S_EXT = 1;
const S_SIZE_LF = 2;
const S_DATA = 3;
const S_DATA_CR = 4;
const S_DATA_LF = 5;
const S_TRAILER = 6;
const S_DONE = 7;

/** Hex digits beyond this cannot be a real chunk and would overflow a safe integer. */
const MAX_SIZE_DIGITS = 13;

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
      switch (this.state) {
        case S_SIZE: {
          const c = buf[i]!;
          const v = hexValue(c);
          if (v !== -1) {
            if (++this.digits > MAX_SIZE_DIGITS) throw new WireError('HF_WIRE_CHUNK_TOO_LARGE', 'chunk size overflows');
            this.size = this.size * 16 + v;
            i++;
          } else if (this.digits === 0) {
            throw new WireError('HF_WIRE_INVALID_CHUNK', `invalid chunk size byte 0x${c.toString(16)}`);
          } else if (c === CR) {
            this.state = S_SIZE_LF;
            i++;
          } else if (c === LF && this.limits.allowBareLF) {
            i++;
            this.afterSizeLine();
          } else if (c === 0x3b /* ; */ || c === 0x20 || c === 0x09) {
            // chunk-ext with optional BWS before it (RFC 9112 §7.1.1).
            this.state = S_EXT;
          } else {
            throw new WireError('HF_WIRE_INVALID_CHUNK', `invalid chunk size byte 0x${c.toString(16)}`);
          }
          break;
        }
        case S_EXT: {
          const c = buf[i]!;
          if (c === CR) {
            this.state = S_SIZE_LF;
          } else if (c === LF && this.limits.allowBareLF) {
            i++;
            this.afterSizeLine();
            break;
          } else if (!(isFieldValueByte(c) || isTokenByte(c))) {
            throw new WireError('HF_WIRE_INVALID_CHUNK', `invalid byte 0x${c.toString(16)} in chunk extension`);
          } else if (++this.extLength > this.limits.maxExtensionLength) {
            throw new WireError('HF_WIRE_INVALID_CHUNK', 'chunk extensions too long');
          }
          i++;
          break;
        }
        case S_SIZE_LF: {
          if (buf[i] !== LF) throw new WireError('HF_WIRE_BARE_CR', 'bare CR in chunk size line');
          i++;
          this.afterSizeLine();
          break;
        }
        case S_DATA: {
          const take = Math.min(this.remaining, n - i);
          onData(buf.subarray(i, i + take));
          this.received += take;
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = S_DATA_CR;
          break;
        }
        case S_DATA_CR: {
          const c = buf[i]!;
          if (c === CR) {
            this.state = S_DATA_LF;
            i++;
          } else if (c === LF && this.limits.allowBareLF) {
            this.state = S_SIZE;
            i++;
          } else {
            throw new WireError('HF_WIRE_INVALID_CHUNK', 'chunk data not followed by CRLF');
          }
          break;
        }
        case S_DATA_LF: {
          if (buf[i] !== LF) throw new WireError('HF_WIRE_BARE_CR', 'bare CR after chunk data');
          this.state = S_SIZE;
          i++;
          break;
        }
        case S_TRAILER: {
          const c = buf[i]!;
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
              this.trailers = parseTrailerSection(Buffer.from(t), this.limits.allowBareLF);
              this.state = S_DONE;
              return i;
            }
            this.trailerLineStart = t.length;
          }
          break;
        }
        case S_DONE:
          return i;
      }
    }
    return i;
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
    this.extLength = 0;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Parses the trailer section bytes (ending in an empty line) as field lines. */
function parseTrailerSection(bytes: Buffer, allowBareLF: boolean): HeaderList {
  const headers = new HeaderList();
  const text = bytes.toString('latin1');
  const lines = text.split('\n');
  for (let line of lines) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    else if (line.length > 0 && !allowBareLF) throw new WireError('HF_WIRE_BARE_LF', 'bare LF in trailers');
    if (line.length === 0) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new WireError('HF_WIRE_INVALID_HEADER_NAME', 'invalid trailer line');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, '');
    headers.append(name, value);
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
  for (const [name, value] of trailers) s += `${name}: ${value}\r\n`;
  return Buffer.from(`${s}\r\n`, 'latin1');
}
