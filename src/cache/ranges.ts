/**
 * Range requests answered from a stored complete response (RFC 9110 §14, §13.1.5; RFC 9111 §3.4
 * lets a cache satisfy a range request from a complete stored response). Pure.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { CacheResponse } from './types.ts';
import { HeaderList } from '../wire/headers.ts';
import { resolveByteRanges } from '../wire/byteRanges.ts';
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
  const length = body.byteLength;
  const ranges = resolveByteRanges(range, length);
  if (ranges === null) return whole;
  const headers = whole.headers.clone();
  if (ranges.length === 0) {
    // §15.5.17: 416 says the current length; the stored body is not the content of this answer.
    for (const name of ['content-type', 'content-encoding', 'etag', 'last-modified']) headers.delete(name);
    headers.set('content-range', `bytes */${length}`).set('content-length', '0');
    return { ...whole, status: 416, statusText: 'Range Not Satisfiable', headers, body: new Uint8Array(0) };
  }
  if (ranges.length === 1) {
    const r = ranges[0]!;
    headers.set('content-range', `bytes ${r.first}-${r.last}/${length}`).set('content-length', String(r.last - r.first + 1));
    return { ...whole, status: 206, statusText: 'Partial Content', headers, body: body.subarray(r.first, r.last + 1) };
  }
  const boundary = randomBytes(12).toString('hex');
  const type = whole.headers.first('content-type');
  const parts: Buffer[] = [];
  for (const r of ranges) {
    const head = `\r\n--${boundary}\r\n${type === undefined ? '' : `Content-Type: ${type}\r\n`}Content-Range: bytes ${r.first}-${r.last}/${length}\r\n\r\n`;
    parts.push(Buffer.from(head, 'latin1'), Buffer.from(body.buffer, body.byteOffset + r.first, r.last - r.first + 1));
  }
  parts.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'));
  const multipart = Buffer.concat(parts);
  headers.set('content-type', `multipart/byteranges; boundary=${boundary}`).set('content-length', String(multipart.byteLength));
  return { ...whole, status: 206, statusText: 'Partial Content', headers, body: new Uint8Array(multipart.buffer, multipart.byteOffset, multipart.byteLength) };
}
