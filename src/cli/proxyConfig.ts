/**
 * `holdfast proxy`'s configuration: what to listen on, TLS, logs, the admin port, workers, and
 * the routes with their upstream groups. It comes from the command line (one route) or from a
 * JSON file given with `--config` (any number of routes); command-line flags for the listener,
 * workers, TLS, logs and admin override the file's.
 *
 * Every error in a file names the file, the line and column, and the key's path:
 * `proxy.json:7:7: routes[0].upstreams[1]: invalid upstream URL "htp:/x"`.
 */
import { readFileSync } from 'node:fs';
import { HoldfastError } from '../wire/holdfastError.ts';
import { parseJsonWithPositions, JsonSyntaxError, type JsonNode } from './jsonSource.ts';
import type { ForwardedStyle, UpstreamKeepAlive } from '../proxy/index.ts';
import type { AccessLogFormat } from '../proxy/accessLog.ts';

/** A configuration that cannot be used: says where and why. */
export class ConfigError extends HoldfastError {
  constructor(message: string) {
    super('HF_PROXY_CONFIG', message);
    this.name = 'ConfigError';
  }
}

/** Active health checking of a route's upstreams. */
export interface HealthCheckPlan {
  /** Path requested with GET (a 2xx or 3xx answer is healthy). */
  path: string;
  /** Milliseconds between checks. */
  interval: number;
  /** Milliseconds a check may take. */
  timeout: number;
  /** Consecutive failed checks that mark an upstream down. */
  fails: number;
  /** Consecutive passed checks that mark a down upstream up again. */
  passes: number;
}

/** One route. */
export interface RoutePlan {
  name: string;
  host: string | null;
  pathPrefix: string;
  upstreams: string[];
  /** `memory[:SIZE]`, a SQLite directory or a Redis URL; null: no cache. */
  cache: string | null;
  /** Longest wait for one cache store operation, ms (default 500); also the store's own reply or busy timeout. */
  cacheTimeout: number | undefined;
  /** How long a failing store is skipped before it is tried again, ms (default 2000). */
  cacheCoolDown: number | undefined;
  concurrency: number | undefined;
  keepAlive: UpstreamKeepAlive | undefined;
  bufferRequests: number | undefined;
  bufferResponses: number | undefined;
  connect: number | undefined;
  headers: number | undefined;
  body: number | undefined;
  queue: number | undefined;
  /** Idle limit of a WebSocket (upgrade) tunnel, ms; 0: never. */
  tunnelIdle: number | undefined;
  /** Protocols clients may upgrade to; undefined: the proxy's default (websocket). */
  upgradeProtocols: string[] | undefined;
  maxFails: number | undefined;
  failTimeout: number | undefined;
  forwarded: ForwardedStyle | undefined;
  preserveHost: boolean;
  /** PEM file of CAs trusted for HTTPS upstreams (replaces the system roots). */
  upstreamCa: string | null;
  healthCheck: HealthCheckPlan | null;
}

/** The whole configuration. */
export interface ProxyPlan {
  host: string;
  port: number;
  workers: number;
  /** Milliseconds in-flight requests get to finish on SIGTERM. */
  shutdownTimeout: number;
  tls: { cert: string; key: string } | null;
  accessLog: string | null;
  logFormat: AccessLogFormat;
  admin: { host: string; port: number } | null;
  routes: RoutePlan[];
  /** The file the routes came from, or null. */
  configFile: string | null;
}

export const KEEP_ALIVE_MODES = ['always', 'while-queued', 'never'] as const satisfies readonly UpstreamKeepAlive[];
export const FORWARDED_STYLES = ['x-forwarded', 'forwarded', 'both', 'none'] as const satisfies readonly ForwardedStyle[];
export const LOG_FORMATS = ['combined', 'json'] as const satisfies readonly AccessLogFormat[];

/** Parses `HOST:PORT`, `[V6]:PORT` or `PORT`; null when malformed. */
export function parseHostPort(v: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v) ?? /^()()(\d+)$/.exec(v);
  if (m === null) return null;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '127.0.0.1' : host, port };
}

