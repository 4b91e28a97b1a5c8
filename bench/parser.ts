/**
 * Parser throughput: holdfast's RequestParser/ResponseParser vs Node's own parser (llhttp, the
 * `HTTPParser` binding node:http itself uses, reached through `require('_http_common')` since
 * `process.binding('http_parser')` no longer exists in Node 24). Both run in the same harness:
 * one parser instance fed the same message over and over, as on a keep-alive connection, with
 * callbacks that only count. Reports messages/s (best of several rounds) and the ratio.
 *
 *   node bench/parser.ts            (or: npm run bench -- parser)
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { RequestParser, ResponseParser } from '../src/wire/index.ts';

const require = createRequire(import.meta.url);

interface NodeHTTPParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(buf: Buffer): number | Error;
  [key: number]: unknown;
}
interface NodeHTTPParserCtor {
  new (): NodeHTTPParser;
  REQUEST: number;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

function loadNodeParser(): NodeHTTPParserCtor | null {
  try {
    return (require('_http_common') as { HTTPParser: NodeHTTPParserCtor }).HTTPParser;
  } catch {
    return null;
  }
}

const crlf = (lines: string[]): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');

export const REQUEST_HEAD = crlf([
  'GET /search?q=holdfast&lang=en HTTP/1.1',
  'Host: www.example.com',
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'Accept-Language: en-US,en;q=0.5',
  'Accept-Encoding: gzip, deflate, br',
  'Referer: https://www.example.com/',
  'Connection: keep-alive',
  'Cookie: session=3f9a7c2e1b; theme=dark; _ga=GA1.2.123456789.1700000000',
  'Upgrade-Insecure-Requests: 1',
  'Sec-Fetch-Dest: document',
  'Sec-Fetch-Mode: navigate',
]);

export const RESPONSE_HEAD = crlf([
  'HTTP/1.1 200 OK',
  'Date: Sun, 22 Nov 2026 08:00:00 GMT',
  'Server: nginx/1.25.3',
  'Content-Type: text/html; charset=utf-8',
  'Content-Length: 0',
  'Cache-Control: private, max-age=0',
  'ETag: "5f3c-1a2b3c4d"',
  'Vary: Accept-Encoding',
  'Set-Cookie: session=3f9a7c2e1b; Path=/; HttpOnly; Secure',
  'Connection: keep-alive',
  'Keep-Alive: timeout=5',
]);

export const RESPONSE_CHUNKED = Buffer.concat([
  crlf([
    'HTTP/1.1 200 OK',
    'Date: Sun, 22 Nov 2026 08:00:00 GMT',
    'Content-Type: application/json',
    'Transfer-Encoding: chunked',
    'Connection: keep-alive',
  ]),
  ...['{"items":[1,2,3],"next":', '"/page/2","total":42}'].map((c) => Buffer.from(`${c.length.toString(16)}\r\n${c}\r\n`, 'latin1')),
  Buffer.from('0\r\n\r\n', 'latin1'),
]);

type Runner = (n: number) => void;

function holdfastRequest(msg: Buffer): Runner {
  let count = 0;
  const p = new RequestParser({ onHead() {}, onBody() {}, onComplete() { count++; } });
  return (n) => {
    for (let i = 0; i < n; i++) p.execute(msg);
    if (count === 0) throw new Error('no message parsed');
  };
}

function holdfastResponse(msg: Buffer): Runner {
  let count = 0;
  const p = new ResponseParser({ onHead() {}, onBody() {}, onComplete() { count++; } });
  return (n) => {
    for (let i = 0; i < n; i++) {
      p.expect('GET');
      p.execute(msg);
    }
    if (count === 0) throw new Error('no message parsed');
  };
}

function nodeParser(HTTPParser: NodeHTTPParserCtor, type: 'request' | 'response', msg: Buffer): Runner {
  let count = 0;
  const p = new HTTPParser();
  p.initialize(type === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {});
  p[HTTPParser.kOnHeaders] = () => {};
  p[HTTPParser.kOnHeadersComplete] = () => 0;
  p[HTTPParser.kOnBody] = () => {};
  p[HTTPParser.kOnMessageComplete] = () => { count++; };
  p[HTTPParser.kOnExecute] = () => {};
  return (n) => {
    for (let i = 0; i < n; i++) {
      const r = p.execute(msg);
      if (r instanceof Error) throw r;
    }
    if (count === 0) throw new Error('no message parsed');
  };
}

/**
 * Messages per second of each runner: rounds of ~`ms` each, alternating between the runners so
 * that load from elsewhere on the machine hits both alike; the best round of each counts.
 */
function measure(runners: Runner[], ms = 250, rounds = 7): number[] {
  const best = runners.map(() => 0);
  const batch = runners.map(() => 1000);
  for (const run of runners) run(3000);
  for (let r = 0; r < rounds; r++) {
    runners.forEach((run, k) => {
      let done = 0;
      const start = process.hrtime.bigint();
      let elapsed = 0;
      while (elapsed < ms) {
        run(batch[k]!);
        done += batch[k]!;
        elapsed = Number(process.hrtime.bigint() - start) / 1e6;
      }
      best[k] = Math.max(best[k]!, (done / elapsed) * 1000);
      batch[k] = Math.max(1000, Math.round(best[k] / 100));
    });
  }
  return best;
}

export interface ParserBenchRow {
  case: string;
  bytes: number;
  holdfast: number;
  node: number | null;
  ratio: number | null;
}

export async function run(): Promise<{ harness: string; rows: ParserBenchRow[] }> {
  const HTTPParser = loadNodeParser();
  const cases: [string, 'request' | 'response', Buffer][] = [
    ['request head (browser GET, 12 fields)', 'request', REQUEST_HEAD],
    ['response head (200, 10 fields)', 'response', RESPONSE_HEAD],
    ['response, small chunked body (2 chunks + last)', 'response', RESPONSE_CHUNKED],
  ];
  const rows: ParserBenchRow[] = [];
  for (const [name, type, msg] of cases) {
    const runners = [type === 'request' ? holdfastRequest(msg) : holdfastResponse(msg)];
    if (HTTPParser !== null) runners.push(nodeParser(HTTPParser, type, msg));
    const [holdfast, nodeRate] = measure(runners);
    const node = nodeRate ?? null;
    rows.push({ case: name, bytes: msg.length, holdfast: Math.round(holdfast!), node: node === null ? null : Math.round(node), ratio: node === null ? null : Number((holdfast! / node).toFixed(2)) });
  }
  const harness = HTTPParser === null
    ? 'Node parser unavailable: holdfast only'
    : 'in-process; Node = llhttp HTTPParser from node:_http_common (what node:http uses), callbacks counting only';
  const fmt = (n: number | null) => (n === null ? '-' : n.toLocaleString('en-US'));
  const lines = [
    `| case | bytes | holdfast msg/s | Node llhttp msg/s | holdfast / Node |`,
    `|---|---:|---:|---:|---:|`,
    ...rows.map((r) => `| ${r.case} | ${r.bytes} | ${fmt(r.holdfast)} | ${fmt(r.node)} | ${r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`} |`),
  ];
  process.stdout.write(`${harness}\n${lines.join('\n')}\n`);
  return { harness, rows };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await run();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
