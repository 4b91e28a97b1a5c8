/** Helpers shared by the wire tests: run a parser over bytes and record what it reported. */
import { RequestParser, ResponseParser, WireError, type RequestHead, type ResponseHead, type HeaderList, type ParserLimits } from '../../src/wire/index.ts';

export interface Recorded<H> {
  head: H;
  body: Buffer;
  trailers: HeaderList | null;
  complete: boolean;
}

export interface Run<H> {
  messages: Recorded<H>[];
  informational: ResponseHead[];
  error: unknown;
}

/** Splits `bytes` at the given cut points (sorted, deduplicated, within range). */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

export function bytewise(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
  return out;
}

/**
 * Feeds `chunks` to a fresh RequestParser; copies each chunk first and scribbles over the copy
 * afterwards, so a parser that keeps a view of a caller's buffer is caught.
 */
export function runRequests(chunks: Buffer[] | Buffer | string, opts: { finish?: boolean; limits?: Partial<ParserLimits> } = {}): Run<RequestHead> {
  const run: Run<RequestHead> = { messages: [], informational: [], error: undefined };
  let cur: Recorded<RequestHead> | null = null;
  const parser = new RequestParser({
    onHead(head) { cur = { head, body: Buffer.alloc(0), trailers: null, complete: false }; run.messages.push(cur); },
    onBody(chunk) { cur!.body = Buffer.concat([cur!.body, chunk]); },
    onComplete(trailers) { cur!.trailers = trailers; cur!.complete = true; },
  }, opts.limits);
  feed(parser, chunks, opts.finish ?? false, run);
  return run;
}

export function runResponses(methods: string[], chunks: Buffer[] | Buffer | string, opts: { finish?: boolean; limits?: Partial<ParserLimits> } = {}): Run<ResponseHead> & { parser: ResponseParser } {
  const run: Run<ResponseHead> = { messages: [], informational: [], error: undefined };
  let cur: Recorded<ResponseHead> | null = null;
  const parser = new ResponseParser({
    onHead(head) { cur = { head, body: Buffer.alloc(0), trailers: null, complete: false }; run.messages.push(cur); },
    onBody(chunk) { cur!.body = Buffer.concat([cur!.body, chunk]); },
    onComplete(trailers) { cur!.trailers = trailers; cur!.complete = true; },
    onInformational(head) { run.informational.push(head); },
  }, opts.limits);
  for (const m of methods) parser.expect(m);
  feed(parser, chunks, opts.finish ?? false, run);
  return { ...run, parser };
}

function feed(parser: RequestParser | ResponseParser, chunks: Buffer[] | Buffer | string, finish: boolean, run: Run<unknown>): void {
  const list = typeof chunks === 'string' ? [Buffer.from(chunks, 'latin1')] : Buffer.isBuffer(chunks) ? [chunks] : chunks;
  try {
    for (const c of list) {
      const copy = Buffer.from(c);
      parser.execute(copy);
      copy.fill(0x58);
    }
    if (finish) parser.finish();
  } catch (err) {
    run.error = err;
  }
}

/** The error's code, or 'OK' if there was none; throws if a non-WireError escaped. */
export function codeOf(run: { error: unknown }): string {
  if (run.error === undefined) return 'OK';
  if (!(run.error instanceof WireError)) throw run.error as Error;
  return run.error.code;
}

/** A comparable summary of a run: heads (without the HeaderList object), bodies, trailers. */
export function summary(run: Run<RequestHead | ResponseHead>): unknown {
  return {
    error: run.error instanceof WireError ? run.error.code : run.error === undefined ? null : String(run.error),
    informational: run.informational.map((h) => ({ status: h.status, headers: h.headers.entries() })),
    messages: run.messages.map((m) => {
      const { headers, ...rest } = m.head as RequestHead & ResponseHead;
      return {
        head: { ...rest, headers: headers.entries() },
        body: m.body.toString('latin1'),
        trailers: m.trailers === null ? null : m.trailers.entries(),
        complete: m.complete,
      };
    }),
  };
}

export const crlf = (...lines: string[]): string => lines.map((l) => `${l}\r\n`).join('');
/** A request head from lines: crlf-joined plus the empty line. */
export const req = (...lines: string[]): string => `${crlf(...lines)}\r\n`;
