/**
 * The `Date` header value (RFC 9110 §6.6.1: an origin server with a clock must send it),
 * formatted once per second rather than once per response.
 */
let cachedSecond = -1;
let cachedValue = '';

/** The current time as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedValue = new Date(second * 1000).toUTCString();
  }
  return cachedValue;
}
