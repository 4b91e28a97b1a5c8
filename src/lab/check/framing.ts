/**
 * Framing strictness: a small, fixed set of requests whose framing two parsers can read two ways
 * (RFC 9112 §6.1, §6.3, §5.2, §2.2, §3.2). Behind a proxy that reads them the other way, each is
 * a request-smuggling attempt: the bytes one side takes for a body the other takes for a second
 * request. A server passes a case by refusing it (400, or 501 for an unknown coding) and reading
 * nothing more from that connection; one that answers a request hidden in a refused or accepted
 * body is desynchronized. These requests are malformed on purpose: check only servers you operate.
 */
import type { CheckProbe, CheckStatus, Endpoint, ProbeFinding } from './types.ts';
import { connect } from './connections.ts';

/** What came back for one malformed request (and what was written behind it). */
export interface FramingExchange {
  statuses: number[];
  /** A response said `Connection: close`: the server never meant to read further. */
  closeAnnounced: boolean;
  /** `fin`/`ECONNRESET`/… when the server closed, `open` when it kept the connection. */
  ended: string;
}

/** Writes `bytes` and reads up to `methods.length` responses, then whether the connection stays open. */
export async function framingExchange(ep: Endpoint, bytes: string, methods: readonly string[], guardMs: number): Promise<FramingExchange> {
  const conn = await connect(ep);
  try {
    for (const m of methods) conn.expect(m);
    conn.socket.write(bytes, 'latin1');
    const statuses: number[] = [];
    let closeAnnounced = false;
    for (;;) {
      const r = await conn.nextResponse(guardMs);
      if (r.kind === 'hung') return { statuses, closeAnnounced, ended: 'open' };
      if (r.kind === 'closed') return { statuses, closeAnnounced, ended: r.how };
      statuses.push(r.response.status);
      if (r.response.headers.get('connection')?.toLowerCase().split(/[ \t]*,[ \t]*/).includes('close') === true) closeAnnounced = true;
      if (statuses.length === methods.length) return { statuses, closeAnnounced, ended: (await conn.closed(guardMs)) ? conn.endedBy ?? 'closed' : 'open' };
    }
  } finally {
    conn.destroy();
  }
}

/**
 * A refusal of the message itself: 400, 411 (length required), 413, 431, 501 (a transfer coding
 * the server does not implement), 505. A 404 or 405 is the application's answer to a request
 * the server parsed, not a refusal of its framing.
 */
const REFUSALS = new Set([400, 411, 413, 431, 501, 505]);
function refused(status: number | undefined): boolean {
  return status !== undefined && REFUSALS.has(status);
}

interface CaseVerdict { status: CheckStatus; text: string }

interface FramingCase {
  id: string;
  /** The request bytes, with a complete second request hidden behind the first or in its body. */
  bytes(ep: Endpoint, path: string): string;
  methods: readonly string[];
  judge(x: FramingExchange): CaseVerdict;
}

const crlf = (lines: string[]): string => lines.map((l) => `${l}\r\n`).join('');
const hidden = (ep: Endpoint, path: string): string => crlf([`GET ${path} HTTP/1.1`, `Host: ${ep.authority}`, '']);

function describe(x: FramingExchange): string {
  const got = x.statuses.length === 0 ? 'no response' : `${x.statuses.join(' then ')}${x.closeAnnounced ? ' (Connection: close)' : ''}`;
  const end = x.ended === 'open' ? 'connection kept open'
    : x.ended === 'fin' ? 'connection closed (FIN)'
      : x.ended === 'ECONNRESET' ? 'connection reset (RST)'
        : x.ended === 'HF_WIRE_UNEXPECTED_DATA' ? 'then more responses than requests written'
          : `connection ended: ${x.ended}`;
  return `${got}; ${end}`;
}

/** For a request whose body hides a second request: refused alone, or answered once and closed. */
function judgeBodyAmbiguity(x: FramingExchange, ifOneAndOpen: string, ifTwo: string, acceptedAndClosed: CheckStatus): CaseVerdict {
  const [first] = x.statuses;
  const d = describe(x);
  if (x.statuses.length === 0) return x.ended === 'open' ? { status: 'fail', text: `${d}: neither refused nor answered` } : { status: 'warn', text: `${d}: dropped without a 400` };
  if (refused(first)) return x.statuses.length === 1 ? { status: 'pass', text: `${d}` } : { status: 'fail', text: `${d}: answered the request hidden in the refused one's body (desync)` };
  if (x.statuses.length >= 2) return { status: 'fail', text: `${d}: ${ifTwo}` };
  if (x.ended === 'open') return { status: 'fail', text: `${d}: ${ifOneAndOpen}` };
  return { status: acceptedAndClosed, text: `${d}: accepted, then closed the connection${acceptedAndClosed === 'fail' ? ' (RFC 9112 §6.3: MUST answer 400)' : ' (RFC 9112 §6.1 allows Transfer-Encoding alone, then a close)'}` };
}

