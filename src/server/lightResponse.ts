/**
 * A `Response` that costs nothing until something reads it. undici's `Response` builds a
 * `Headers` object and a `ReadableStream` for every body, which a server that only writes the
 * body to a socket does not need: that construction is most of the cost of a fetch handler.
 *
 * `LightResponse` keeps `(body, init)` and is an `instanceof Response`; the server writes a
 * string or byte body straight to the socket. Touching anything else (`body`, `clone()`,
 * `arrayBuffer()`...) builds the real `Response` once and delegates to it, so behaviour is the
 * standard one. Opt in per module (`import { LightResponse as Response } from 'holdfast/server'`)
 * or process-wide with `installLightResponse()` (what `serve({ lightResponse: true })` does) —
 * the latter lets an unchanged Hono app benefit.
 */

/** The platform's own `Response` (undici), captured before any `installLightResponse()`. */
export const NativeResponse: typeof Response = globalThis.Response;
const GlobalResponse = NativeResponse;
type BodyInit = ConstructorParameters<typeof Response>[0];
type HeadersInit = NonNullable<ResponseInit['headers']>;

const BODY = Symbol('holdfast.body');
const INIT = Symbol('holdfast.init');
const REAL = Symbol('holdfast.realResponse');

interface LightFields {
  [BODY]: BodyInit | null | undefined;
  [INIT]: ResponseInit | undefined;
  [REAL]: Response | undefined;
}

function real(self: LightFields): Response {
  let r = self[REAL];
  if (r === undefined) {
    r = new GlobalResponse(self[BODY], self[INIT]);
    self[REAL] = r;
  }
  return r;
}

/** The parts of a light response the server can write without building a real one. */
export interface LightParts {
  status: number;
  statusText: string | undefined;
  headers: HeadersInit | undefined;
  body: string | Uint8Array | null;
}

/**
 * If `response` is an untouched `LightResponse` with a string, bytes or empty body, its parts;
 * otherwise undefined (the caller reads it as a standard `Response`).
 */
export function lightParts(response: Response): LightParts | undefined {
  const self = response as unknown as Partial<LightFields>;
  if (!(BODY in self) || self[REAL] !== undefined) return undefined;
  let body = self[BODY];
  if (body instanceof ArrayBuffer) body = new Uint8Array(body);
  if (body !== null && body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) return undefined;
  const init = self[INIT];
  const status = init?.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 599) return undefined;
  return { status, statusText: init?.statusText, headers: init?.headers, body: body ?? null };
}

/** Whether a `HeadersInit` has a field `name` (lower-case). */
export function initHas(headers: HeadersInit | undefined, name: string): boolean {
  if (headers === undefined) return false;
  if (headers instanceof Headers) return headers.has(name);
  if (Array.isArray(headers)) return headers.some(([k]) => k.toLowerCase() === name);
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

function LightResponseFn(this: LightFields, body?: BodyInit | null, init?: ResponseInit): void {
  this[BODY] = body;
  this[INIT] = init;
  this[REAL] = undefined;
}

const proto = LightResponseFn.prototype as object;
Object.setPrototypeOf(proto, GlobalResponse.prototype);
for (const name of Object.getOwnPropertyNames(GlobalResponse.prototype)) {
  if (name === 'constructor') continue;
  const d = Object.getOwnPropertyDescriptor(GlobalResponse.prototype, name)!;
  if (d.get !== undefined) {
    Object.defineProperty(proto, name, {
      configurable: true,
      get(this: LightFields) {
        if (this[REAL] === undefined) {
          if (name === 'status') return this[INIT]?.status ?? 200;
          if (name === 'ok') {
            const s = this[INIT]?.status ?? 200;
            return s >= 200 && s < 300;
          }
        }
        return (real(this) as unknown as Record<string, unknown>)[name];
      },
    });
  } else if (typeof d.value === 'function') {
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value(this: LightFields, ...args: unknown[]) {
        const r = real(this);
        return ((r as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!).apply(r, args);
      },
    });
  }
}
Object.setPrototypeOf(LightResponseFn, GlobalResponse);
Object.defineProperty(LightResponseFn, 'name', { value: 'Response' });

/** A drop-in `Response` (same constructor, `instanceof Response`), lazy until read. */
export const LightResponse = LightResponseFn as unknown as typeof Response;

/**
 * Replaces `globalThis.Response` with `LightResponse` for this process, so that every
 * `new Response(...)` — a framework's included — is light. Idempotent.
 */
export function installLightResponse(): void {
  if (globalThis.Response !== LightResponse) globalThis.Response = LightResponse;
}
