/**
 * How a message body is delimited: RFC 9112 §6.3, decided once per message from its head.
 * Every guess here could desynchronise a pooled connection, so conflicting signals are errors.
 */
import { WireError } from './errors.ts';
import type { HeaderList } from './headers.ts';
import { TCHAR_CLASS, isToken, trimOws } from './chars.ts';
import { splitList, splitParameters } from './fields.ts';

export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

export const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });
export const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked' });
export const CLOSE_DELIMITED: BodyFraming = Object.freeze({ kind: 'close' });

/**
 * Whether `v` is one Content-Length member as accepted here: 1 to 15 digits and nothing else (15
 * digits stay exact as a JS number). A loop, not a regex: it runs for every message with a length.
 */
export function isLengthValue(v: string): boolean {
  const n = v.length;
  if (n === 0 || n > 15) return false;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Parses every Content-Length line. Repeated values ("5, 5" or two lines) are accepted only when
 * they are the same string, as RFC 9112 §6.3 rule 5 and RFC 9110 §8.6 allow for identical
 * members: "010" and "10" differ, and a front proxy that takes the first and one that takes the
 * last must never be told two things. Members are trimmed of SP and HTAB only: `\xa05` is not 5.
 */
export function parseContentLength(headers: HeaderList): number | undefined {
  const lines = headers.getAll('content-length');
  if (lines.length === 0) return undefined;
  // The usual single plain value, without the split and trim below.
  if (lines.length === 1 && isLengthValue(lines[0]!)) return Number(lines[0]);
  let value: string | undefined;
  for (const line of lines) {
    for (const part of line.split(',')) {
      const v = trimOws(part);
      if (!isLengthValue(v)) {
        throw new WireError('HF_WIRE_INVALID_CONTENT_LENGTH', `invalid Content-Length ${JSON.stringify(line)}`);
      }
      if (value !== undefined && v !== value) {
        throw new WireError('HF_WIRE_INVALID_CONTENT_LENGTH', `differing Content-Length values ${JSON.stringify(lines.join(', '))}`);
      }
      value = v;
    }
  }
  return Number(value);
}

/** transfer-parameter = token BWS "=" BWS ( token / quoted-string ) (RFC 9110 §10.1.4). */
const TRANSFER_PARAMETER_RE = new RegExp(String.raw`^${TCHAR_CLASS}+[ \t]*=[ \t]*(?:${TCHAR_CLASS}+|"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*")$`);

/**
 * The transfer codings of a message, lower-cased, in order (RFC 9112 §6.1, RFC 9110 §10.1.4).
 * Strict: each member is a token with well-formed parameters, OWS is SP and HTAB only, and
 * `chunked`, which defines no parameters, takes none — `chunked;` or `chunked;x=1` read as
 * chunked by one parser and as an unknown coding by another is a smuggling vector.
 */
function transferCodings(headers: HeaderList): string[] {
  const lines = headers.getAll('transfer-encoding');
  // The usual lone "chunked": the general parse below would give exactly this.
  if (lines.length === 1 && lines[0]!.length === 7 && lines[0]!.toLowerCase() === 'chunked') return ['chunked'];
  const codings: string[] = [];
  for (const line of lines) {
    // Quote-aware: a comma or semicolon inside a quoted parameter value does not split
    // (`gzip;x="a,b"` is one coding). Empty list elements are ignored (RFC 9110 §5.6.1.2).
    for (const m of splitList(line)) {
      const parts = splitParameters(m);
      const coding = parts[0]!.toLowerCase();
      if (!isToken(coding)) {
        throw new WireError('HF_WIRE_INVALID_TRANSFER_ENCODING', `invalid transfer coding ${JSON.stringify(m)}`);
      }
      for (let k = 1; k < parts.length; k++) {
        if (!TRANSFER_PARAMETER_RE.test(parts[k]!)) {
          throw new WireError('HF_WIRE_INVALID_TRANSFER_ENCODING', `malformed transfer-coding parameter in ${JSON.stringify(m)}`);
        }
      }
      if (coding === 'chunked' && parts.length > 1) {
        throw new WireError('HF_WIRE_INVALID_TRANSFER_ENCODING', `chunked takes no parameters: ${JSON.stringify(m)}`);
      }
      codings.push(coding);
    }
  }
  if (codings.length === 0) {
    throw new WireError('HF_WIRE_INVALID_TRANSFER_ENCODING', 'empty Transfer-Encoding');
  }
  return codings;
}

/** Framing of a request body (RFC 9112 §6.3 rules 3, 4, 6, 7 for requests). */
export function requestFraming(headers: HeaderList, versionMinor: number): BodyFraming {
  const hasTE = headers.has('transfer-encoding');
  if (hasTE) {
    // A 1.0 recipient cannot have understood TE; an intermediary might have framed by CL instead.
    if (versionMinor === 0) {
      throw new WireError('HF_WIRE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 request');
    }
    // CL + TE together is the classic request-smuggling vector (RFC 9112 §6.1, §11.2).
    if (headers.has('content-length')) {
      throw new WireError('HF_WIRE_CONFLICTING_FRAMING', 'both Content-Length and Transfer-Encoding');
    }
    const codings = transferCodings(headers);
    if (codings[codings.length - 1] !== 'chunked') {
      // §6.3 rule 4: a request whose final coding is not chunked cannot be delimited: 400 and close.
      throw new WireError('HF_WIRE_INVALID_TRANSFER_ENCODING', `Transfer-Encoding does not end in chunked: ${codings.join(', ')}`);
    }
    if (codings.indexOf('chunked') !== codings.length - 1) {
      throw new WireError('HF_WIRE_INVALID_TRANSFER_ENCODING', 'chunked applied more than once');
    }
    if (codings.length > 1) {
      throw new WireError('HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING', `unsupported transfer coding ${codings[0]!}`, 501);
    }
    return CHUNKED;
  }
  const length = parseContentLength(headers);
  if (length === undefined || length === 0) return NO_BODY;
  return { kind: 'length', length };
}

/** True when a response to `method` with `status` never has a body (RFC 9112 §6.3 rule 1). */
export function responseHasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || statusHasNoBody(status);
}

