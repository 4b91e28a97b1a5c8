/**
 * Range requests answered from the cache (RFC 9110 §14, §13.1.5), and partial content stored and
 * combined (RFC 9111 §3.3-3.4, RFC 9110 §15.3.7.3):
 * - a stored complete response answers any range of it;
 * - a stored 206 (one part, `Content-Range: bytes first-last/complete`) is kept "as if it were an
 *   incomplete 200" (§3.3) and answers only ranges wholly within its part (§3.3: "MUST NOT use an
 *   incomplete response to answer requests unless ... the request is partial and specifies a
 *   range wholly within the incomplete response"), always marked 206;
 * - a new part with the same strong validator as a stored part is combined
 *   with it when the two overlap or touch; a union covering the whole representation becomes a
 *   complete 200 (§15.3.7.3). Anything else (another or a weak validator, none at all, parts that
 *   neither overlap nor touch) replaces what was stored: one entry keeps one continuous part.
 * Pure.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { CacheResponse } from './types.ts';
import { HeaderList } from '../wire/headers.ts';
import { parseContentRange, resolveByteRanges } from '../wire/byteRanges.ts';
import type { ByteRange, ContentRange } from '../wire/byteRanges.ts';
import { parseEntityTag, strongMatch } from '../wire/etag.ts';
import { parseHttpDate } from '../wire/httpDate.ts';

/**
 * §13.1.5 If-Range: the range applies only when the validator names the stored response by a
 * strong comparison — an entity-tag that strongly matches its (strong) ETag, or a date equal to
 * its Last-Modified when that is a strong validator (at least a second before its Date, §8.8.2.2).
 */
export function ifRangeHolds(ifRange: string | undefined, stored: HeaderList): boolean {
  if (ifRange === undefined) return true;
  const tag = parseEntityTag(ifRange);
  if (tag !== undefined) {
    const own = parseEntityTag(stored.first('etag'));
    return own !== undefined && strongMatch(tag, own);
  }
  const date = parseHttpDate(ifRange);
  const lastModified = parseHttpDate(stored.first('last-modified'));
  const responseDate = parseHttpDate(stored.first('date'));
  if (date === undefined || lastModified === undefined || responseDate === undefined) return false;
  return date === lastModified && responseDate - lastModified >= 1000;
}

/**
 * The answer to a range request cut from `whole`, a complete stored 200 response with a byte
 * body: 206 with one range or `multipart/byteranges` for several (§14.6), 416 when none is
 * satisfiable (§15.5.17), or `whole` itself when the Range field is to be ignored or If-Range
 * does not hold.
 */
export function rangeFromStored(whole: CacheResponse, requestHeaders: HeaderList): CacheResponse {
  const body = whole.body;
  const range = requestHeaders.get('range');
  if (!(body instanceof Uint8Array) || range === undefined) return whole;
  if (!ifRangeHolds(requestHeaders.get('if-range'), whole.headers)) return whole;
  const ranges = resolveByteRanges(range, body.byteLength);
  if (ranges === null) return whole;
  return cutRanges(whole, body, 0, body.byteLength, ranges);
}

/** The part a stored 206 holds, from its Content-Range, when it frames its body exactly. */
export function storedPart(headers: HeaderList, bodyLength: number): ContentRange | undefined {
  const part = parseContentRange(headers.first('content-range'));
  if (part === undefined || part.last - part.first + 1 !== bodyLength) return undefined;
  return part;
}

/**
 * Whether a stored part (`headers` and a body of `bodyLength` bytes, a 206) can answer this range
 * request by itself (§3.3): If-Range holds, and every range asked for lies within the part (or
 * none is satisfiable against the complete length it states: 416).
 */
export function partSatisfies(headers: HeaderList, bodyLength: number, requestHeaders: HeaderList): boolean {
  const part = storedPart(headers, bodyLength);
  const range = requestHeaders.get('range');
  if (part === undefined || range === undefined) return false;
  if (!ifRangeHolds(requestHeaders.get('if-range'), headers)) return false;
  const ranges = resolveByteRanges(range, part.complete);
  if (ranges === null) return false; // the whole representation would be the answer: not held
  return ranges.every((r) => r.first >= part.first && r.last <= part.last);
}

