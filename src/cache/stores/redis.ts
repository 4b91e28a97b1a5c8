/**
 * Redis store: one cache shared by every process on every machine. Needs the optional peer
 * dependency `@redis/client`, loaded on first use only.
 *
 * Layout: one hash per primary key (`<prefix>k:<key>`), one field per variant, whose value is
 * `<id>\n<checksummed entry blob>`. Every write is one Lua script, which Redis runs atomically:
 * a reader sees a variant before or after a write, never between; a client killed mid-command
 * leaves nothing (Redis executes only complete commands). The hash expires (TTL) when its
 * longest-lived variant does; memory bounds are Redis's own (`maxmemory` + an LRU policy).
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import type { CacheStore, StoreLimits } from '../store.ts';
import { DEFAULT_MAX_ENTRY_BYTES } from '../store.ts';
import type { StoredEntry } from '../types.ts';
import { HEAD_LAYOUT, decodeEntry, encodeHead, encodeTail } from '../entryCodec.ts';
import { CorruptEntryError, RedisClientMissingError, StoreClosedError, StoreConnectionError, StoreTimeoutError, describeError } from '../errors.ts';
import { InvalidOptionError, amountOption, durationOption } from '../../wire/optionValidation.ts';

/** Options of {@link RedisStore.connect}. */
export interface RedisStoreOptions extends Omit<StoreLimits, 'maxBytes'> {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://...` for TLS. Default
   * `redis://127.0.0.1:6379`. Credentials in the URL win over `username` / `password`.
   */
  url?: string;
  /**
   * Redis Cluster: URLs of some of its nodes (the others are discovered); `url` is not used.
   * Each script of this store touches one key, so every command goes to one slot's node.
   */
  clusterNodes?: string[];
  /**
   * Redis Sentinel: the name of the monitored primary and some sentinels (`host:port`); the
   * store talks to whichever node the sentinels say is the primary, and follows a failover.
   * `url` is not used.
   */
  sentinel?: { name: string; nodes: string[] };
  /** ACL user name (Redis 6+), when not in the URL. */
  username?: string;
  /** Password (`AUTH`), when not in the URL; keep it out of command lines, e.g. read it from the environment. */
  password?: string;
  /** TLS options for `rediss://` (a private CA, a client certificate, `servername`...). */
  tls?: Omit<ConnectionOptions, 'host' | 'port'>;
  /**
   * Longest wait for one command's reply, ms; a later reply is discarded in order (the
   * connection stays in step). Default 500. Keep it at most the cache's store timeout.
   */
  commandTimeoutMs?: number;
  /**
   * Longest wait for a TCP/TLS connection, ms. Default 1000. `connect()` gives up after three
   * attempts; once connected, a lost connection is retried in the background for ever (backoff up
   * to 2 s) while commands fail at once instead of queueing.
   */
  connectTimeoutMs?: number;
  /** Key prefix, so several caches can share one Redis. Default `hf:cache:`. */
  prefix?: string;
  /** Called when a corrupt entry is found and removed. */
  onCorrupt?: (key: string, error: CorruptEntryError) => void;
}

/** The subset of a Redis connection this store uses. */
interface Connection {
  sendCommand(args: ReadonlyArray<string | Buffer>, options?: { typeMapping?: Record<number, unknown> }): Promise<unknown>;
  connect(): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
}

/** How the store makes connections and reads the client's errors (from `@redis/client`). */
interface Link {
  /** A new connection, not yet connecting; `initial`: give up soon instead of retrying for ever. */
  open(initial: boolean): Connection;
  /** The client's command timeout error class. */
  isTimeout(err: unknown): boolean;
  /** A reply error from Redis itself (the connection is fine). */
  isReply(err: unknown): boolean;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** `host:port` for messages. */
  where: string;
  /** The last connection error, cleared when a connection is ready. */
  lastError: unknown;
}

/**
 * The tail of every write script: extend the key's TTL (ms, in ARGV[`ttlArg`]) to cover the
 * variant just written, never shortening it for the other variants under the same key.
 */
