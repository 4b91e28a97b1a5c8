/**
 * Differential test: holdfast's RequestParser against Node's own parser (llhttp, via a
 * node:http server on 127.0.0.1:0) on a fixed RFC 9112 corpus plus a few thousand requests
 * generated with fast-check (valid ones and mutations of them). Accept/reject and the parsed
 * method, target, header lines and body bytes must agree, except where ALLOWED says why holdfast
 * is right to differ.
 *
 * DIFF_VERBOSE=1 prints every disagreement with the allow-list entry that covered it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { stream, mutated } from './_arbitraries.ts';
import { NodeOracle, holdfastOutcome, pool, type Delivered, type Outcome } from './_oracle.ts';
import { CORPUS, STRICT_CORPUS } from './_corpus.ts';

const verbose = process.env.DIFF_VERBOSE === '1';
const GENERATED_VALID = 1500;
const GENERATED_MUTATED = 3000;
const CONCURRENCY = 48;

const NODE_METHODS = new Set(http.METHODS);
/** Lines that look like request-lines (of any pipelined message). */
const requestLines = (raw: string): string[] => raw.split(/\r?\n/).filter((l) => / HTTP\/|^[A-Z]+ \S+$/.test(l));

interface Allowance {
  id: string;
  /** The RFC section that makes holdfast's behaviour right (or at least as right as Node's). */
  rfc: string;
  why: string;
  applies(raw: string, hf: Outcome, node: Outcome): boolean;
}

/**
 * Every known disagreement. Each entry matches on holdfast's verdict *and* on the shape of the
 * input, so a holdfast bug that happens to produce the same error code elsewhere is not hidden.
 */
