/**
 * The standard application every server subject runs, so that server scenarios can script
 * requests without knowing the stack:
 *
 * - `GET /` → 200 `hello\n`
 * - `GET /big/N` → N bytes (`x`), with Content-Length
 * - `GET /slow/MS` → 200 `slow\n` after MS milliseconds
 * - `POST /early` → 413 with a 16 KiB body, answered without reading the request body
 */

/** Size of the early 413's body: large enough that losing it to an RST is visible. */
export const EARLY_BODY_LENGTH = 16 * 1024;

/** Sizes of `/big/N` that scenarios use (static-file servers pre-generate exactly these). */
export const BIG_SIZES = [10, 20, 30, 1024 * 1024, 16 * 1024 * 1024] as const;

/** A route of the standard application, parsed from a request target. */
export type AppRoute =
  | { kind: 'hello' }
  | { kind: 'big'; bytes: number }
  | { kind: 'slow'; ms: number }
  | { kind: 'early' }
  | { kind: 'missing' };

export function route(method: string, target: string): AppRoute {
  const path = target.split('?')[0] ?? '/';
  if (path === '/') return { kind: 'hello' };
  let m = /^\/big\/(\d+)$/.exec(path);
  if (m !== null) return { kind: 'big', bytes: Number(m[1]) };
  m = /^\/slow\/(\d+)$/.exec(path);
  if (m !== null) return { kind: 'slow', ms: Number(m[1]) };
  if (path === '/early' && method === 'POST') return { kind: 'early' };
  return { kind: 'missing' };
}

/** Python source of the same routes, shared by the http.server and Django drivers. */
export const PYTHON_ROUTES = String.raw`
import re, time
EARLY_BODY = b'e' * ${EARLY_BODY_LENGTH}
def route(method, path):
    path = path.split('?')[0]
    if path == '/':
        return ('hello', None)
    m = re.match(r'^/big/(\d+)$', path)
    if m:
        return ('big', int(m.group(1)))
    m = re.match(r'^/slow/(\d+)$', path)
    if m:
        return ('slow', int(m.group(1)))
    if path == '/early' and method == 'POST':
        return ('early', None)
    return ('missing', None)
`;
