/**
 * Routing requests to upstream groups by host and path prefix. Each route has its own
 * `ReverseProxy` (its own upstreams, cache, timeouts, concurrency and buffering).
 *
 * The most specific route wins: a route naming the request's host beats a route for any host,
 * then the longest path prefix wins; among equals, the one listed first. Prefixes compare as
 * plain strings on the path as sent (nginx's prefix `location`): `/api` also matches `/apix`,
 * write `/api/` to mean the directory.
 */
import type { ServerRequest } from '../server/index.ts';
import { InvalidOptionError } from '../wire/optionValidation.ts';
import type { ReverseProxy } from './proxy.ts';

/** One route. */
export interface ProxyRoute {
  /** A name for logs and metrics (default: `host` + `pathPrefix`). */
  readonly name: string;
  /** Host (lower-case, without port) this route serves; null: any host. */
  readonly host: string | null;
  /** Path prefix, beginning with `/` (`/` matches every origin-form path). */
  readonly pathPrefix: string;
  readonly proxy: ReverseProxy;
}

/** An ordered, immutable table of routes. */
export class RouteTable {
  readonly routes: readonly ProxyRoute[];
  private readonly ordered: readonly ProxyRoute[];

  constructor(routes: readonly ProxyRoute[]) {
    if (routes.length === 0) throw new InvalidOptionError('routes', 'at least one route is required');
    const names = new Set<string>();
    for (const r of routes) {
      if (!r.pathPrefix.startsWith('/')) throw new InvalidOptionError('routes', `route ${r.name}: path prefix must begin with "/", got ${JSON.stringify(r.pathPrefix)}`);
      if (names.has(r.name)) throw new InvalidOptionError('routes', `two routes are named ${JSON.stringify(r.name)}`);
      names.add(r.name);
    }
    this.routes = routes;
    // A stable sort keeps the listed order among equally specific routes.
    this.ordered = [...routes].sort((a, b) => Number(b.host !== null) - Number(a.host !== null) || b.pathPrefix.length - a.pathPrefix.length);
  }

  /** The route for a request, or null when none matches. */
  match(req: ServerRequest): ProxyRoute | null {
    return this.find(req.head.authority?.hostname ?? null, req.target);
  }

  /**
   * The route for a host (lower-case, no port; null when the request named none) and a request
   * target. An absolute-form target routes by its path; `*` (OPTIONS) by the prefix `/`.
   */
  find(host: string | null, target: string): ProxyRoute | null {
    const path = target.charCodeAt(0) === 0x2f ? target : target === '*' ? '/' : pathOfAbsolute(target);
    for (const r of this.ordered) {
      if (r.host !== null && r.host !== host) continue;
      if (path.startsWith(r.pathPrefix)) return r;
    }
    return null;
  }
}

/** The path of an absolute-form target (`http://h/p?q` gives `/p?q`), `/` when it has none. */
function pathOfAbsolute(target: string): string {
  const start = target.indexOf('//');
  if (start === -1) return '/';
  const slash = target.indexOf('/', start + 2);
  return slash === -1 ? '/' : target.slice(slash);
}
