/**
 * Request buffering (nginx's `proxy_request_buffering`): a request body up to a bound is read
 * whole from the client before any upstream slot is taken, so the backend only ever sees
 * complete requests arriving at full speed — a slow upload cannot tie up a single-threaded
 * backend, and a client that disconnects mid-upload never reaches it at all. A buffered body is
 * also replayable, so the client's safe retries and a second upstream may resend it.
 *
 * Bodies above the bound stream through with backpressure (and are never replayed).
 */
import { OutgoingBody } from '../client/outgoingBody.ts';
import type { ServerRequest } from '../server/index.ts';

/** A request body ready to be sent upstream. */
export interface PreparedBody {
  /** The body for the holdfast client. */
  readonly body: OutgoingBody;
  /** Whether it was read whole (replayable, sent with Content-Length). */
  readonly buffered: boolean;
  /**
   * Whether the upstream should be asked `Expect: 100-continue` first: the client asked for it
   * and nothing of the body has been read yet, so the upstream's verdict can still reach the
   * client before it sends a byte.
   */
  readonly expectContinue: boolean;
}

/**
 * Reads `req`'s body whole when it is at most `limit` bytes; otherwise returns a streaming body
 * (whatever was read already goes first). `null` when the request has no body.
 */
export async function prepareRequestBody(req: ServerRequest, limit: number): Promise<PreparedBody | null> {
  const framing = req.framing;
  if (framing.kind === 'none') return null;
  const source = req.body;
  if (framing.kind === 'length') {
    if (framing.length <= limit) {
      const bytes = await source.bytes();
      return { body: OutgoingBody.from(bytes)!, buffered: true, expectContinue: false };
    }
    // Too large to hold: stream it. Nothing is read until the upstream asks for the body, so an
    // `Expect: 100-continue` from the client is answered by the upstream's own decision.
    return {
      // A generator object is lazy: nothing is read before the client first pulls from it. Not
      // the factory form: that would tell the client the body can be replayed, and it cannot.
      body: OutgoingBody.withLength(readRest(source, []), framing.length),
      buffered: false,
      expectContinue: req.expect === '100-continue',
    };
  }
  // Chunked (or anything of unknown length): read up to the bound and see.
  const parts: Buffer[] = [];
  let size = 0;
  for (let chunk = await source.read(); chunk !== null; chunk = await source.read()) {
    parts.push(chunk);
    size += chunk.length;
    if (size > limit) return { body: OutgoingBody.from(readRest(source, parts))!, buffered: false, expectContinue: false };
  }
  return { body: OutgoingBody.from(Buffer.concat(parts, size))!, buffered: true, expectContinue: false };
}

/** Yields `head` and then the rest of the body, reading with backpressure. */
async function* readRest(source: ServerRequest['body'], head: Buffer[]): AsyncGenerator<Uint8Array> {
  yield* head;
  for (let chunk = await source.read(); chunk !== null; chunk = await source.read()) yield chunk;
}