/** True when a response with `status` never has a body, whatever the method: 1xx, 204, 304. */
export function statusHasNoBody(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}

/** Framing of a response body (RFC 9112 §6.3), given the method of the request it answers. */
export function responseFraming(headers: HeaderList, method: string, status: number, versionMinor = 1): BodyFraming {
  if (responseHasNoBody(method, status)) return NO_BODY;
  // §6.3 rule 2: a 2xx to CONNECT switches to a tunnel; there is no HTTP body.
  if (method === 'CONNECT' && status >= 200 && status < 300) return NO_BODY;
  if (headers.has('transfer-encoding')) {
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (versionMinor === 0) {
      throw new WireError('HF_WIRE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 response', 502);
    }
    // RFC lets TE override CL, but a response carrying both is a sign of a desynchronised or
    // malicious peer: guessing could poison the pooled connection, so it is an error.
    if (headers.has('content-length')) {
      throw new WireError('HF_WIRE_CONFLICTING_FRAMING', 'response has both Content-Length and Transfer-Encoding', 502);
    }
    const codings = transferCodings(headers);
    if (codings.length !== 1 || codings[0] !== 'chunked') {
      // We cannot undo other transfer codings, and handing still-coded bytes to the caller as
      // the body would be silently wrong.
      throw new WireError('HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING', `unsupported response Transfer-Encoding ${codings.join(', ')}`, 502);
    }
    return CHUNKED;
  }
  let length: number | undefined;
  try {
    length = parseContentLength(headers);
  } catch (err) {
    throw new WireError((err as WireError).code, (err as WireError).message, 502);
  }
  if (length === undefined) return CLOSE_DELIMITED;
  if (length === 0) return NO_BODY;
  return { kind: 'length', length };
}
