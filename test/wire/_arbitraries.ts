/** fast-check arbitraries for HTTP/1.1 requests: valid streams (1-3 pipelined messages) and mutations. */
import fc from 'fast-check';

export const tchar = fc.constantFrom(...'!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ');
export const token = (min: number, max: number) => fc.array(tchar, { minLength: min, maxLength: max }).map((a) => a.join(''));
const valueChar = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: fc.constantFrom(' ', '\t') },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
);
export const fieldValue = fc.array(valueChar, { maxLength: 30 }).map((a) => a.join(''));
export const fieldName = fc.oneof(
  { weight: 5, arbitrary: token(1, 12).map((t) => `X-${t}`) },
  { weight: 1, arbitrary: fc.constantFrom('Accept', 'User-Agent', 'Cookie', 'Cache-Control', 'Accept-Language', 'Referer', 'If-None-Match') },
);
const targetChar = fc.constantFrom(...'abcXYZ019/._~-%?=&;:@!$\'()*+,[]'.split(''));
export const target = fc.oneof(
  { weight: 8, arbitrary: fc.array(targetChar, { maxLength: 40 }).map((a) => `/${a.join('')}`) },
  { weight: 1, arbitrary: fc.constant('*') },
  { weight: 1, arbitrary: fc.array(targetChar, { maxLength: 20 }).map((a) => `http://example.com/${a.join('')}`) },
);
export const method = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH') },
  { weight: 1, arbitrary: fc.constantFrom('PROPFIND', 'MKCOL', 'QUERY', 'BREW') },
);
export const bodyBytes = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1'));
const chunkExt = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: token(1, 5).map((t) => `;${t}`) },
  { weight: 1, arbitrary: fc.tuple(token(1, 5), token(1, 5)).map(([a, b]) => `;${a}=${b}`) },
  { weight: 1, arbitrary: fc.tuple(token(1, 5), fc.array(fc.constantFrom('a', ' ', ',', ';', '='), { maxLength: 6 })).map(([a, b]) => `;${a}="${b.join('')}"`) },
);
const framing = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 3, arbitrary: bodyBytes.map((b) => ({ kind: 'length' as const, body: b })) },
  {
    weight: 3,
    arbitrary: fc.record({
      chunks: fc.array(fc.tuple(bodyBytes.filter((b) => b.length > 0), chunkExt, fc.boolean()), { maxLength: 3 }),
      trailers: fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 2 }),
      upperHex: fc.boolean(),
    }).map((c) => ({ kind: 'chunked' as const, ...c })),
  },
);
export const message = fc.record({
  method,
  target,
  version: fc.oneof({ weight: 9, arbitrary: fc.constant('1.1') }, { weight: 1, arbitrary: fc.constant('1.0') }),
  host: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(0, 2) }),
  fields: fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 8 }),
  ows: fc.constantFrom('', ' ', '  ', '\t'),
  framing,
});

export type Message = typeof message extends fc.Arbitrary<infer T> ? T : never;

export function render(m: Message): string {
  const out: string[] = [`${m.method} ${m.target} HTTP/${m.version}`];
  for (let k = 0; k < m.host; k++) out.push(`Host:${m.ows}example.com${k === 0 ? '' : ':8080'}`);
  for (const [n, v] of m.fields) out.push(`${n}:${m.ows}${v}`);
  let body = '';
  const f = m.framing;
  if (f.kind === 'length') {
    out.push(`Content-Length: ${f.body.length}`);
    body = f.body;
  } else if (f.kind === 'chunked') {
    out.push('Transfer-Encoding: chunked');
    for (const [data, ext, zeros] of f.chunks) {
      const size = data.length.toString(16);
      body += `${zeros ? '00' : ''}${f.upperHex ? size.toUpperCase() : size}${ext}\r\n${data}\r\n`;
    }
    body += `0\r\n${f.trailers.map(([n, v]) => `${n}: ${v.trim()}\r\n`).join('')}\r\n`;
  }
  return `${out.join('\r\n')}\r\n\r\n${body}`;
}

export const stream = fc.array(message, { minLength: 1, maxLength: 3 }).map((ms) => ms.map(render).join(''));

const INTERESTING = ['\r', '\n', '\r\n', ' ', '\t', '\0', ':', ';', ',', '0', 'f', 'a', '\x7f', '\x80', '\xff', '"', '\\', 'chunked', 'Content-Length: 1\r\n', 'Transfer-Encoding: chunked\r\n', '\r\n '];
const mutation = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), s: fc.constantFrom(...INTERESTING) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), s: fc.constantFrom(...INTERESTING) }),
  fc.record({ op: fc.constant('byte' as const), at: fc.nat(), b: fc.integer({ min: 0, max: 255 }) }),
);
export const mutated = fc.tuple(stream, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([s, ms]) => {
  let out = s;
  for (const m of ms) {
    const at = m.at % (out.length + 1);
    if (m.op === 'insert') out = out.slice(0, at) + m.s + out.slice(at);
    else if (m.op === 'delete') out = out.slice(0, at) + out.slice(at + m.len);
    else if (m.op === 'replace') out = out.slice(0, at) + m.s + out.slice(at + m.s.length);
    else out = out.slice(0, at) + String.fromCharCode(m.b) + out.slice(at + 1);
  }
  return out;
});

