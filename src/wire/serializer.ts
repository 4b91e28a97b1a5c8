/**
 * Serializers for request and response heads. Every name and value is checked on the way out:
 * a CR or LF in a value is an error (`HF_WIRE_HEADER_INJECTION`), never a second header line.
 */
import { WireError } from './errors.ts';
import { assertFieldName, assertFieldValue, HeaderList } from './headers.ts';
import { isToken, isTarget, invalidFieldValueAt } from './chars.ts';

function versionMinorOf(v: number | undefined): number {
  if (v === undefined) return 1;
  if (v !== 0 && v !== 1) throw new WireError('HF_WIRE_INVALID_VERSION', `cannot serialize HTTP/1.${String(v)}`);
  return v;
}

/** Header lines to serialize: a `HeaderList` or `[name, value]` pairs. */
export type SerializableHeaders = HeaderList | Iterable<readonly [string, string]>;

export interface RequestHeadInit {
  method: string;
  target: string;
  headers: SerializableHeaders;
  /** 1 (default) or 0. */
  versionMinor?: number;
}

export interface ResponseHeadInit {
  status: number;
  reason?: string;
  headers: SerializableHeaders;
  versionMinor?: number;
}

const REASONS: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 103: 'Early Hints',
  200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information', 204: 'No Content',
  205: 'Reset Content', 206: 'Partial Content',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone', 411: 'Length Required',
  412: 'Precondition Failed', 413: 'Content Too Large', 414: 'URI Too Long', 415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable', 417: 'Expectation Failed', 421: 'Misdirected Request', 422: 'Unprocessable Content',
  426: 'Upgrade Required', 428: 'Precondition Required', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

/** The standard reason phrase for `status`, or '' when there is none. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

/**
 * One field line, `name: value` and CRLF, after checking the name is a token and the value has
 * no CR, LF, NUL or other control: the one check every head serializer makes — skipped only for
 * a line of a `verified` HeaderList (`checked`), which passed the same checks on its way in.
 */
export function serializeFieldLine(name: string, value: string, checked = false): string {
  if (!checked) {
    assertFieldName(name);
    assertFieldValue(name, value);
  }
  return `${name}: ${value}\r\n`;
}

function appendFields(out: string, headers: SerializableHeaders): string {
  if (headers instanceof HeaderList) {
    // By index: no generator and no `[name, value]` pair per line (every proxied message
    // passes here once). Lines are checked unless the list is verified (checked on the way in).
    const { names, values } = headers.lines();
    const checked = headers.verified;
    for (let i = 0; i < names.length; i++) out += serializeFieldLine(names[i]!, values[i]!, checked);
    return out;
  }
  for (const [name, value] of headers) out += serializeFieldLine(name, value);
  return out;
}

/**
 * A response's status line with CRLF, `reason` defaulting to the standard phrase. The one place
 * a status and a reason phrase are validated: a CR or LF in the reason is
 * `HF_WIRE_HEADER_INJECTION`, another control or a status outside 100-999 `HF_WIRE_INVALID_STATUS`.
 * Used by {@link serializeResponseHead} and, field by field, by the server's response writer.
 */
export function serializeStatusLine(status: number, reason?: string, versionMinor?: number): string {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new WireError('HF_WIRE_INVALID_STATUS', `invalid status ${status}`);
  const phrase = reason ?? reasonPhrase(status);
  const bad = invalidFieldValueAt(phrase);
  if (bad !== -1) {
    const c = phrase.charCodeAt(bad);
    if (c === 0x0d || c === 0x0a) throw new WireError('HF_WIRE_HEADER_INJECTION', 'CR or LF in reason phrase');
    throw new WireError('HF_WIRE_INVALID_STATUS', `invalid character 0x${c.toString(16)} in reason phrase`);
  }
  return `HTTP/1.${versionMinorOf(versionMinor)} ${status} ${phrase}\r\n`;
}

/** A checked request-line: a token method, a request-target without whitespace or controls. */
function requestLine(method: string, target: string, versionMinor: number | undefined): string {
  if (!isToken(method)) throw new WireError('HF_WIRE_INVALID_METHOD', `invalid method ${JSON.stringify(method)}`);
  if (!isTarget(target)) throw new WireError('HF_WIRE_INVALID_TARGET', `invalid request-target ${JSON.stringify(target)}`);
  return `${method} ${target} HTTP/1.${versionMinorOf(versionMinor)}\r\n`;
}

/** Serializes a request head, ending with the empty line. */
export function serializeRequestHead(init: RequestHeadInit): string {
  return `${appendFields(requestLine(init.method, init.target, init.versionMinor), init.headers)}\r\n`;
}

/**
 * A request head whose fields are `before`, then the list `headers`, then `after`: the client
 * adds its own lines (Host, framing) around the caller's list without copying it into pairs.
 * Checks as `serializeRequestHead`.
 */
export function serializeRequestHeadAround(
  method: string,
  target: string,
  before: ReadonlyArray<readonly [string, string]> | null,
  headers: SerializableHeaders,
  after: ReadonlyArray<readonly [string, string]> | null,
): string {
  let out = requestLine(method, target, 1);
  if (before !== null) out = appendFields(out, before);
  out = appendFields(out, headers);
  if (after !== null) out = appendFields(out, after);
  return `${out}\r\n`;
}

/** Serializes a response head, ending with the empty line. */
export function serializeResponseHead(init: ResponseHeadInit): string {
  const out = serializeStatusLine(init.status, init.reason, init.versionMinor);
  return `${appendFields(out, init.headers)}\r\n`;
}