const ALLOWED: Allowance[] = [
  {
    id: 'duplicate-host',
    rfc: 'RFC 9112 §3.2',
    why: 'a server MUST answer 400 to a request with more than one Host field line; Node keeps the first',
    applies: (_raw, hf, node) => hf.reason === 'HF_WIRE_DUPLICATE_HOST' && stoppedAt(hf, node, (m) => m.headers.filter(([n]) => n.toLowerCase() === 'host').length >= 2),
  },
  {
    id: 'empty-host',
    rfc: 'RFC 9112 §3.2',
    why: 'a Host with an empty value is valid (sent when the target URI has no authority); node:http\'s requireHostHeader treats "" as missing',
    applies: (_raw, hf, node) => node.reason === 'MISSING_HOST' && stoppedAt(node, hf, (m) => m.headers.some(([n, v]) => n.toLowerCase() === 'host' && v === '')),
  },
  {
    id: 'unknown-method',
    rfc: 'RFC 9112 §3.1, RFC 9110 §9.1',
    why: 'method = token, and an unknown method is the server\'s to answer (501); llhttp only knows a fixed method table',
    applies: (_raw, hf, node) => node.reason === 'HPE_INVALID_METHOD' && stoppedAt(node, hf, (m) => !NODE_METHODS.has(m.method)),
  },
  {
    id: 'identical-content-length',
    rfc: 'RFC 9112 §6.3 (rule 5), RFC 9110 §8.6',
    why: 'repeated identical Content-Length values MAY be accepted as one; llhttp rejects any repetition',
    applies: (_raw, hf, node) => (node.reason === 'HPE_UNEXPECTED_CONTENT_LENGTH' || node.reason === 'HPE_INVALID_CONTENT_LENGTH')
      && !hf.rejected && hf.messages.some((m) => {
        const values = m.headers.filter(([n]) => n.toLowerCase() === 'content-length').flatMap(([, v]) => v.split(',').map((s) => Number(s.trim())));
        return values.length >= 2 && values.every((v) => v === values[0]);
      }),
  },
  {
    id: 'http-1.x-minor',
    rfc: 'RFC 9110 §2.5, RFC 9112 §2.3',
    why: 'a 1.x request with a higher minor version SHOULD be processed as the highest 1.x implemented; llhttp rejects it',
    applies: (raw, hf, node) => node.reason === 'HPE_INVALID_VERSION' && !hf.rejected && requestLines(raw).some((l) => / HTTP\/1\.[2-9]$/.test(l)),
  },
  {
    id: 'unsupported-major-version',
    rfc: 'RFC 9110 §2.5, §15.6.6',
    why: 'holdfast answers 505 to HTTP/0.x and HTTP/2+ request-lines; llhttp accepts some of them as HTTP/1',
    applies: (raw, hf) => hf.reason === 'HF_WIRE_UNSUPPORTED_VERSION' && requestLines(raw).some((l) => / HTTP\/[02-9]\.\d$/.test(l)),
  },
  {
    id: 'request-line-shape',
    rfc: 'RFC 9112 §3',
    why: 'request-line = method SP request-target SP HTTP-version: holdfast does not use the MAY of parsing on whitespace runs, nor accept a missing version (HTTP/0.9)',
    applies: (raw, hf, node) => ['HF_WIRE_INVALID_START_LINE', 'HF_WIRE_INVALID_TARGET', 'HF_WIRE_INVALID_VERSION'].includes(hf.reason ?? '')
      && stoppedAt(hf, node, () => true)
      // A request-line with a run of spaces, or with no version at all.
      && (/[A-Z]+ {2,}\S|[A-Z]+ \S+ {2,}/.test(raw) || /[A-Z]+ \S+\r\n/.test(raw.replace(/ HTTP\/\d\.\d\r\n/g, '\r\n\r\n'))),
  },
  {
    id: 'bare-cr',
    rfc: 'RFC 9112 §2.2',
    why: 'a recipient of a bare CR MUST treat the element as invalid or replace the CR by SP; holdfast rejects, llhttp skips it before a request-line',
    applies: (raw, hf, node) => hf.reason === 'HF_WIRE_BARE_CR' && stoppedAt(hf, node, () => true) && /\r(?!\n)/.test(raw),
  },
  {
    id: 'bare-lf',
    rfc: 'RFC 9112 §2.2',
    why: 'a recipient MAY accept a bare LF as a line terminator; holdfast never does in requests (a classic desync vector)',
    applies: (raw, hf) => (hf.reason === 'HF_WIRE_BARE_LF' || hf.reason === 'HF_WIRE_INVALID_CHUNK') && /(^|[^\r])\n/.test(raw),
  },
  {
    id: 'invalid-host',
    rfc: 'RFC 9112 §3.2, RFC 3986 §3.2.2',
    why: 'a server MUST answer 400 to a Host that is not a valid authority (x\\admin?, victim#, a b, user@a, a:80x...): a URL or cache key built from it names another resource; llhttp does not look at Host',
    applies: (_raw, hf, node) => hf.reason === 'HF_WIRE_INVALID_HOST'
      && stoppedAt(hf, node, (m) => m.headers.some(([n, v]) => n.toLowerCase() === 'host' && hostFailsGrammar(v))),
  },
  {
    id: 'transfer-coding-unsupported',
    rfc: 'RFC 9112 §6.1',
    why: 'a server that receives a transfer coding it does not understand SHOULD respond 501; Node passes the still-coded body on',
    applies: (_raw, hf, node) => hf.reason === 'HF_WIRE_UNSUPPORTED_TRANSFER_ENCODING' && !node.rejected,
  },
  {
    id: 'transfer-encoding-http-1.0',
    rfc: 'RFC 9112 §6.1',
    why: 'an HTTP/1.0 message with Transfer-Encoding MUST be treated as having faulty framing',
    applies: (raw, hf, node) => hf.reason === 'HF_WIRE_INVALID_TRANSFER_ENCODING' && !node.rejected
      && /(^|\n)[^\r\n]* HTTP\/1\.0\r\n(?:[^\r\n]+\r\n)*?transfer-encoding:/i.test(raw),
  },
];

/**
 * RFC 3986 `host [ ":" port ]`, written out independently of src/wire/authority.ts: an IP-literal
 * or a reg-name of unreserved / sub-delims characters, and a port up to 65535. holdfast is
 * narrower still (no ",", no "%", a numeric last label only as a dotted quad), for reasons that
 * are about URL parsers, not the grammar; the allowance covers only values that fail the grammar
 * itself or show one of those narrowings.
 */
function hostFailsGrammar(value: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::(\d{1,5}))?$/.exec(value);
  if (m === null) return true;
  if (m[2] !== undefined && Number(m[2]) > 65535) return true;
  const host = m[1]!;
  return host.includes(',') || host.includes('%') || /(?:^|\.)(?:\d+|0x[0-9a-f]*)\.?$/i.test(host);
}

/**
 * `first` stopped (rejected) where `second` delivered a message matching `rule`, and they agree
 * on everything before it.
 */
function stoppedAt(first: Outcome, second: Outcome, rule: (m: Delivered) => boolean): boolean {
  const k = first.messages.filter((m) => m.complete).length;
  const next = second.messages[k];
  return first.rejected && next !== undefined && rule(next) && isDeepStrictEqual(first.messages.slice(0, k), second.messages.slice(0, k));
}

/** Node and holdfast agree: same verdict and same delivered messages. */
function agree(hf: Outcome, node: Outcome): boolean {
  if (hf.rejected !== node.rejected) return false;
  // When both reject, a head Node delivered just before rejecting its body is the same verdict.
  const trim = (o: Outcome) => (o.rejected ? o.messages.filter((m) => m.complete) : o.messages);
  return isDeepStrictEqual(trim(hf), trim(node));
}

