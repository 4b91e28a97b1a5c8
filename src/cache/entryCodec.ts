/**
 * The byte format of a stored entry in persistent stores (SQLite, Redis): a self-checking blob,
 * so that a torn or tampered entry is detected on read and treated as a miss (never served).
 *
 * Layout (HFC2): a head and a tail, each with its own checksum, so that a 304 can replace the head
 * (header fields and timing, RFC 9111 §4.3.4) without the body being read, hashed or sent again:
 *   head = "HFC2" | metadata length, 10 ASCII digits | metadata JSON (UTF-8) | SHA-256 of all before
 *   tail = body | SHA-256 of (entry id | body)
 * The metadata length is decimal text so that a store can find the tail in its own query language
 * (SQLite `substr`, Redis Lua). The tail's checksum covers the entry id, so a head can only ever
 * be joined to the body of its own entry. In the metadata, `headers` is the `HeaderList` as
 * `[name, value]` pairs in order. Blobs in the older single-checksum layout (HFC1) still decode.
 * @module
 */
import { createHash } from 'node:crypto';
import type { StoredEntry } from './types.ts';
import { HeaderList } from '../wire/headers.ts';
import { CorruptEntryError } from './errors.ts';

const MAGIC_V1 = Buffer.from('HFC1', 'latin1');
const MAGIC = Buffer.from('HFC2', 'latin1');
const DIGEST_LENGTH = 32;
const LENGTH_DIGITS = 10;
/** Bytes of a head before the metadata: magic and the length digits. */
const PREFIX_LENGTH = 4 + LENGTH_DIGITS;

type Meta = Omit<StoredEntry, 'body' | 'headers'> & { headers: Array<[string, string]> };

/**
 * Where the tail starts in a blob of the current layout, as the expression each store evaluates
 * itself: 1 + PREFIX_LENGTH + (the decimal at [4, 14)) + DIGEST_LENGTH, 1-based for SQL and Lua.
 */
export const HEAD_LAYOUT = { magic: 'HFC2', lengthOffset: 4, lengthDigits: LENGTH_DIGITS, prefixLength: PREFIX_LENGTH, digestLength: DIGEST_LENGTH } as const;

/** The head of `entry`: everything a freshened entry changes (all but the body). */
export function encodeHead(entry: StoredEntry): Buffer {
  const { body: _body, headers, ...rest } = entry;
  const meta: Meta = { ...rest, headers: headers.entries() };
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const prefix = Buffer.from(`HFC2${String(json.length).padStart(LENGTH_DIGITS, '0')}`, 'latin1');
  const hash = createHash('sha256').update(prefix).update(json).digest();
  return Buffer.concat([prefix, json, hash]);
}

/** The tail of `entry`: its body and the checksum that binds the body to the entry id. */
export function encodeTail(entry: StoredEntry): Buffer {
  const tailHash = createHash('sha256').update(entry.id, 'utf8').update(entry.body).digest();
  return Buffer.concat([entry.body, tailHash]);
}

/** Serialise an entry into one checksummed blob (head then tail). */
export function encodeEntry(entry: StoredEntry): Buffer {
  return Buffer.concat([encodeHead(entry), encodeTail(entry)]);
}

/** Parse and verify a blob written by {@link encodeEntry}; throws {@link CorruptEntryError}. */
export function decodeEntry(blob: Uint8Array): StoredEntry {
  const buf = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (buf.length >= 4 && buf.subarray(0, 4).equals(MAGIC_V1)) return decodeV1(buf);
  if (buf.length < PREFIX_LENGTH + 2 * DIGEST_LENGTH || !buf.subarray(0, 4).equals(MAGIC)) throw new CorruptEntryError('bad entry header');
  const digits = buf.toString('latin1', 4, PREFIX_LENGTH);
  if (!/^[0-9]{10}$/.test(digits)) throw new CorruptEntryError('bad entry header');
  const metaLength = Number(digits);
  const headEnd = PREFIX_LENGTH + metaLength + DIGEST_LENGTH;
  if (headEnd + DIGEST_LENGTH > buf.length) throw new CorruptEntryError('entry shorter than its header says');
  const headDigest = createHash('sha256').update(buf.subarray(0, PREFIX_LENGTH + metaLength)).digest();
  if (!headDigest.equals(buf.subarray(PREFIX_LENGTH + metaLength, headEnd))) throw new CorruptEntryError('entry checksum mismatch');
  const meta = parseMeta(buf.subarray(PREFIX_LENGTH, PREFIX_LENGTH + metaLength));
  const bodyEnd = buf.length - DIGEST_LENGTH;
  const tailDigest = createHash('sha256').update(meta.id, 'utf8').update(buf.subarray(headEnd, bodyEnd)).digest();
  if (!tailDigest.equals(buf.subarray(bodyEnd))) throw new CorruptEntryError('entry checksum mismatch');
  return withBody(meta, buf, headEnd, bodyEnd);
}

/** "HFC1" | u32 BE metadata length | metadata JSON | body | SHA-256 of all before. */
function decodeV1(buf: Buffer): StoredEntry {
  if (buf.length < 8 + DIGEST_LENGTH) throw new CorruptEntryError('bad entry header');
  const metaLength = buf.readUInt32BE(4);
  if (8 + metaLength + DIGEST_LENGTH > buf.length) throw new CorruptEntryError('entry shorter than its header says');
  const end = buf.length - DIGEST_LENGTH;
  const digest = createHash('sha256').update(buf.subarray(0, end)).digest();
  if (!digest.equals(buf.subarray(end))) throw new CorruptEntryError('entry checksum mismatch');
  return withBody(parseMeta(buf.subarray(8, 8 + metaLength)), buf, 8 + metaLength, end);
}

function parseMeta(json: Buffer): Meta {
  let meta: Meta;
  try {
    meta = JSON.parse(json.toString('utf8')) as Meta;
  } catch (cause) {
    throw new CorruptEntryError('entry metadata is not JSON', { cause });
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.id !== 'string' || typeof meta.status !== 'number' || !Array.isArray(meta.headers)) {
    throw new CorruptEntryError('entry metadata has the wrong shape');
  }
  return meta;
}

function withBody(meta: Meta, buf: Buffer, start: number, end: number): StoredEntry {
  let headers: HeaderList;
  try {
    // Validated like any other header line: a stored value is sent to clients as it is.
    headers = new HeaderList(meta.headers);
  } catch (cause) {
    throw new CorruptEntryError('entry headers are not valid fields', { cause });
  }
  // Copy the body out so the entry does not pin the whole blob (and callers may keep it).
  const body = new Uint8Array(end - start);
  body.set(buf.subarray(start, end));
  return { ...meta, headers, body };
}

/** Bytes an entry occupies, for size limits. */
export function entrySize(entry: StoredEntry): number {
  let n = entry.body.byteLength + entry.key.length + entry.variant.length + 64;
  for (const [k, v] of entry.headers.entries()) n += k.length + v.length + 4;
  return n;
}