/** Whether `spec` names a cache `--cache` accepts; the reason when it does not. */
export function cacheSpecProblem(spec: string): string | null {
  if (spec === '') return 'an empty cache name';
  if (spec.startsWith('memory')) return spec === 'memory' || parseSize(spec.slice('memory:'.length)) !== null ? null : `invalid memory cache size in ${JSON.stringify(spec)} (expected memory or memory:SIZE such as memory:256m)`;
  return null;
}

/** `65536`, `64k`, `256m`, `2g` (binary multiples); null when malformed or zero. */
export function parseSize(v: string): number | null {
  const m = /^(\d{1,15})([kmg]?)b?$/i.exec(v);
  if (m === null) return null;
  const n = Number(m[1]) * 1024 ** ['', 'k', 'm', 'g'].indexOf(m[2]!.toLowerCase());
  return n > 0 && Number.isSafeInteger(n) ? n : null;
}

/** Reads values out of a JSON node, failing with the file position and key path. */
class Reader {
  readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  fail(node: { line: number; column: number }, path: string, message: string): never {
    throw new ConfigError(`${this.file}:${node.line}:${node.column}: ${path}: ${message}`);
  }

  object(node: JsonNode, path: string, keys: readonly string[]): Extract<JsonNode, { kind: 'object' }> {
    if (node.kind !== 'object') return this.fail(node, path, `must be an object, got ${node.kind}`);
    for (const [key] of node.entries) {
      if (!keys.includes(key)) this.fail(node.keyAt.get(key)!, path === '' ? key : `${path}.${key}`, `unknown key (known: ${keys.join(', ')})`);
    }
    return node;
  }

  string(node: JsonNode | undefined, path: string): string | undefined {
    if (node === undefined) return undefined;
    if (node.kind !== 'string' || node.value === '') return this.fail(node, path, 'must be a non-empty string');
    return node.value;
  }

  integer(node: JsonNode | undefined, path: string, min: number): number | undefined {
    if (node === undefined) return undefined;
    if (node.kind !== 'number' || !Number.isSafeInteger(node.value) || node.value < min) return this.fail(node, path, `must be an integer >= ${min}`);
    return node.value;
  }

  boolean(node: JsonNode | undefined, path: string): boolean | undefined {
    if (node === undefined) return undefined;
    if (node.kind !== 'boolean') return this.fail(node, path, 'must be true or false');
    return node.value;
  }

  choice<C extends string>(node: JsonNode | undefined, path: string, choices: readonly C[]): C | undefined {
    const v = this.string(node, path);
    if (v === undefined) return undefined;
    const c = choices.find((x) => x === v);
    if (c === undefined) return this.fail(node!, path, `must be one of ${choices.join(', ')}`);
    return c;
  }
}

const TOP_KEYS = ['listen', 'workers', 'shutdownTimeout', 'tls', 'accessLog', 'logFormat', 'admin', 'routes'] as const;
const ROUTE_KEYS = [
  'name',
  'host',
  'path',
  'upstreams',
  'cache',
  'cacheTimeout',
  'cacheCoolDown',
  'upstreamConcurrency',
  'upstreamKeepAlive',
  'bufferRequests',
  'bufferResponses',
  'timeouts',
  'maxFails',
  'failTimeout',
  'forwarded',
  'preserveHost',
  'upstreamCa',
  'healthCheck',
] as const;

/** Checks an upstream URL the way `Upstream` will, so the error can carry a position. */
function upstreamProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `invalid upstream URL ${JSON.stringify(url)}`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `upstream must be http: or https:, got ${u.protocol}`;
  if (u.search !== '' || u.hash !== '') return 'upstream URL must not have a query or fragment';
  return null;
}

/** The default of a whole plan (one route, nothing set). */
export function defaultPlan(): Omit<ProxyPlan, 'routes'> {
  return { host: '127.0.0.1', port: 8080, workers: 1, shutdownTimeout: 10_000, tls: null, accessLog: null, logFormat: 'combined', admin: null, configFile: null };
}