function normalize(o: Outcome): Outcome {
  const messages = o.messages.map((m) => ({ ...m }));
  // A CONNECT turns the stream into a tunnel: its head is the whole message.
  if (o.tunnel === true && messages.length > 0) messages[messages.length - 1]!.complete = true;
  // Bytes after a request that closes the connection are ignored by any server: not a verdict.
  const rejected = o.rejected && o.reason !== 'HPE_CLOSED_CONNECTION';
  return { rejected, reason: rejected ? o.reason : null, messages };
}

interface Disagreement { name: string; raw: string; hf: Outcome; node: Outcome; allowed: string | null }

const oracle = new NodeOracle();
before(() => oracle.start());
after(() => oracle.stop());

async function compare(cases: [string, string][]): Promise<{ disagreements: Disagreement[]; rejectedBoth: number; acceptedBoth: number }> {
  const disagreements: Disagreement[] = [];
  let rejectedBoth = 0;
  let acceptedBoth = 0;
  await pool(cases, CONCURRENCY, async ([name, raw]) => {
    const bytes = Buffer.from(raw, 'latin1');
    const node = normalize(await oracle.send(bytes));
    const hf = normalize(holdfastOutcome(bytes));
    if (agree(hf, node)) {
      if (hf.rejected) rejectedBoth++;
      else acceptedBoth++;
      return;
    }
    const allowance = ALLOWED.find((a) => a.applies(raw, hf, node));
    disagreements.push({ name, raw, hf, node, allowed: allowance?.id ?? null });
  });
  if (verbose) {
    for (const d of disagreements) {
      process.stderr.write(`${d.allowed ?? "NOT ALLOWED"}: ${d.name} ${JSON.stringify(verbose ? d.raw : d.raw.slice(0, 200))}\n  holdfast ${JSON.stringify(d.hf).slice(0, 400)}\n  node     ${JSON.stringify(d.node).slice(0, 400)}\n`);
    }
  }
  return { disagreements, rejectedBoth, acceptedBoth };
}

function report(label: string, r: Awaited<ReturnType<typeof compare>>): void {
  const byId = new Map<string, number>();
  for (const d of r.disagreements) byId.set(d.allowed ?? 'NOT ALLOWED', (byId.get(d.allowed ?? 'NOT ALLOWED') ?? 0) + 1);
  process.stderr.write(`${label}: both accept ${r.acceptedBoth}, both reject ${r.rejectedBoth}, allowed disagreements ${JSON.stringify(Object.fromEntries(byId))}\n`);
  const bad = r.disagreements.filter((d) => d.allowed === null);
  assert.deepEqual(bad.map((d) => ({ name: d.name, raw: d.raw.slice(0, 300), holdfast: d.hf, node: d.node })), [], `${bad.length} unexplained disagreements`);
}

test(`fixed corpus (${CORPUS.length} requests from RFC 9112)`, async () => {
  assert.ok(CORPUS.length >= 60);
  const r = await compare(CORPUS);
  report('corpus', r);
  // The corpus must exercise both verdicts heavily, or the comparison says little.
  assert.ok(r.acceptedBoth >= 25 && r.rejectedBoth >= 40, JSON.stringify({ a: r.acceptedBoth, r: r.rejectedBoth }));
});

test(`strict corpus (${STRICT_CORPUS.length} requests holdfast once read leniently): holdfast's verdict is fixed`, () => {
  for (const [name, raw, verdict] of STRICT_CORPUS) {
    const hf = holdfastOutcome(Buffer.from(raw, 'latin1'));
    const got = hf.rejected ? hf.reason : `OK ${hf.messages.length}`;
    assert.equal(got, verdict, name);
  }
});

// ---------------------------------------------------------------- generated requests (see _arbitraries.ts)

test(`generated: ${GENERATED_VALID} valid streams and ${GENERATED_MUTATED} mutations`, async () => {
  const valid = fc.sample(stream, { numRuns: GENERATED_VALID, seed: 9112 });
  const broken = fc.sample(mutated, { numRuns: GENERATED_MUTATED, seed: 9110 });
  const cases: [string, string][] = [
    ...valid.map((raw, k): [string, string] => [`valid #${k}`, raw]),
    ...broken.map((raw, k): [string, string] => [`mutated #${k}`, raw]),
  ];
  const r = await compare(cases);
  report('generated', r);
  assert.ok(r.acceptedBoth >= GENERATED_VALID / 2, 'most generated valid streams must be accepted by both');
  assert.ok(r.rejectedBoth >= 100, 'mutations must produce rejections both agree on');
});
