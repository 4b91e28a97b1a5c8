/**
 * JSON with positions: a strict JSON parser (RFC 8259, no comments, no trailing commas, no
 * duplicate keys) that remembers where each value begins, so a configuration error can name the
 * file, line and column of the offending key instead of only its path.
 */

/** A parsed JSON value with where it began. */
export type JsonNode =
  | { kind: 'object'; line: number; column: number; entries: Map<string, JsonNode>; keyAt: Map<string, { line: number; column: number }> }
  | { kind: 'array'; line: number; column: number; items: JsonNode[] }
  | { kind: 'string'; line: number; column: number; value: string }
  | { kind: 'number'; line: number; column: number; value: number }
  | { kind: 'boolean'; line: number; column: number; value: boolean }
  | { kind: 'null'; line: number; column: number };

/** A syntax error, with its 1-based line and column. */
export class JsonSyntaxError extends Error {
  readonly line: number;
  readonly column: number;
  /** The message without the position. */
  readonly reason: string;
  constructor(message: string, line: number, column: number) {
    super(`${message} at line ${line}, column ${column}`);
    this.reason = message;
    this.line = line;
    this.column = column;
  }
}

/** Parses `text`; throws `JsonSyntaxError`. */
export function parseJsonWithPositions(text: string): JsonNode {
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const col = (): number => i - lineStart + 1;
  const fail = (message: string): never => {
    throw new JsonSyntaxError(message, line, col());
  };
  const ws = (): void => {
    for (;;) {
      const c = text[i];
      if (c === '\n') {
        i++;
        line++;
        lineStart = i;
      } else if (c === ' ' || c === '\t' || c === '\r') i++;
      else return;
    }
  };
  const str = (): string => {
    // JSON.parse does the unescaping; the scan only finds where the string ends.
    const start = i;
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined || c === '\n') fail('unterminated string');
      if (c === '\\') i += 2;
      else if (c === '"') {
        i++;
        break;
      } else if (c! < ' ') fail('control character in string');
      else i++;
    }
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      i = start;
      return fail('invalid escape in string');
    }
  };
  const value = (): JsonNode => {
    ws();
    const at = { line, column: col() };
    const c = text[i];
    if (c === '{') {
      i++;
      const entries = new Map<string, JsonNode>();
      const keyAt = new Map<string, { line: number; column: number }>();
      ws();
      if (text[i] === '}') {
        i++;
        return { kind: 'object', ...at, entries, keyAt };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key in double quotes');
        const keyPos = { line, column: col() };
        const key = str();
        if (entries.has(key)) throw new JsonSyntaxError(`duplicate key ${JSON.stringify(key)}`, keyPos.line, keyPos.column);
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        entries.set(key, value());
        keyAt.set(key, keyPos);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { kind: 'object', ...at, entries, keyAt };
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { kind: 'array', ...at, items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { kind: 'array', ...at, items };
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return { kind: 'string', ...at, value: str() };
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (m !== null) {
      i += m[0].length;
      return { kind: 'number', ...at, value: Number(m[0]) };
    }
    for (const [word, node] of [
      ['true', { kind: 'boolean', ...at, value: true }],
      ['false', { kind: 'boolean', ...at, value: false }],
      ['null', { kind: 'null', ...at }],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return node;
      }
    }
    return fail(c === undefined ? 'unexpected end of file' : `unexpected ${JSON.stringify(c)}`);
  };
  const root = value();
  ws();
  if (i < text.length) fail('unexpected text after the end');
  return root;
}