/** A route with every setting at its default. */
export function defaultRoute(upstreams: string[]): RoutePlan {
  return {
    name: 'default',
    host: null,
    pathPrefix: '/',
    upstreams,
    cache: null,
    cacheTimeout: undefined,
    cacheCoolDown: undefined,
    concurrency: undefined,
    keepAlive: undefined,
    bufferRequests: undefined,
    bufferResponses: undefined,
    connect: undefined,
    headers: undefined,
    body: undefined,
    queue: undefined,
    tunnelIdle: undefined,
    upgradeProtocols: undefined,
    maxFails: undefined,
    failTimeout: undefined,
    forwarded: undefined,
    preserveHost: true,
    upstreamCa: null,
    healthCheck: null,
  };
}

/**
 * Reads and checks a configuration file; throws `ConfigError` naming the file position and the
 * key. Nothing is opened or started here: a running proxy can check a new file before using it.
 */
export function loadConfigFile(file: string): ProxyPlan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  let root: JsonNode;
  try {
    root = parseJsonWithPositions(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new ConfigError(`${file}:${err.line}:${err.column}: ${err.reason}`);
    throw err;
  }
  const r = new Reader(file);
  const top = r.object(root, '', TOP_KEYS);
  const e = top.entries;
  const plan: ProxyPlan = { ...defaultPlan(), routes: [], configFile: file };
  const listenNode = e.get('listen');
  const listen = r.string(listenNode, 'listen');
  if (listen !== undefined) {
    const hp = parseHostPort(listen) ?? r.fail(listenNode!, 'listen', 'expected HOST:PORT');
    plan.host = hp.host;
    plan.port = hp.port;
  }
  const workersNode = e.get('workers');
  if (workersNode !== undefined) {
    if (workersNode.kind === 'string' && workersNode.value === 'auto') plan.workers = 0;
    else plan.workers = r.integer(workersNode, 'workers', 1)!;
  }
  plan.shutdownTimeout = r.integer(e.get('shutdownTimeout'), 'shutdownTimeout', 0) ?? plan.shutdownTimeout;
  const tlsNode = e.get('tls');
  if (tlsNode !== undefined) {
    const t = r.object(tlsNode, 'tls', ['cert', 'key']);
    const cert = r.string(t.entries.get('cert'), 'tls.cert') ?? r.fail(t, 'tls', 'needs cert');
    const key = r.string(t.entries.get('key'), 'tls.key') ?? r.fail(t, 'tls', 'needs key');
    plan.tls = { cert, key };
  }
  plan.accessLog = r.string(e.get('accessLog'), 'accessLog') ?? null;
  plan.logFormat = r.choice(e.get('logFormat'), 'logFormat', LOG_FORMATS) ?? 'combined';
  const adminNode = e.get('admin');
  const admin = r.string(adminNode, 'admin');
  if (admin !== undefined) plan.admin = parseHostPort(admin) ?? r.fail(adminNode!, 'admin', 'expected HOST:PORT');
  const routesNode = e.get('routes') ?? r.fail(top, 'routes', 'missing: a configuration needs at least one route');
  if (routesNode.kind !== 'array' || routesNode.items.length === 0) r.fail(routesNode, 'routes', 'must be a non-empty array');
  const items = routesNode.kind === 'array' ? routesNode.items : [];
  const names = new Set<string>();
  items.forEach((node, i) => {
    const p = `routes[${i}]`;
    const o = r.object(node, p, ROUTE_KEYS);
    const g = (k: (typeof ROUTE_KEYS)[number]): JsonNode | undefined => o.entries.get(k);
    const upNode = g('upstreams') ?? r.fail(o, `${p}.upstreams`, 'missing: a route needs at least one upstream');
    if (upNode.kind !== 'array' || upNode.items.length === 0) r.fail(upNode, `${p}.upstreams`, 'must be a non-empty array of URLs');
    const upstreams = (upNode.kind === 'array' ? upNode.items : []).map((u, j) => {
      const url = r.string(u, `${p}.upstreams[${j}]`)!;
      const problem = upstreamProblem(url);
      if (problem !== null) r.fail(u, `${p}.upstreams[${j}]`, problem);
      return url;
    });
    const route = defaultRoute(upstreams);
    const hostNode = g('host');
    const host = r.string(hostNode, `${p}.host`);
    if (host !== undefined && !/^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$/.test(host)) r.fail(hostNode!, `${p}.host`, 'must be a lower-case host name without port');
    route.host = host ?? null;
    const pathNode = g('path');
    const path = r.string(pathNode, `${p}.path`) ?? '/';
    if (!path.startsWith('/')) r.fail(pathNode!, `${p}.path`, 'must begin with "/"');
    route.pathPrefix = path;
    const nameNode = g('name');
    route.name = r.string(nameNode, `${p}.name`) ?? `${route.host ?? '*'}${route.pathPrefix}`;
    if (names.has(route.name)) r.fail(nameNode ?? o, `${p}.name`, `another route is named ${JSON.stringify(route.name)}`);
    names.add(route.name);
    const cacheNode = g('cache');
    route.cache = r.string(cacheNode, `${p}.cache`) ?? null;
    route.cacheTimeout = r.integer(g('cacheTimeout'), `${p}.cacheTimeout`, 1);
    route.cacheCoolDown = r.integer(g('cacheCoolDown'), `${p}.cacheCoolDown`, 0);
    if (route.cache !== null) {
      const problem = cacheSpecProblem(route.cache);
      if (problem !== null) r.fail(cacheNode!, `${p}.cache`, problem);
    }
    route.concurrency = r.integer(g('upstreamConcurrency'), `${p}.upstreamConcurrency`, 1);
    route.keepAlive = r.choice(g('upstreamKeepAlive'), `${p}.upstreamKeepAlive`, KEEP_ALIVE_MODES);
    route.bufferRequests = r.integer(g('bufferRequests'), `${p}.bufferRequests`, 0);
    route.bufferResponses = r.integer(g('bufferResponses'), `${p}.bufferResponses`, 1);
    const tNode = g('timeouts');
    if (tNode !== undefined) {
      const t = r.object(tNode, `${p}.timeouts`, ['connect', 'headers', 'body', 'queue', 'tunnelIdle']);
      route.connect = r.integer(t.entries.get('connect'), `${p}.timeouts.connect`, 1);
      route.headers = r.integer(t.entries.get('headers'), `${p}.timeouts.headers`, 1);
      route.body = r.integer(t.entries.get('body'), `${p}.timeouts.body`, 1);
      route.queue = r.integer(t.entries.get('queue'), `${p}.timeouts.queue`, 0);
      route.tunnelIdle = r.integer(t.entries.get('tunnelIdle'), `${p}.timeouts.tunnelIdle`, 0);
    }
    route.maxFails = r.integer(g('maxFails'), `${p}.maxFails`, 1);
    route.failTimeout = r.integer(g('failTimeout'), `${p}.failTimeout`, 0);
    route.forwarded = r.choice(g('forwarded'), `${p}.forwarded`, FORWARDED_STYLES);
    route.preserveHost = r.boolean(g('preserveHost'), `${p}.preserveHost`) ?? true;
    route.upstreamCa = r.string(g('upstreamCa'), `${p}.upstreamCa`) ?? null;
    const hcNode = g('healthCheck');
    if (hcNode !== undefined) {
      const h = r.object(hcNode, `${p}.healthCheck`, ['path', 'interval', 'timeout', 'fails', 'passes']);
      const hp = `${p}.healthCheck`;
      const checkPath = r.string(h.entries.get('path'), `${hp}.path`) ?? r.fail(h, `${hp}.path`, 'missing');
      if (!checkPath.startsWith('/')) r.fail(h.entries.get('path')!, `${hp}.path`, 'must begin with "/"');
      route.healthCheck = {
        path: checkPath,
        interval: r.integer(h.entries.get('interval'), `${hp}.interval`, 100) ?? 5_000,
        timeout: r.integer(h.entries.get('timeout'), `${hp}.timeout`, 1) ?? 2_000,
        fails: r.integer(h.entries.get('fails'), `${hp}.fails`, 1) ?? 2,
        passes: r.integer(h.entries.get('passes'), `${hp}.passes`, 1) ?? 1,
      };
    }
    plan.routes.push(route);
  });
  return plan;
}
