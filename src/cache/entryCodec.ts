/**
 * The byte format of a stored entry in persistent stores (SQLite, Redis): one self-checking
 * blob, so that a torn or tampered entry is detected on read and treated as a miss (never served).
 *
 * Layout: "HFC1" | u32 BE metadata length | metadata JSON (UTF-8) | body | SHA-256 of all before.
 * In the metadata, `headers` is the `HeaderList` as `[name, value]` pairs in order.
 * @module
 */
import { createHash } from 'node:crypto';
import type { StoredEntry } from './types.ts';
import { HeaderList } from '../wire/headers.ts';
import { CorruptEntryError } from './errors.ts';

const MAGIC = Buffer.from('HFC1', 'latin1');
const DIGEST_LENGTH = 32;

type Meta = Omit<StoredEntry, 'body' | 'headers'> & { headers: Array<[string, string]> };

/** Serialise an entry into one checksummed blob. */
export function encodeEntry(entry: StoredEntry): Buffer {
  const { body, headers, ...rest } = entry;
  const meta: Meta = { ...rest, headers: headers.entries() };
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const head = Buffer.allocUnsafe(8);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(json.length, 4);
  const hash = createHash('sha256').update(head).update(json).update(body).digest();
  return Buffer.concat([head, json, body, hash]);
}

/** Parse and verify a blob written by {@link encodeEntry}; throws {@link CorruptEntryError}. */
export function decodeEntry(blob: Uint8Array): StoredEntry {
  const buf = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (buf.length < 8 + DIGEST_LENGTH || !buf.subarray(0, 4).equals(MAGIC)) throw new CorruptEntryError('bad entry header');
  const metaLength = buf.readUInt32BE(4);
  if (8 + metaLength + DIGEST_LENGTH > buf.length) throw new CorruptEntryError('entry shorter than its header says');
  const end = buf.length - DIGEST_LENGTH;
  const digest = createHash('sha256').update(buf.subarray(0, end)).digest();
  if (!digest.equals(buf.subarray(end))) throw new CorruptEntryError('entry checksum mismatch');
  let meta: Meta;
  try {
    meta = JSON.parse(buf.subarray(8, 8 + metaLength).toString('utf8')) as Meta;
  } catch (cause) {
    throw new CorruptEntryError('entry metadata is not JSON', { cause });
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.id !== 'string' || typeof meta.status !== 'number' || !Array.isArray(meta.headers)) {
    throw new CorruptEntryError('entry metadata has the wrong shape');
  }
  let headers: HeaderList;
  try {
    // Validated like any other header line: a stored value is sent to clients as it is.
    headers = new HeaderList(meta.headers);
  } catch (cause) {
    throw new CorruptEntryError('entry headers are not valid fields', { cause });
  }
  // Copy the body out so the entry does not pin the whole blob (and callers may keep it).
  const body = new Uint8Array(end - 8 - metaLength);
  body.set(buf.subarray(8 + metaLength, end));
  return { ...meta, headers, body };
}

/** Bytes an entry occupies, for size limits. */
export function entrySize(entry: StoredEntry): number {
  let n = entry.body.byteLength + entry.key.length + entry.variant.length + 64;
  for (const [k, v] of entry.headers.entries()) n += k.length + v.length + 4;
  return n;
}
