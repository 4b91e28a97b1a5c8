/**
 * Server options and their defaults. Every bound a peer can push against has a limit here.
 */
import type { TlsOptions } from 'node:tls';
import type { ParserLimits, WireError } from '../wire/index.ts';
import type { LingerOptions } from '../transport/lingeringClose.ts';
import type { ServerRequest } from './serverRequest.ts';
import type { ResponseWriter } from './responseWriter.ts';
import type { UpgradeHook } from './upgrade.ts';

/**
 * The streaming handler: the request head and a body stream in, a response writer out. The
 * response is completed when the returned promise settles (an unfinished response is ended;
 * a rejection before the head was sent becomes a 500, or the error's `status`).
 */
export type StreamingHandler = (req: ServerRequest, res: ResponseWriter) => void | Promise<void>;

/** Facts about the connection a fetch handler may want (second argument). */
export interface FetchInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The underlying streaming request (head, HeaderList, body stream). */
  readonly request: ServerRequest;
}

/**
 * A response the server sent itself, without calling the handler: a malformed request (400, 414,
 * 431...), a request that stalled (408), a body larger than `maxBodySize` (413), an unmet
 * `Expect` (417), CONNECT (501). What `onAutoResponse` receives, so an access log can show every
 * response, as nginx logs its own 400s and 408s.
 */
export interface AutoResponse {
  readonly status: number;
  /**
   * The request, when its head was parsed (413, 417, 501, a 408 while its body was arriving);
   * null when the head was malformed or never completed.
   */
  readonly request: ServerRequest | null;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Response body bytes sent (0 for a HEAD request). */
  readonly bytes: number;
  /**
   * Milliseconds from the request's first byte (for a pipelined request: the end of the head
   * before it) until the response was written.
   */
  readonly durationMs: number;
  /** What was wrong with a malformed request (null otherwise). */
  readonly error: WireError | null;
}

/** A web-standard fetch handler: `Request` in, `Response` out (a Hono `app.fetch` fits). */
export type FetchHandler = (request: Request, info: FetchInfo) => Response | Promise<Response>;

/** Options of `createServer`. Exactly one of `handler` and `fetch` is required. */
export interface ServerOptions {
  /** Streaming handler. */
  handler?: StreamingHandler;
  /** Fetch handler. */
  fetch?: FetchHandler;
  /**
   * Install `LightResponse` as `globalThis.Response`, so every `new Response()` and
   * `Response.json()` of the process — a framework's included — is lazy: it validates and
   * snapshots its arguments as the platform's does, is an `instanceof Response` and behaves as
   * one, but builds undici's `Headers` and body stream only if something reads them; the server
   * writes its body straight to the socket. A byte body is sent from the buffer passed (not
   * copied, unlike the platform): do not modify it afterwards. `globalThis.Response` is
   * replaced when the server is created (`createServer()` / `serve()`, not when holdfast is
   * imported) and not restored when it closes: objects and subclasses made meanwhile would
   * otherwise see `Response` change identity. `Headers`, `Request` and `fetch` are left alone, and `instanceof Response` stays
   * true for the platform's own responses. Default: true with `fetch`, false with `handler`;
   * pass `false` to keep the platform's `Response`.
   */
  lightResponse?: boolean;
  /** TLS options (`key`, `cert`, ...): serve HTTPS. */
  tls?: TlsOptions;
  /** A new connection must deliver a complete request head within this (ms) of accept; a later request within this of its first byte. Default 10 000. A connection that sent nothing is closed silently. */
  headersTimeout?: number;
  /**
   * Longest pause (ms) between two bytes of a request body while the server is reading it (the
   * handler wants more, or the rest is being drained); a client that stops sending is answered
   * 408 and the connection closes. Time the server itself stops reading (backpressure, a
   * pipelined request waiting its turn, before `100 Continue`) does not count. 0 disables.
   * Default 60 000, as nginx's `client_body_timeout`.
   */
  bodyTimeout?: number;
  /**
   * Longest time (ms) to receive a whole request, head and body, from its first byte; past it the
   * client is answered 408 (or, when the response has begun, its body stream fails) and the
   * connection closes. 0 disables. Default 300 000, as node:http's `requestTimeout`.
   */
  requestTimeout?: number;
  /**
   * Idle time (ms) advertised as `Keep-Alive: timeout=N` (whole seconds, at least 1: a value
   * below 1 000 is advertised as 1 s and kept that long). Default 5 000.
   */
  keepAliveTimeout?: number;
  /** The real idle close happens this much (ms, >= 0) after the advertised timeout, so hint-honouring clients retire first. Default 1 000. */
  keepAliveGrace?: number;
  /** Most requests served on one connection; the last response says `Connection: close`. Default 1 000. */
  maxRequestsPerConnection?: number;
  /** Largest request body accepted (bytes); larger is answered 413. Default 128 MiB. */
  maxBodySize?: number;
  /** Unread request body the server discards to keep a connection reusable (bytes); beyond it the connection closes. Default 256 KiB. */
  maxDrainBytes?: number;
  /** Request body bytes buffered before the server stops reading the socket. Default 64 KiB. */
  bodyHighWaterMark?: number;
  /** Lingering-close bounds (ms). Default 2 s idle, 30 s total, 30 s without flush progress. */
  linger?: Partial<LingerOptions>;
  /** Parser limits (request-line 414, head size and field count 431). */
  limits?: Partial<ParserLimits>;
  /**
   * Takes over connections whose request asks for a protocol upgrade (WebSocket...): see
   * `UpgradeHook`. Without it, such requests are answered by the handler like any other.
   */
  upgrade?: UpgradeHook;
  /** Called with errors a handler threw or the server met; default writes to stderr. */
  onError?: (err: unknown, req: ServerRequest | null) => void;
  /**
   * Called after each response the server sends without calling the handler (see
   * `AutoResponse`), for access logs and metrics. An error it throws goes to `onError`.
   */
  onAutoResponse?: (response: AutoResponse) => void;
}

/** Options after defaults. */
export interface ResolvedOptions {
  readonly headersTimeout: number;
  /** 0: none. */
  readonly bodyTimeout: number;
  /** 0: none. */
  readonly requestTimeout: number;
  /**
   * When an idle keep-alive connection is closed (ms after its last response): never before the
   * advertised `timeout=N` seconds plus the grace.
   */
  readonly keepAliveCloseAfter: number;
  readonly maxRequestsPerConnection: number;
  readonly maxBodySize: number;
  readonly maxDrainBytes: number;
  readonly bodyHighWaterMark: number;
  readonly linger: LingerOptions;
  readonly limits: Partial<ParserLimits>;
  readonly keepAliveValue: string;
  readonly upgrade: UpgradeHook | null;
  readonly onError: (err: unknown, req: ServerRequest | null) => void;
  readonly onAutoResponse: ((response: AutoResponse) => void) | null;
}
