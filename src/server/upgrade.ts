/**
 * Handing a connection to another protocol (WebSocket, h2c...) after an `Upgrade` request.
 *
 * The hook receives what node:http's `'upgrade'` event gives — a request with `method`, `url` and
 * lower-cased `headers`, the socket, and the bytes that arrived after the request head — so the
 * `ws` package's `handleUpgrade(req, socket, head, cb)` (and what is built on it) works unchanged:
 *
 * ```ts
 * const wss = new WebSocketServer({ noServer: true });
 * await serve({
 *   fetch: app.fetch,
 *   upgrade(req, socket, head) {
 *     if (req.url !== '/live') return false;          // not ours: the request gets its normal response
 *     wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
 *   },
 * });
 * ```
 *
 * From the hand-off on the socket belongs to the hook: no header, idle or body timer runs on it, it
 * carries no further HTTP request, and graceful shutdown counts it as busy until it closes, then
 * destroys it at the shutdown deadline.
 */
import type { Socket } from 'node:net';
import type { ServerRequest } from './serverRequest.ts';

/** The request of an upgrade, in the shape node:http's `'upgrade'` event passes (what `ws` reads). */
export interface UpgradeRequest {
  readonly method: string;
  /** The request-target as sent (node:http's `req.url`). */
  readonly url: string;
  readonly httpVersion: '1.1';
  /** Fields by lower-cased name; repeated fields joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** The connection's socket (also the hook's second argument). */
  readonly socket: Socket;
  /** The protocols asked for (`Upgrade` tokens, lower-cased, without versions), in the client's order. */
  readonly protocols: readonly string[];
  /** The request as the streaming API sees it. */
  readonly request: ServerRequest;
}

/**
 * Called for each request that asks for an upgrade (HTTP/1.1, `Connection: upgrade`, no body) once
 * every earlier request on the connection has been answered. Return `false` to decline: the request
 * then goes to the handler as any other, and the bytes after it are read as HTTP. Any other return
 * means the hook took the socket (and `head`, bytes already read past the request head); it must
 * write the `101` (or a refusal) itself and close the socket when done.
 */
export type UpgradeHook = (req: UpgradeRequest, socket: Socket, head: Buffer) => boolean | void;

/** @internal The request object handed to an upgrade hook. */
export function upgradeRequest(req: ServerRequest, socket: Socket, protocols: readonly string[]): UpgradeRequest {
  const headers: Record<string, string> = {};
  for (const [name] of req.headers) {
    const key = name.toLowerCase();
    if (!Object.hasOwn(headers, key)) headers[key] = req.headers.get(key)!;
  }
  return { method: req.method, url: req.target, httpVersion: '1.1', headers, socket, protocols, request: req };
}
