/**
 * A `Response` that costs nothing until something reads it. undici's `Response` builds a
 * `Headers` object and a `ReadableStream` for every body, and copies a byte body, which a server
 * that only writes the body to a socket does not need: that construction is most of the cost of
 * a fetch handler.
 *
 * `LightResponse` is an `instanceof Response` and behaves as one. Its constructor does what the
 * platform's does that can be observed — validates the status, reason and header fields (and
 * throws the same errors), snapshots the headers, adds the default Content-Type of a string
 * body — but keeps the result as plain values. One difference: a byte body (`Uint8Array`,
 * `Buffer`, `ArrayBuffer`) is kept by reference, not copied, so it must not be modified after
 * the `Response` is made (node:http's contract for `res.end(buffer)`; the platform copies). The server writes
 * those values straight to the socket. Touching anything that needs the platform object
 * (`headers`, `body`, `clone()`, `text()`...) builds the real `Response` once, from the
 * snapshot, and delegates to it, so behaviour is the standard one. Bodies other than a string,
 * bytes or nothing (streams, `Blob`, `FormData`...) and inits it cannot check cheaply build the
 * real `Response` in the constructor.
 *
 * Use it per module (`import { LightResponse as Response } from 'holdfast/server'`) or
 * process-wide: a server with a fetch handler installs it as `globalThis.Response` when it is
 * created (`lightResponse: false` opts out), so an unchanged framework such as Hono benefits.
 */
import { isToken, invalidFieldValueAt, isOws } from '../wire/chars.ts';

/** The platform's own `Response` (undici), captured before any `installLightResponse()`. */
export const NativeResponse: typeof Response = globalThis.Response;
type BodyInit = ConstructorParameters<typeof Response>[0];

/** A header snapshot: [name, value] pairs, validated as the platform's `Headers` would. */
export type HeaderPairs = [string, string][];

const BODY = Symbol('holdfast.body');
const STATUS = Symbol('holdfast.status');
const STATUS_TEXT = Symbol('holdfast.statusText');
const HEADERS = Symbol('holdfast.headers');
const REAL = Symbol('holdfast.realResponse');

interface LightFields {
  /** A string, a private copy of the bytes, or null. */
  [BODY]: string | Uint8Array | null;
  [STATUS]: number;
  [STATUS_TEXT]: string;
  [HEADERS]: HeaderPairs;
  [REAL]: Response | undefined;
}

const TEXT_PLAIN = 'text/plain;charset=UTF-8';

function real(self: LightFields): Response {
  let r = self[REAL];
  if (r === undefined) {
    r = new NativeResponse(self[BODY], { status: self[STATUS], statusText: self[STATUS_TEXT], headers: self[HEADERS] });
    self[REAL] = r;
  }
  return r;
}

/** Whether `v` would be stored unchanged by the platform's `Headers` (already normalised, valid). */
function plainValue(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  if (v.length > 0 && (isOws(v.charCodeAt(0)) || isOws(v.charCodeAt(v.length - 1)))) return false;
  return invalidFieldValueAt(v) === -1;
}

/**
 * A snapshot of `init` as pairs, or null when the platform's conversion must run instead (an
 * unusual shape, a value it would normalise, an invalid field — it then throws its own error).
 */
function snapshotHeaders(init: unknown): HeaderPairs | null {
  if (init === undefined || init === null) return [];
  if (typeof init !== 'object') return null;
  const pairs: HeaderPairs = [];
  if (init instanceof Headers) {
    // Already validated and normalised by the platform; names come lower-cased, values of a
    // repeated field joined (Set-Cookie lines apart), as the platform's copy would give them.
    for (const [name, value] of init) pairs.push([name, value]);
    return pairs;
  }
  if (Array.isArray(init)) {
    for (const pair of init as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) return null;
      const [name, value] = pair as unknown[];
      if (typeof name !== 'string' || !isToken(name) || !plainValue(value)) return null;
      pairs.push([name, value]);
    }
    return pairs;
  }
  const initProto = Object.getPrototypeOf(init) as unknown;
  if (initProto !== Object.prototype && initProto !== null) return null;
  // The platform converts every own key, enumerable or not, and throws on a symbol key.
  for (const name of Reflect.ownKeys(init)) {
    if (typeof name !== 'string') return null;
    const value = (init as Record<string, unknown>)[name];
    if (!isToken(name) || !plainValue(value)) return null;
    pairs.push([name, value]);
  }
  return pairs;
}

function hasField(pairs: HeaderPairs, lowerName: string): boolean {
  for (let i = 0; i < pairs.length; i++) {
    const n = pairs[i]![0];
    if (n.length === lowerName.length && n.toLowerCase() === lowerName) return true;
  }
  return false;
}

/**
 * Fills `self` from `(body, init)` when that can be done without the platform's conversions,
 * exactly as the platform would store them; false otherwise (the caller builds the real one).
 */