/** For a malformed head followed by an ordinary request: refused and closed, or both answered. */
function judgeHead(x: FramingExchange, acceptedNote: string): CaseVerdict {
  const [first] = x.statuses;
  const d = describe(x);
  if (x.statuses.length === 0) return x.ended === 'open' ? { status: 'fail', text: `${d}: neither refused nor answered` } : { status: 'warn', text: `${d}: dropped without a 400` };
  if (refused(first)) return x.statuses.length === 1 ? { status: 'pass', text: d } : { status: 'warn', text: `${d}: kept reading after refusing a malformed head` };
  if (x.statuses.length === 2 || (x.statuses.length === 1 && x.closeAnnounced)) return { status: 'warn', text: `${d}: ${acceptedNote}` };
  return { status: 'fail', text: `${d}: accepted, and the request behind it was not answered (desync)` };
}

const CASES: readonly FramingCase[] = [
  {
    id: 'cl-te',
    bytes: (ep, path) => {
      const body = `0\r\n\r\n${hidden(ep, path)}`;
      return crlf([`POST ${path} HTTP/1.1`, `Host: ${ep.authority}`, `Content-Length: ${body.length}`, 'Transfer-Encoding: chunked', '']) + body;
    },
    methods: ['POST', 'GET'],
    // RFC 9112 §6.1: reject, or use Transfer-Encoding alone — and close the connection either way.
    judge: (x) => judgeBodyAmbiguity(x, 'used Content-Length over Transfer-Encoding', 'used Transfer-Encoding but kept the connection (RFC 9112 §6.1: MUST close)', 'pass'),
  },
  {
    id: 'two-content-lengths',
    bytes: (ep, path) => {
      const body = hidden(ep, path);
      return crlf([`POST ${path} HTTP/1.1`, `Host: ${ep.authority}`, 'Content-Length: 0', `Content-Length: ${body.length}`, '']) + body;
    },
    methods: ['POST', 'GET'],
    // RFC 9112 §6.3: differing Content-Lengths are an unrecoverable error.
    judge: (x) => judgeBodyAmbiguity(x, 'used the second Content-Length', 'used the first Content-Length', 'fail'),
  },
  {
    id: 'te-not-chunked',
    bytes: (ep, path) => crlf([`POST ${path} HTTP/1.1`, `Host: ${ep.authority}`, 'Transfer-Encoding: gzip', '']) + hidden(ep, path),
    methods: ['POST', 'GET'],
    // RFC 9112 §6.3: a request whose last coding is not chunked has no knowable length: 400 and close.
    judge: (x) => judgeBodyAmbiguity(x, 'waited for a body of unknown length', 'ignored Transfer-Encoding', 'fail'),
  },
  {
    id: 'obs-fold',
    bytes: (ep, path) => crlf([`GET ${path} HTTP/1.1`, `Host: ${ep.authority}`, 'X-Folded: a', ' b', '']) + hidden(ep, path),
    methods: ['GET', 'GET'],
    judge: (x) => judgeHead(x, 'accepted obs-fold (RFC 9112 §5.2 allows it only as a space; a front end may read it otherwise)'),
  },
  {
    id: 'bare-lf',
    bytes: (ep, path) => `GET ${path} HTTP/1.1\nHost: ${ep.authority}\nX-Bare: lf\n\n${hidden(ep, path)}`,
    methods: ['GET', 'GET'],
    judge: (x) => judgeHead(x, 'accepted bare LF line ends (RFC 9112 §2.2 allows it; a front end may split lines otherwise)'),
  },
  {
    id: 'invalid-host',
    bytes: (ep, path) => crlf([`GET ${path} HTTP/1.1`, 'Host: bad host/', '']) + hidden(ep, path),
    methods: ['GET', 'GET'],
    judge: (x) => judgeHead(x, 'accepted an invalid Host (RFC 9112 §3.2: MUST answer 400)'),
  },
];

const RANK: Record<CheckStatus, number> = { 'n/a': 0, pass: 1, warn: 2, fail: 3 };

export const framingProbe: CheckProbe = {
  id: 'framing',
  title: 'Framing strictness (malformed requests)',
  description: `Six malformed requests, each on its own connection with a second request hidden behind or inside it: ${CASES.map((c) => c.id).join(', ')}. Pass = each refused with 400 (501 for an unknown coding) and nothing hidden answered; fail = a hidden request answered or an ambiguous length accepted (desync); warn = a lenient but consistent reading (obs-fold, bare LF, invalid Host accepted).`,
  labScenario: null,
  limitMs: 30_000,
  async run(ctx): Promise<ProbeFinding> {
    const evidence: string[] = [];
    let worst: CheckStatus = 'pass';
    const bad: string[] = [];
    for (const c of CASES) {
      if (ctx.signal.aborted) break;
      const x = await framingExchange(ctx.target, c.bytes(ctx.target, ctx.target.path), c.methods, 1000 * ctx.scale);
      const v = c.judge(x);
      evidence.push(`${c.id}: ${v.status}: ${v.text}`);
      if (v.status !== 'pass') bad.push(`${c.id} ${v.status}`);
      if (RANK[v.status] > RANK[worst]) worst = v.status;
    }
    const summary = bad.length === 0 ? `all ${CASES.length} malformed requests refused, nothing hidden answered` : bad.join(', ');
    return { status: worst, summary, evidence };
  },
};
