/**
 * WHATWG `fetch` on top of the dispatch chain, for what Node's global `fetch` supports:
 * redirects (follow, manual, error), `gzip`/`deflate`/`br` decoding through node:zlib, abort
 * through the signal. Returns the global `Response`. Each redirect hop is a separate dispatch,
 * so interceptors (a cache) see every hop.
 */
import { Readable, pipeline, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { HeaderList, parseTokenList } from '../wire/index.ts';
import type { Dispatch, DispatchRequest } from './dispatch.ts';
import { OutgoingBody } from './outgoingBody.ts';
import type { ClientResponse } from './response.ts';
import type { ResponseBody } from './responseBody.ts';
import { AbortedError, ClientError } from './errors.ts';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const MAX_REDIRECTS = 20;
const DEFAULT_ACCEPT_ENCODING = 'gzip, deflate, br';

type BodyInit = NonNullable<ConstructorParameters<typeof Response>[0]>;
type HeadersInit = NonNullable<ConstructorParameters<typeof Headers>[0]>;
type RequestRedirect = NonNullable<RequestInit['redirect']>;
type FetchBody = BodyInit | null | undefined;

interface Prepared {
  url: string;
  method: string;
  headers: HeaderList;
  body: OutgoingBody | null;
  signal: AbortSignal | undefined;
  redirect: RequestRedirect;
}

function toHeaderList(init: HeadersInit | undefined): HeaderList {
  const list = new HeaderList();
  if (init === undefined) return list;
  if (init instanceof Headers) {
    for (const [k, v] of init) list.append(k, v);
    return list;
  }
  if (Array.isArray(init)) {
    for (const pair of init) {
      if (pair.length !== 2) throw new TypeError('header pair must have two items');
      list.append(pair[0], pair[1]);
    }
    return list;
  }
  for (const [k, v] of Object.entries(init as Record<string, string>)) list.append(k, String(v));
  return list;
}

/** Turns a fetch body into a `OutgoingBody`, setting Content-Type as fetch's extract-a-body does. */
async function toOutgoingBody(body: FetchBody, headers: HeaderList): Promise<OutgoingBody | null> {
  if (body === null || body === undefined) return null;
  const setType = (t: string): void => {
    if (!headers.has('content-type')) headers.append('content-type', t);
  };
  if (typeof body === 'string') {
    setType('text/plain;charset=UTF-8');
    return OutgoingBody.from(body);
  }
  if (body instanceof URLSearchParams) {
    setType('application/x-www-form-urlencoded;charset=UTF-8');
    return OutgoingBody.from(body.toString());
  }
  if (body instanceof ArrayBuffer) return OutgoingBody.from(body);
  if (ArrayBuffer.isView(body)) return OutgoingBody.from(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  if (body instanceof Blob) {
    if (body.type !== '') setType(body.type);
    return OutgoingBody.from(body);
  }
  if (body instanceof ReadableStream) return OutgoingBody.from(body as ReadableStream<Uint8Array>);
  // FormData and anything else the platform can serialise: let Response do the encoding.
  const r = new Response(body as BodyInit);
  const type = r.headers.get('content-type');
  if (type !== null) setType(type);
  return OutgoingBody.from(Buffer.from(await r.arrayBuffer()));
}

async function prepare(input: string | URL | Request, init: RequestInit | undefined): Promise<Prepared> {
  let url: string;
  let method = 'GET';
  let headers: HeaderList;
  let body: OutgoingBody | null = null;
  let signal: AbortSignal | undefined;
  let redirect: RequestRedirect = 'follow';
  if (input instanceof Request) {
    url = input.url;
    method = input.method;
    headers = toHeaderList(input.headers);
    signal = input.signal;
    redirect = input.redirect;
    if (input.body !== null && init?.body === undefined) {
      body = OutgoingBody.from(Buffer.from(await input.arrayBuffer()));
    }
  } else {
    url = typeof input === 'string' ? input : input.href;
    headers = new HeaderList();
  }
  if (init !== undefined) {
    if (init.method !== undefined) method = init.method;
    if (init.headers !== undefined) headers = toHeaderList(init.headers);
    if (init.signal !== undefined && init.signal !== null) signal = init.signal;
    if (init.redirect !== undefined) redirect = init.redirect;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new TypeError(`Failed to parse URL from ${url}`, { cause: err });
  }
  if (parsed.username !== '' || parsed.password !== '') throw new TypeError('Request cannot be constructed from a URL that includes credentials');
  const upper = method.toUpperCase();
  // Fetch normalises these methods to upper case; others are sent as given.
  if (['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH'].includes(upper)) method = upper;
  if (method === 'CONNECT' || method === 'TRACE' || method === 'TRACK') throw new TypeError(`'${method}' HTTP method is unsupported.`);
  if (init?.body !== undefined && init.body !== null) {
    if (method === 'GET' || method === 'HEAD') throw new TypeError('Request with GET/HEAD method cannot have body.');
    body = await toOutgoingBody(init.body, headers);
  }
  if (!headers.has('accept')) headers.append('accept', '*/*');
  if (!headers.has('accept-encoding')) headers.append('accept-encoding', DEFAULT_ACCEPT_ENCODING);
  if (!headers.has('user-agent')) headers.append('user-agent', 'holdfast');
  return { url: parsed.href, method, headers, body, signal, redirect };
}

function decoderFor(coding: string): Transform | null {
  // Z_SYNC_FLUSH at the end: like browsers, accept a compressed stream whose final block is
  // missing, since the HTTP framing already proved the body complete.
  const flush = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip(flush);
    case 'deflate':
      return zlib.createInflate(flush);
    case 'br':
      return zlib.createBrotliDecompress({
        flush: zlib.constants.BROTLI_OPERATION_FLUSH,
        finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
      });
    default:
      return null;
  }
}

/** Errors raised on a fetch body, shaped as Node's fetch raises them. */
function bodyError(err: unknown): unknown {
  if (err instanceof AbortedError) return err.cause;
  return new TypeError('terminated', { cause: err });
}

function webStream(body: ResponseBody): ReadableStream<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await it.next();
        if (r.done === true) controller.close();
        else controller.enqueue(r.value);
      } catch (err) {
        controller.error(bodyError(err));
      }
    },
    cancel(reason) {
      body.cancel(reason instanceof Error ? reason : new Error('response body cancelled'));
    },
  }, { highWaterMark: 0 });
}