function fill(self: LightFields, body: unknown, init: unknown, stringType: string): boolean {
  let stored: string | Uint8Array | null;
  let type: string | null = null;
  if (body === undefined || body === null) stored = null;
  else if (typeof body === 'string') {
    stored = body;
    type = stringType;
  } else if (body instanceof Uint8Array) {
    // Not copied, unlike the platform (which copies a byte body when the Response is made):
    // a private copy of a 64 KiB body costs more CPU than the rest of the request together
    // (allocation, external-memory GC pressure, memory bandwidth). The contract is node:http's
    // for `res.end(buffer)`: do not modify a buffer after handing it over.
    stored = body;
  } else if (body instanceof ArrayBuffer) stored = new Uint8Array(body);
  else return false;
  let status = 200;
  let statusText = '';
  let headers: HeaderPairs;
  if (init === undefined || init === null) headers = [];
  else {
    if (typeof init !== 'object') return false;
    const i = init as ResponseInit;
    const s: unknown = i.status;
    if (s !== undefined) {
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 200 || s > 599) return false;
      // A null-body status with a body is a TypeError the platform raises.
      if (stored !== null && (s === 204 || s === 205 || s === 304)) return false;
      status = s;
    }
    const t: unknown = i.statusText;
    if (t !== undefined) {
      // Reason-phrase characters (HTAB, SP, VCHAR, obs-text): the field-value set, the platform's check.
      if (typeof t !== 'string' || invalidFieldValueAt(t) !== -1) return false;
      statusText = t;
    }
    const h = snapshotHeaders(i.headers);
    if (h === null) return false;
    headers = h;
  }
  if (type !== null && !hasField(headers, 'content-type')) headers.push(['content-type', type]);
  self[BODY] = stored;
  self[STATUS] = status;
  self[STATUS_TEXT] = statusText;
  self[HEADERS] = headers;
  self[REAL] = undefined;
  return true;
}

/** The parts of a light response the server can write without building a real one. */
export interface LightParts {
  status: number;
  statusText: string;
  headers: HeaderPairs;
  body: string | Uint8Array | null;
}

/**
 * If `response` is a `LightResponse` (not a subclass: it may override a getter) not yet made
 * real, its parts; otherwise undefined (the caller reads it as a standard `Response`).
 */
export function lightParts(response: Response): LightParts | undefined {
  if (Object.getPrototypeOf(response) !== proto) return undefined;
  const self = response as unknown as LightFields;
  if (self[REAL] !== undefined) return undefined;
  return { status: self[STATUS], statusText: self[STATUS_TEXT], headers: self[HEADERS], body: self[BODY] };
}

function LightResponseFn(this: LightFields, body?: BodyInit | null, init?: ResponseInit): void {
  if (new.target === undefined) throw new TypeError("Class constructor Response cannot be invoked without 'new'");
  if (!fill(this, body, init, TEXT_PLAIN)) {
    // The platform converts (and throws where it must); this object then delegates to it.
    this[REAL] = new NativeResponse(body, init);
  }
}

const proto = LightResponseFn.prototype as object;
Object.setPrototypeOf(proto, NativeResponse.prototype);
/** Getters answered from the snapshot while the real response is not built. */
const cheap: Record<string, (self: LightFields) => unknown> = {
  status: (self) => self[STATUS],
  ok: (self) => self[STATUS] >= 200 && self[STATUS] < 300,
  statusText: (self) => self[STATUS_TEXT],
  bodyUsed: () => false,
  redirected: () => false,
  type: () => 'default',
  url: () => '',
};
for (const name of Object.getOwnPropertyNames(NativeResponse.prototype)) {
  if (name === 'constructor') continue;
  const d = Object.getOwnPropertyDescriptor(NativeResponse.prototype, name)!;
  if (d.get !== undefined) {
    const fast = cheap[name];
    Object.defineProperty(proto, name, {
      configurable: true,
      enumerable: d.enumerable ?? false,
      get(this: LightFields) {
        if (fast !== undefined && this[REAL] === undefined) return fast(this);
        return (real(this) as unknown as Record<string, unknown>)[name];
      },
    });
  } else if (typeof d.value === 'function') {
    Object.defineProperty(proto, name, {
      configurable: true,
      enumerable: d.enumerable ?? false,
      writable: true,
      value(this: LightFields, ...args: unknown[]) {
        const r = real(this);
        return ((r as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!).apply(r, args);
      },
    });
  }
}
Object.defineProperty(proto, Symbol.for('nodejs.util.inspect.custom'), {
  configurable: true,
  writable: true,
  value(this: LightFields, depth: number, options: object, inspect: (v: unknown, o: object) => string) {
    return `Response ${inspect(real(this), { ...options, depth: depth - 1 })}`;
  },
});
Object.setPrototypeOf(LightResponseFn, NativeResponse);
Object.defineProperty(LightResponseFn, 'name', { value: 'Response' });
Object.defineProperty(LightResponseFn, Symbol.hasInstance, {
  configurable: true,
  // While installed as `globalThis.Response`, `x instanceof Response` must stay true for the
  // platform's responses too (`fetch()` results, `Response.error()`); a subclass keeps the
  // ordinary check (its instances only).
  value(this: unknown, instance: unknown): boolean {
    if (this === LightResponseFn) return instance instanceof NativeResponse;
    return Function.prototype[Symbol.hasInstance].call(this, instance);
  },
});
Object.defineProperty(LightResponseFn, 'json', {
  configurable: true,
  writable: true,
  // `Response.json()` is what frameworks return most; the platform's builds a full response.
  value(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data) as string | undefined;
    if (text === undefined) throw new TypeError('Value is not JSON serializable');
    const self = Object.create(proto) as LightFields;
    if (!fill(self, text, init, 'application/json')) return NativeResponse.json(data, init);
    return self as unknown as Response;
  },
});

/** A drop-in `Response` (same constructor, `instanceof Response`), lazy until read. */
export const LightResponse = LightResponseFn as unknown as typeof Response;

/**
 * Replaces `globalThis.Response` with `LightResponse` for this process, so that every
 * `new Response(...)` — a framework's included — is light. Idempotent; never undone (see
 * `ServerOptions.lightResponse`).
 */
export function installLightResponse(): void {
  if (globalThis.Response !== LightResponse) globalThis.Response = LightResponse;
}