function extendTtl(ttlArg: number): string {
  return `local ttl = tonumber(ARGV[${ttlArg}])
local cur = redis.call('PTTL', KEYS[1])
if cur < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;
}

/** SHA-1 of each script, computed once (every put and freshen runs one). */
const SCRIPT_SHA = new Map<string, string>();

/** Set the variant, then extend the key's TTL to cover it. */
const PUT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
${extendTtl(3)}`;

/**
 * Compare-and-set on the entry id prefix of the variant's value (§4.3.4 freshening), replacing
 * only the blob's head (entryCodec.ts): the body and its checksum stay in Redis and are not sent
 * again. The old head's length is the decimal the blob states. A value of the older layout is
 * refused here (2), and the caller rewrites it whole with FRESHEN_WHOLE.
 */
const FRESHEN = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
local id = ARGV[2]
if not v or string.sub(v, 1, #id) ~= id then return 0 end
local p = #id
if string.sub(v, p + 1, p + 4) ~= '${HEAD_LAYOUT.magic}' then return 2 end
local n = tonumber(string.sub(v, p + ${HEAD_LAYOUT.lengthOffset + 1}, p + ${HEAD_LAYOUT.prefixLength}))
if not n then return 2 end
redis.call('HSET', KEYS[1], ARGV[1], id .. ARGV[3] .. string.sub(v, p + ${HEAD_LAYOUT.prefixLength} + n + ${HEAD_LAYOUT.digestLength} + 1))
${extendTtl(4)}`;

/** Compare-and-set on the entry id prefix, writing the whole value (blobs of the older layout). */
const FRESHEN_WHOLE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or string.sub(v, 1, #ARGV[2]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
${extendTtl(4)}`;

/** Remove a variant only if its value is still the one found corrupt or expired. */
const DROP_IF_SAME = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and redis.sha1hex(v) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
return 0`;

/** Take a lease when free, expired (PX), or already ours (renew). */
const LEASE = `
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const UNLEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

/** The reply did not come in time. */
const LATE = Symbol('late');

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');
const NL = 0x0a;

/** A store in Redis, shared across processes and machines. Create with {@link RedisStore.connect}. */
export class RedisStore implements CacheStore {
  readonly prefix: string;
  readonly maxEntryBytes: number;
  #conn: Connection;
  readonly #link: Link;
  /** When commands started failing for want of a ready connection (0: they do not). */
  #offlineSince = 0;
  readonly #bufferMapping: Record<number, unknown>;
  readonly #onCorrupt: ((key: string, error: CorruptEntryError) => void) | undefined;
  #closed = false;

  private constructor(conn: Connection, link: Link, bufferMapping: Record<number, unknown>, options: RedisStoreOptions) {
    this.#conn = conn;
    this.#link = link;
    this.#bufferMapping = bufferMapping;
    this.prefix = options.prefix ?? 'hf:cache:';
    this.maxEntryBytes = options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
    amountOption('maxEntryBytes', this.maxEntryBytes);
    this.#onCorrupt = options.onCorrupt;
  }

  /** Connect to Redis (loads `@redis/client`; throws {@link RedisClientMissingError} without it). */
  static async connect(options: RedisStoreOptions = {}): Promise<RedisStore> {
    let mod: typeof import('@redis/client');
    try {
      mod = await import('@redis/client');
    } catch (cause) {
      throw new RedisClientMissingError(cause);
    }
    const url = options.url ?? 'redis://127.0.0.1:6379';
    const tls = /^rediss:/i.test(options.clusterNodes?.[0] ?? url);
    if (!tls && options.tls !== undefined) throw new InvalidOptionError('tls', 'TLS options need a rediss:// URL');
    const commandTimeoutMs = durationOption('commandTimeoutMs', options.commandTimeoutMs ?? 500);
    const connectTimeoutMs = durationOption('connectTimeoutMs', options.connectTimeoutMs ?? 1000);
    const where =
      options.sentinel !== undefined
        ? `sentinel ${options.sentinel.name}@${options.sentinel.nodes.join(',')}`
        : options.clusterNodes === undefined
          ? safeWhere(url)
          : `cluster ${options.clusterNodes.map(safeWhere).join(',')}`;
    const nodes = options.clusterNodes;
    const sentinel = options.sentinel;
    if (sentinel !== undefined && (typeof sentinel.name !== 'string' || !Array.isArray(sentinel.nodes) || sentinel.nodes.length === 0)) {
      throw new InvalidOptionError('sentinel', 'sentinel needs { name, nodes: ["host:port", ...] }');
    }
    if (nodes !== undefined && (!Array.isArray(nodes) || nodes.length === 0)) throw new InvalidOptionError('clusterNodes', 'clusterNodes needs at least one node URL');
    const link: Link = {
      open: (initial) => {
        const clientOptions = {
          ...(options.username !== undefined ? { username: options.username } : {}),
          ...(options.password !== undefined ? { password: options.password } : {}),
          disableClientInfo: true,
          // Commands sent while the connection is down fail at once: queued, they would wait for
          // a Redis that may not come back, and the cache would stall every request with them.
          disableOfflineQueue: true,
          commandOptions: { timeout: commandTimeoutMs },
          socket: {
            ...(tls ? { ...options.tls, tls: true as const } : {}),
            connectTimeout: connectTimeoutMs,
            keepAlive: true,
            // At start-up, give up soon (a wrong address is an error then); later, keep trying
            // in the background, so the cache resumes by itself when Redis returns.
            reconnectStrategy: (retries: number, cause: Error) => (initial && retries >= 2 ? cause : Math.min(50 * 2 ** retries, 2000)),
          },
        };
        const client =
          sentinel !== undefined
            ? sentinelConnection(mod, sentinel, clientOptions)
            : nodes === undefined
              ? mod.createClient({ url, ...clientOptions })
              : clusterConnection(mod, nodes, clientOptions);
        // Errors surface through the failing command; the listener keeps the last one for its
        // message (a bare "client is offline" tells an operator nothing).
        client.on('error', (err: unknown) => {
          link.lastError = err;
        });
        client.on('ready', () => {
          link.lastError = undefined;
          initial = false;
        });
        return client;
      },
      isTimeout: (err) => err instanceof mod.TimeoutError,
      isReply: (err) => err instanceof mod.ErrorReply,
      commandTimeoutMs,
      connectTimeoutMs,
      where,
      lastError: undefined,
    };
    const conn = link.open(true);
    let timer: NodeJS.Timeout | undefined;
    try {
      // The client bounds the TCP/TLS connect, not the handshake after it.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ready connection within ${3 * connectTimeoutMs} ms`)), 3 * connectTimeoutMs);
      });
      await Promise.race([conn.connect(), late]);
    } catch (err) {
      conn.destroy();
      throw new StoreConnectionError(`cannot connect to Redis at ${where}: ${describeError(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    return new RedisStore(conn, link, { [mod.RESP_TYPES.BLOB_STRING]: Buffer }, options);
  }

  async get(key: string): Promise<StoredEntry[]> {
    this.#check();
    const hashKey = this.#hashKey(key);
    const reply = await this.#send(['HGETALL', hashKey], { typeMapping: this.#bufferMapping });
    const pairs = flattenPairs(reply);
    const now = Date.now();
    const out: StoredEntry[] = [];
    for (const [field, value] of pairs) {
      let entry: StoredEntry | undefined;
      try {
        const nl = value.indexOf(NL);
        if (nl <= 0) throw new CorruptEntryError('entry without id prefix');
        entry = decodeEntry(value.subarray(nl + 1));
        if (entry.key !== key || entry.variant !== field.toString('utf8') || entry.id !== value.subarray(0, nl).toString('utf8')) {
          throw new CorruptEntryError('entry does not belong to its field');
        }
      } catch (err) {
        if (err instanceof CorruptEntryError) this.#onCorrupt?.(key, err);
        entry = undefined;
      }
      if (entry === undefined || entry.expires <= now) {
        // A damaged or expired variant is a miss and is removed, unless it was rewritten meanwhile.
        await this.#eval(DROP_IF_SAME, [hashKey], [field, createHash('sha1').update(value).digest('hex')]);
        continue;
      }
      out.push(entry);
    }
    return out;
  }

  async put(entry: StoredEntry): Promise<void> {
    this.#check();
    const value = this.#value(entry);
    if (value.length > this.maxEntryBytes) {
      await this.#send(['HDEL', this.#hashKey(entry.key), entry.variant]);
      return;
    }
    await this.#eval(PUT, [this.#hashKey(entry.key)], [entry.variant, value, String(this.#ttl(entry))]);
  }

  async freshen(entry: StoredEntry): Promise<boolean> {
    this.#check();
    const head = encodeHead(entry);
    const idPrefix = `${entry.id}\n`;
    if (Buffer.byteLength(idPrefix) + head.length + entry.body.byteLength + HEAD_LAYOUT.digestLength > this.maxEntryBytes) return false;
    const keys = [this.#hashKey(entry.key)];
    const r = Number(await this.#eval(FRESHEN, keys, [entry.variant, idPrefix, head, String(this.#ttl(entry))]));
    if (r !== 2) return r === 1;
    return Number(await this.#eval(FRESHEN_WHOLE, keys, [entry.variant, idPrefix, this.#value(entry), String(this.#ttl(entry))])) === 1;
  }

  async delete(key: string): Promise<void> {
    this.#check();
    await this.#send(['DEL', this.#hashKey(key)]);
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#check();
    return Number(await this.#eval(LEASE, [this.#leaseKey(name)], [owner, String(Math.max(1, Math.ceil(ttlMs)))])) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    if (this.#closed) return;
    await this.#eval(UNLEASE, [this.#leaseKey(name)], [owner]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // close() waits for replies still due; from a black-holed Redis they never come.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), 1000);
    });
    try {
      if ((await Promise.race([this.#conn.close(), late])) === 'late') this.#conn.destroy();
    } catch {
      this.#conn.destroy();
    } finally {
      clearTimeout(timer);
    }
  }

  /** A unique prefix for tests that want an isolated namespace. */
  static uniquePrefix(): string {
    return `hf:test:${randomUUID()}:`;
  }

  #value(entry: StoredEntry): Buffer {
    // One concatenation of the parts (encodeEntry would copy the body once more).
    return Buffer.concat([Buffer.from(`${entry.id}\n`, 'utf8'), encodeHead(entry), encodeTail(entry)]);
  }

  #ttl(entry: StoredEntry): number {
    return Math.max(1, Math.ceil(entry.expires - Date.now()));
  }

  #hashKey(key: string): string {
    return `${this.prefix}k:${key}`;
  }

  #leaseKey(name: string): string {
    return `${this.prefix}l:${name}`;
  }

  /**
   * One command. A command that timed out leaves the connection in an unknown state (its reply
   * may still come, or, if the network dropped it, never): the connection is replaced, so that
   * no later command can be handed an earlier command's reply.
   */
  async #send(args: ReadonlyArray<string | Buffer>, options?: { typeMapping?: Record<number, unknown> }): Promise<unknown> {
    const conn = this.#conn;
    const command = String(args[0]);
    // The client's own command timeout covers only the wait to be written; a written command
    // waits for its reply for ever. This one covers the reply.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof LATE>((resolve) => {
      timer = setTimeout(() => resolve(LATE), this.#link.commandTimeoutMs);
    });
    const sent = conn.sendCommand(args, options);
    // Once the race is lost, the command is rejected when its connection is destroyed: expected.
    sent.catch(() => {});
    try {
      const reply = await Promise.race([sent, late]);
      if (reply !== LATE) {
        this.#offlineSince = 0;
        return reply;
      }
    } catch (err) {
      if (this.#link.isReply(err) || this.#closed) throw err;
      if (!this.#link.isTimeout(err)) {
        this.#stuckConnection(conn);
        const why = this.#link.lastError === undefined ? '' : ` (${describeError(this.#link.lastError)})`;
        throw new StoreConnectionError(`redis ${command} at ${this.#link.where}: ${describeError(err)}${why}`, { cause: err });
      }
    } finally {
      clearTimeout(timer);
    }
    this.#replace(conn);
    throw new StoreTimeoutError(`redis ${command}`, this.#link.commandTimeoutMs);
  }

  /**
   * A connection that stays not ready is replaced: its handshake may have been swallowed (the
   * client bounds neither that nor a written command's reply), and it would never become ready.
   */
  #stuckConnection(conn: Connection): void {
    const now = Date.now();
    if (this.#offlineSince === 0) this.#offlineSince = now;
    else if (now - this.#offlineSince > 3 * this.#link.connectTimeoutMs) {
      this.#offlineSince = 0;
      this.#replace(conn);
    }
  }

  #replace(conn: Connection): void {
    if (this.#closed || conn !== this.#conn) return;
    const next = this.#link.open(false);
    this.#conn = next;
    conn.destroy();
    // In the background: until it is ready, commands fail at once (no offline queue).
    next.connect().catch(() => {});
  }

  /** EVALSHA, loading the script on first use (NOSCRIPT). */
  async #eval(script: string, keys: string[], args: Array<string | Buffer>): Promise<unknown> {
    let sha = SCRIPT_SHA.get(script);
    if (sha === undefined) SCRIPT_SHA.set(script, (sha = sha1(script)));
    try {
      return await this.#send(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
    } catch (err) {
      if (!(err instanceof StoreConnectionError || err instanceof StoreTimeoutError) && String((err as Error).message).includes('NOSCRIPT')) {
        return this.#send(['EVAL', script, String(keys.length), ...keys, ...args]);
      }
      throw err;
    }
  }

  #check(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}

/** HGETALL replies as [field, value] buffer pairs (RESP2 flat array, or a RESP3 map). */
function flattenPairs(reply: unknown): Array<[Buffer, Buffer]> {
  const out: Array<[Buffer, Buffer]> = [];
  const toBuf = (x: unknown): Buffer => (Buffer.isBuffer(x) ? x : Buffer.from(String(x), 'utf8'));
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out.push([toBuf(reply[i]), toBuf(reply[i + 1])]);
  } else if (reply instanceof Map) {
    for (const [k, v] of reply) out.push([toBuf(k), toBuf(v)]);
  } else if (reply !== null && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply)) out.push([Buffer.from(k, 'utf8'), toBuf(v)]);
  }
  return out;
}

/** `host:port` of a Redis URL, without credentials (for messages). */
function safeWhere(url: string): string {
  try {
    const u = new URL(url);
    return u.host === '' ? url.replace(/\/\/[^@/]*@/, '//') : u.host;
  } catch {
    return '(invalid URL)';
  }
}

/** The key a command of this store acts on (its slot picks the cluster node). */
function firstKey(args: ReadonlyArray<string | Buffer>): string | Buffer | undefined {
  const command = String(args[0]).toUpperCase();
  // EVAL / EVALSHA script numkeys key ...; HGETALL / HDEL / DEL key ...
  return command === 'EVAL' || command === 'EVALSHA' ? args[3] : args[1];
}

/** A Redis Cluster client seen as one connection: each command routed by its key. */
function clusterConnection(mod: typeof import('@redis/client'), nodes: string[], defaults: Record<string, unknown>): Connection & { on(event: string, listener: (arg: unknown) => void): unknown } {
  const cluster = mod.createCluster({ rootNodes: nodes.map((url) => ({ url })), defaults });
  // The cluster client has no 'ready' event: a finished connect() is its readiness.
  let onReady: ((arg: unknown) => void) | undefined;
  return {
    sendCommand: (args, options) => cluster.sendCommand(firstKey(args), false, [...args], options),
    connect: async () => {
      await cluster.connect();
      onReady?.(undefined);
    },
    close: () => cluster.close(),
    destroy: () => cluster.destroy(),
    on: (event, listener) => (event === 'ready' ? (onReady = listener) : cluster.on(event, listener)),
  };
}

/** A Sentinel-managed primary seen as one connection (the client follows failovers). */
function sentinelConnection(mod: typeof import('@redis/client'), sentinel: { name: string; nodes: string[] }, nodeClientOptions: Record<string, unknown>): Connection & { on(event: string, listener: (arg: unknown) => void): unknown } {
  const sentinelRootNodes = sentinel.nodes.map((n) => {
    const m = /^(?:redis:\/\/)?\[?([^\]]+?)\]?:(\d+)\/?$/.exec(n);
    if (m === null) throw new InvalidOptionError('sentinel.nodes', `expected host:port, got ${JSON.stringify(n)}`);
    return { host: m[1]!, port: Number(m[2]) };
  });
  const client = mod.createSentinel({ name: sentinel.name, sentinelRootNodes, nodeClientOptions });
  let onReady: ((arg: unknown) => void) | undefined;
  return {
    sendCommand: (args, options) => client.sendCommand(false, [...args], options),
    connect: async () => {
      await client.connect();
      onReady?.(undefined);
    },
    close: () => client.close(),
    destroy: () => {
      // Tearing down: a failure to do so leaves nothing to clean up.
      client.destroy().catch(() => {});
    },
    on: (event, listener) => (event === 'ready' ? (onReady = listener) : client.on(event, listener)),
  };
}