function decodedStream(body: ResponseBody, codings: string[]): ReadableStream<Uint8Array> {
  const decoders: Transform[] = [];
  for (let i = codings.length - 1; i >= 0; i--) {
    const d = decoderFor(codings[i]!);
    if (d === null) return webStream(body);
    decoders.push(d);
  }
  const source = Readable.from(body, { objectMode: false });
  const streams = [source, ...decoders] as [Readable, ...Transform[]];
  const last = (pipeline as unknown as (...args: unknown[]) => Readable)(...streams, () => {});
  const web = Readable.toWeb(last) as ReadableStream<Uint8Array>;
  // Map errors of the HTTP body the same way as undecoded bodies do.
  const reader = web.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await reader.read();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      } catch (err) {
        controller.error(err instanceof ClientError ? bodyError(err) : err);
      }
    },
    cancel(reason) {
      void reader.cancel(reason);
      body.cancel(reason instanceof Error ? reason : new Error('response body cancelled'));
    },
  }, { highWaterMark: 0 });
}

function toResponse(res: ClientResponse, url: string, redirected: boolean, method: string): Response {
  if (res.status < 200 || res.status > 599) {
    void res.body.dump();
    throw new TypeError('fetch failed', { cause: new Error(`unsupported status ${res.status}`) });
  }
  const headers = new Headers();
  for (const [k, v] of res.headers) headers.append(k, v);
  let stream: ReadableStream<Uint8Array> | null = null;
  if (NULL_BODY_STATUSES.has(res.status) || method === 'HEAD') {
    void res.body.dump();
  } else {
    const ce = res.headers.get('content-encoding');
    const codings = ce === undefined ? [] : parseTokenList(ce).filter((c) => c !== 'identity');
    stream = codings.length === 0 ? webStream(res.body) : decodedStream(res.body, codings);
  }
  const response = new Response(stream, { status: res.status, statusText: res.statusText, headers });
  Object.defineProperty(response, 'url', { value: url, enumerable: true });
  if (redirected) Object.defineProperty(response, 'redirected', { value: true, enumerable: true });
  return response;
}

function failure(err: unknown, signal: AbortSignal | undefined): unknown {
  if (err instanceof AbortedError) return signal?.reason ?? err.cause ?? err;
  if (err instanceof TypeError) return err;
  return new TypeError('fetch failed', { cause: err });
}

/** `fetch(input, init)` over `dispatch`. */
export async function fetchWith(dispatch: Dispatch, input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const p = await prepare(input, init);
  if (p.signal?.aborted === true) throw p.signal.reason;
  let { url, method, body } = p;
  const headers = p.headers;
  for (let redirects = 0; ; redirects++) {
    const req: DispatchRequest = { url, method, headers, body, signal: p.signal };
    let res: ClientResponse;
    try {
      res = await dispatch(req);
    } catch (err) {
      throw failure(err, p.signal);
    }
    const location = res.headers.get('location');
    if (!REDIRECT_STATUSES.has(res.status) || location === undefined || p.redirect === 'manual') {
      return toResponse(res, url, redirects > 0, method);
    }
    await res.body.dump();
    if (p.redirect === 'error') throw new TypeError('fetch failed', { cause: new Error('unexpected redirect') });
    if (redirects + 1 > MAX_REDIRECTS) throw new TypeError('fetch failed', { cause: new Error('redirect count exceeded') });
    let next: URL;
    try {
      next = new URL(location, url);
    } catch (err) {
      throw new TypeError('fetch failed', { cause: err });
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new TypeError('fetch failed', { cause: new Error('URL scheme must be a HTTP(S) scheme') });
    }
    if (((res.status === 301 || res.status === 302) && method === 'POST') || (res.status === 303 && method !== 'GET' && method !== 'HEAD')) {
      method = 'GET';
      body = null;
      for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) headers.delete(name);
    } else if (body !== null && !body.replayable) {
      throw new TypeError('fetch failed', { cause: new Error('cannot follow a redirect with a streamed request body') });
    }
    if (new URL(url).origin !== next.origin) {
      // Credentials are for the origin they were given to (fetch spec, 4.4 step 13).
      for (const name of ['authorization', 'proxy-authorization', 'cookie', 'host']) headers.delete(name);
    }
    url = next.href;
  }
}
