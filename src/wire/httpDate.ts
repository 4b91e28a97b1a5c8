/**
 * HTTP-date (RFC 9110 §5.6.7): the one parser and formatter every layer uses — the cache's
 * Date/Expires/Last-Modified, the static file server's conditional requests, `Retry-After` and
 * the server's `Date`.
 *
 * Parsing is strict: exactly the three formats, with calendar values in range. `Date.parse` is
 * not used: it takes `2024` or `0` as dates and rolls `32 Jan` over into February, so
 * `If-Modified-Since: 2024` would answer 304 where RFC 9110 §13.1.3 says to ignore the field.
 *
 * Case: HTTP-date is case-sensitive (RFC 9110 §5.6.7), and so is this parser by default — a
 * validator or a precondition compares what the sender wrote. RFC 9111 §4.2 relaxes exactly one
 * use: a cache recipient SHOULD match the values it computes freshness from case-insensitively,
 * which `{ anyCase: true }` does (day and month names, `GMT`); nothing else is loosened.
 */
import { trimOws } from './chars.ts';

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const DAY_NAMES_LONG = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = /^([A-Z][a-z]{2}), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
/** `Sunday, 06-Nov-94 08:49:37 GMT` */
const RFC850_DATE = /^([A-Z][a-z]{5,8}), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
/** `Sun Nov  6 08:49:37 1994` */
const ASCTIME_DATE = /^([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;
/** The same three grammars, any letter case (RFC 9111 §4.2); names are folded before lookup. */
const IMF_FIXDATE_ANY_CASE = new RegExp(IMF_FIXDATE.source, 'i');
const RFC850_DATE_ANY_CASE = new RegExp(RFC850_DATE.source, 'i');
const ASCTIME_DATE_ANY_CASE = new RegExp(ASCTIME_DATE.source, 'i');

/** Options of {@link parseHttpDate}. */
export interface HttpDateOptions {
  /** Milliseconds since the epoch the RFC 850 two-digit year is read against. Default `Date.now()`. */
  now?: number;
  /** Match day names, month names and `GMT` in any case (RFC 9111 §4.2, cache freshness only). */
  anyCase?: boolean;
}

/** `sUNDAY` -> `Sunday`: the table spelling of a name matched case-insensitively. */
function asIs(name: string): string {
  return name;
}

function folded(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1).toLowerCase();
}

/** Milliseconds in 400 Gregorian years (146097 days): shifts years 0-99 past `Date.UTC`'s 1900 rule. */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/**
 * Parses an HTTP-date in any of its three formats (IMF-fixdate, obsolete RFC 850, asctime) into
 * milliseconds since the epoch; `undefined` for anything else, including values that are not a
 * real calendar time (day 32, hour 25, 30 Feb). An RFC 850 two-digit year more than 50 years in
 * the future (from `now`) is read as the most recent past year with those digits.
 */
export function parseHttpDate(value: string | undefined, options: number | HttpDateOptions = {}): number | undefined {
  if (value === undefined) return undefined;
  // No object or closure per call: the cache parses several dates for every response it reads.
  const now = typeof options === 'number' ? options : options.now;
  const any = typeof options !== 'number' && options.anyCase === true;
  const name = any ? folded : asIs;
  let m = (any ? IMF_FIXDATE_ANY_CASE : IMF_FIXDATE).exec(value);
  if (m !== null) {
    if (!DAY_NAMES.includes(name(m[1]!))) return undefined;
    return toEpoch(Number(m[4]), name(m[3]!), Number(m[2]), m[5]!, m[6]!, m[7]!);
  }
  m = (any ? RFC850_DATE_ANY_CASE : RFC850_DATE).exec(value);
  if (m !== null) {
    if (!DAY_NAMES_LONG.includes(name(m[1]!))) return undefined;
    return toEpoch(rfc850Year(Number(m[4]), now ?? Date.now()), name(m[3]!), Number(m[2]), m[5]!, m[6]!, m[7]!);
  }
  m = (any ? ASCTIME_DATE_ANY_CASE : ASCTIME_DATE).exec(value);
  if (m !== null) {
    if (!DAY_NAMES.includes(name(m[1]!))) return undefined;
    // asctime's day is `2DIGIT / ( SP DIGIT )`: " 6" or "06".
    return toEpoch(Number(m[7]), name(m[2]!), Number(trimOws(m[3]!)), m[4]!, m[5]!, m[6]!);
  }
  return undefined;
}

/** RFC 9110 §5.6.7: the 50-year rule for a two-digit year. */
function rfc850Year(yy: number, now: number): number {
  const current = new Date(now).getUTCFullYear();
  let year = current - (current % 100) + yy;
  if (year > current + 50) year -= 100;
  else if (year + 100 <= current + 50) year += 100;
  return year;
}

function toEpoch(year: number, monthName: string, day: number, hh: string, mm: string, ss: string): number | undefined {
  const month = MONTHS.indexOf(monthName);
  if (month === -1) return undefined;
  const hour = Number(hh);
  const minute = Number(mm);
  const second = Number(ss);
  // 23:59:60 is a leap second (RFC 9110 §5.6.7); it reads as the next second, like Date does.
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  if (day < 1 || day > daysInMonth(year, month)) return undefined;
  if (year < 100) return Date.UTC(year + 400, month, day, hour, minute, second) - FOUR_CENTURIES_MS;
  return Date.UTC(year, month, day, hour, minute, second);
}

function daysInMonth(year: number, month: number): number {
  if (month === 1) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}

/** Formats milliseconds since the epoch as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

let cachedSecond = -1;
let cachedValue = '';

/**
 * The current time as an IMF-fixdate for a `Date` field (RFC 9110 §6.6.1: an origin server with
 * a clock must send it), formatted once per second rather than once per response.
 */
export function currentHttpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedValue = formatHttpDate(second * 1000);
  }
  return cachedValue;
}
