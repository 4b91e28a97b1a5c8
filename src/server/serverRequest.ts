/**
 * One request as the streaming API sees it: the parsed head, connection facts, and the body as
 * a stream with backpressure.
 */
import { parseAbsoluteTarget, requestUrl, type HeaderList, type RequestHead, type BodyFraming } from '../wire/index.ts';
import type { IncomingBody } from './incomingBody.ts';

/** A request received by the server. The body is read at most once, through `body`. */
export class ServerRequest {
  /** Method, case-sensitive as sent (`GET`, `POST`...). */
  readonly method: string;
  /** The request-target exactly as sent (`/path?query`, or absolute-form, `*`, authority-form). */
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly versionMinor: number;
  readonly headers: HeaderList;
  /** How the body is delimited on the wire. */
  readonly framing: BodyFraming;
  readonly body: IncomingBody;
  /** Whether the request arrived over TLS. */
  readonly secure: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The `Expect` field value, lower-cased, if any. */
  readonly expect: string | undefined;
  /** @internal The head as parsed. */
  readonly head: RequestHead;
  private controller: AbortController | null = null;
  /** `url`, built on first read: a fetch handler reads it once or more per request. */
  private urlCache: string | null = null;
  private abortReason: Error | null = null;

  constructor(head: RequestHead, body: IncomingBody, secure: boolean, remoteAddress: string, remotePort: number) {
    this.head = head;
    this.method = head.method;
    this.target = head.target;
    this.versionMinor = head.versionMinor;
    this.headers = head.headers;
    this.framing = head.framing;
    this.expect = head.expect;
    this.body = body;
    this.secure = secure;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
  }

  /**
   * The path and query of an origin-form target (`/a/b?c`); for absolute-form, its path and query
   * exactly as sent (never normalised: `/a/../b` stays what the client asked for); `*` as is.
   */
  get pathAndQuery(): string {
    const t = this.target;
    if (t.charCodeAt(0) === 0x2f) return t;
    if (t === '*') return t;
    return parseAbsoluteTarget(t)?.pathAndQuery ?? t;
  }

  /** The path without the query. */
  get path(): string {
    const pq = this.pathAndQuery;
    const q = pq.indexOf('?');
    return q === -1 ? pq : pq.slice(0, q);
  }

  /**
   * The absolute URL of the request, built from the parsed parts: the scheme of the connection
   * (or of an absolute-form target), the validated authority (`localhost` when the request has
   * none) and the path and query. Never `Host` pasted in front of the target: `Host: x\admin?`
   * would make `/public` read as `/admin` (the parser refuses such a Host; see wire/authority.ts).
   */
  get url(): string {
    if (this.urlCache !== null) return this.urlCache;
    const t = this.target;
    const pq = this.pathAndQuery;
    const absolute = t.charCodeAt(0) !== 0x2f && t !== '*' ? parseAbsoluteTarget(t) : null;
    const scheme = absolute !== null ? absolute.scheme : this.secure ? 'https' : 'http';
    this.urlCache = requestUrl(scheme, this.head.authority, pq.charCodeAt(0) === 0x2f ? pq : '/');
    return this.urlCache;
  }

  /** The value of the field `name` (lines joined with ", "), or undefined. */
  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  /** Aborted when the connection is lost before the response completed. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.abortReason !== null) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Whether the connection was lost before the response completed. */
  get aborted(): boolean {
    return this.abortReason !== null;
  }

  /** @internal */
  abort(reason: Error): void {
    if (this.abortReason !== null) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}
