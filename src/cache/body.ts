/**
 * Body helpers: buffering a response for storage up to a limit, and discarding bodies.
 * @module
 */
import type { Body } from './types.ts';

/** The outcome of {@link bufferUpTo}. */
export type Buffered = { kind: 'whole'; bytes: Uint8Array } | { kind: 'overflow'; body: AsyncIterable<Uint8Array> };

/**
 * Read `body` whole if it fits in `limit` bytes. Otherwise hand back a body that replays what was
 * read and continues with the rest, so the caller still receives every byte (nothing is stored).
 */
export async function bufferUpTo(body: Body, limit: number): Promise<Buffered> {
  if (body instanceof Uint8Array) return body.byteLength <= limit ? { kind: 'whole', bytes: body } : { kind: 'overflow', body: once(body) };
  const it = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const r = await it.next();
    if (r.done === true) break;
    chunks.push(r.value);
    total += r.value.byteLength;
    if (total > limit) return { kind: 'overflow', body: replayThenRest(chunks, it) };
  }
  return { kind: 'whole', bytes: concat(chunks, total) };
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function* replayThenRest(chunks: Uint8Array[], it: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let finished = false;
  try {
    yield* chunks;
    for (;;) {
      const r = await it.next();
      if (r.done === true) break;
      yield r.value;
    }
    finished = true;
  } finally {
    // The consumer stopped early: let the source release its connection.
    if (!finished) await it.return?.();
  }
}

/** Concatenate chunks into one array. */
export function concat(chunks: readonly Uint8Array[], total = chunks.reduce((n, c) => n + c.byteLength, 0)): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** Read and drop a body that is expected to be empty or small (a 304's). Bounded by the body. */
export async function drain(body: Body): Promise<void> {
  if (body instanceof Uint8Array) return;
  for await (const _ of body) {
    // discard
  }
}

/** Stop reading a body that will not be used. */
export async function cancel(body: Body): Promise<void> {
  if (body instanceof Uint8Array) return;
  await body[Symbol.asyncIterator]().return?.();
}
