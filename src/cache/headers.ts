/**
 * Small operations on order-preserving header lists. Field names are case-insensitive
 * (RFC 9110 §5.1); repeated field lines combine with ", " (RFC 9110 §5.3).
 * @module
 */
import type { HeaderList } from './types.ts';

/** The combined value of every line of `name`, or `undefined` when absent. */
export function getHeader(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  let out: string | undefined;
  for (const [n, v] of headers) {
    if (n.length === lower.length && n.toLowerCase() === lower) out = out === undefined ? v : `${out}, ${v}`;
  }
  return out;
}

/** The value of the first line of `name` (for singleton fields such as Date or ETag). */
export function getFirstHeader(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of headers) if (n.length === lower.length && n.toLowerCase() === lower) return v;
  return undefined;
}

/** Whether any line of `name` is present. */
export function hasHeader(headers: HeaderList, name: string): boolean {
  return getFirstHeader(headers, name) !== undefined;
}

/** A copy without any line whose name is in `names` (lower-case). */
export function withoutHeaders(headers: HeaderList, names: ReadonlySet<string>): HeaderList {
  return headers.filter(([n]) => !names.has(n.toLowerCase()));
}

/** A copy where every line of `name` is replaced by a single line with `value`, kept in the first line's place. */
export function withHeader(headers: HeaderList, name: string, value: string): HeaderList {
  const lower = name.toLowerCase();
  const out: HeaderList = [];
  let placed = false;
  for (const [n, v] of headers) {
    if (n.toLowerCase() === lower) {
      if (!placed) out.push([n, value]);
      placed = true;
    } else out.push([n, v]);
  }
  if (!placed) out.push([name, value]);
  return out;
}

/** Split a list-based field value on commas outside quoted strings (RFC 9110 §5.6.1). */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      cur += c;
      if (c === '\\' && i + 1 < value.length) cur += value[++i];
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      cur += c;
    } else if (c === ',') {
      const t = cur.trim();
      if (t !== '') out.push(t);
      cur = '';
    } else cur += c;
  }
  const t = cur.trim();
  if (t !== '') out.push(t);
  return out;
}

const IMF_FIXDATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC850_DATE = /^[A-Za-z]+, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}:\d{2}:\d{2}) GMT$/;
const ASCTIME_DATE = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}:\d{2}:\d{2}) (\d{4})$/;

/**
 * Parse an HTTP-date (RFC 9110 §5.6.7) in any of its three formats; `undefined` when invalid
 * (so that e.g. `Expires: 0` is not mistaken for a date). Milliseconds since the epoch.
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  let ms = Number.NaN;
  if (IMF_FIXDATE.test(v)) ms = Date.parse(v);
  else {
    const r = RFC850_DATE.exec(v);
    if (r !== null) {
      // §5.6.7: a two-digit year more than 50 years in the future means the past century.
      let year = 2000 + Number(r[3]);
      if (year > new Date().getUTCFullYear() + 50) year -= 100;
      ms = Date.parse(`${r[1]} ${r[2]} ${year} ${r[4]} GMT`);
    } else {
      const a = ASCTIME_DATE.exec(v);
      if (a !== null) ms = Date.parse(`${a[2]!.trim()} ${a[1]} ${a[4]} ${a[3]} GMT`);
    }
  }
  return Number.isFinite(ms) ? ms : undefined;
}

/** Format milliseconds since the epoch as an IMF-fixdate. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/**
 * Hop-by-hop fields a cache must not store or forward from storage (RFC 9111 §3.1,
 * RFC 9110 §7.6.1), plus any named by the Connection field.
 */
export function hopByHopNames(headers: HeaderList): Set<string> {
  const names = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer', 'proxy-authenticate', 'proxy-authorization']);
  const connection = getHeader(headers, 'connection');
  if (connection !== undefined) for (const token of splitList(connection)) names.add(token.toLowerCase());
  return names;
}