/** The answer cut from a stored part, for a request {@link partSatisfies} said it can answer. */
export function rangeFromPart(stored: CacheResponse, requestHeaders: HeaderList): CacheResponse {
  const body = stored.body as Uint8Array;
  const part = storedPart(stored.headers, body.byteLength)!;
  const ranges = resolveByteRanges(requestHeaders.get('range')!, part.complete)!;
  return cutRanges(stored, body, part.first, part.complete, ranges);
}

/** A response to combine: its status, header fields and whole body. */
export interface Part {
  status: number;
  statusText: string;
  headers: HeaderList;
  body: Uint8Array;
}

/**
 * RFC 9111 §3.4, RFC 9110 §15.3.7.3: `incoming`, a 206 just received, combined with `stored` (a
 * stored 206) of the same representation, or `undefined` when they cannot be combined (then
 * `incoming` replaces `stored`). Both must carry the same strong entity-tag; the parts must
 * overlap or touch, and describe the same complete length. The header fields are the new
 * response's (the most recent, §15.3.7.3); the result is a complete 200 when the union covers the
 * whole representation, else a 206 of the union.
 */
export function combineParts(stored: Part, incoming: Part): Part | undefined {
  const tag = parseEntityTag(incoming.headers.first('etag'));
  const own = parseEntityTag(stored.headers.first('etag'));
  if (tag === undefined || own === undefined || !strongMatch(tag, own)) return undefined;
  const b = storedPart(incoming.headers, incoming.body.byteLength);
  if (b === undefined) return undefined;
  const a = storedPart(stored.headers, stored.body.byteLength);
  if (a === undefined || a.complete !== b.complete || a.complete === 0) return undefined;
  if (b.first > a.last + 1 || a.first > b.last + 1) return undefined; // neither overlapping nor touching
  const first = Math.min(a.first, b.first);
  const last = Math.max(a.last, b.last);
  const body = new Uint8Array(last - first + 1);
  body.set(stored.body, a.first - first);
  // The same strong validator: the bytes they share are the same; the newer ones are written last.
  body.set(incoming.body, b.first - first);
  const headers = incoming.headers.clone();
  headers.set('content-length', String(body.byteLength));
  if (first === 0 && last === a.complete - 1) {
    // §15.3.7.3: the whole representation: a complete 200, with the complete length.
    headers.delete('content-range');
    return { status: 200, statusText: 'OK', headers, body };
  }
  headers.set('content-range', `bytes ${first}-${last}/${a.complete}`);
  return { status: 206, statusText: incoming.statusText, headers, body };
}

/**
 * The 206 (or 416) answer for `ranges` of a representation of `complete` bytes, of which `body`
 * holds the bytes from `offset` on (0 for a complete response).
 */
function cutRanges(from: CacheResponse, body: Uint8Array, offset: number, complete: number, ranges: ByteRange[]): CacheResponse {
  const headers = from.headers.clone();
  headers.delete('content-range');
  if (ranges.length === 0) {
    // §15.5.17: 416 says the current length; the stored body is not the content of this answer.
    for (const name of ['content-type', 'content-encoding', 'etag', 'last-modified']) headers.delete(name);
    headers.set('content-range', `bytes */${complete}`).set('content-length', '0');
    return { ...from, status: 416, statusText: 'Range Not Satisfiable', headers, body: new Uint8Array(0) };
  }
  if (ranges.length === 1) {
    const r = ranges[0]!;
    headers.set('content-range', `bytes ${r.first}-${r.last}/${complete}`).set('content-length', String(r.last - r.first + 1));
    return { ...from, status: 206, statusText: 'Partial Content', headers, body: body.subarray(r.first - offset, r.last - offset + 1) };
  }
  const boundary = randomBytes(12).toString('hex');
  const type = from.headers.first('content-type');
  const parts: Buffer[] = [];
  for (const r of ranges) {
    const head = `\r\n--${boundary}\r\n${type === undefined ? '' : `Content-Type: ${type}\r\n`}Content-Range: bytes ${r.first}-${r.last}/${complete}\r\n\r\n`;
    parts.push(Buffer.from(head, 'latin1'), Buffer.from(body.buffer, body.byteOffset + r.first - offset, r.last - r.first + 1));
  }
  parts.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'));
  const multipart = Buffer.concat(parts);
  headers.set('content-type', `multipart/byteranges; boundary=${boundary}`).set('content-length', String(multipart.byteLength));
  return { ...from, status: 206, statusText: 'Partial Content', headers, body: new Uint8Array(multipart.buffer, multipart.byteOffset, multipart.byteLength) };
}
