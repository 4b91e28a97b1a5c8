/**
 * An HTTP field section: case-insensitive names, original order and spelling kept, repeated
 * fields kept as separate lines (Set-Cookie must never be joined, RFC 9110 §5.3).
 */
import { isToken, invalidFieldValueAt, trimOws } from './chars.ts';
import { WireError } from './errors.ts';

export type HeaderInit = HeaderList | Iterable<readonly [string, string]> | Record<string, string | readonly string[] | undefined>;

/**
 * A list's lines as parallel arrays (original names, lower-cased keys, values), for the
 * serializers and copies on the hot path: walking them by index allocates no `[name, value]`
 * pair per line and lower-cases no name a second time. Read-only views of the list's own arrays.
 * @internal
 */
export interface FieldLines {
  readonly names: readonly string[];
  readonly keys: readonly string[];
  readonly values: readonly string[];
}

/**
 * Lower-cased field names by name, for lookups and appends. Nearly every call passes one of a few
 * dozen literal names, already lower-case (a proxied request makes about thirty such calls), and
 * a map lookup of a name costs a fraction of `toLowerCase()` on it. Bounded, so names chosen by
 * peers or users cannot grow it: past the limit a new name is lower-cased every time.
 */
const KEYS = new Map<string, string>();
const KEYS_LIMIT = 512;

function keyOf(name: string): string {
  let key = KEYS.get(name);
  if (key === undefined) {
    key = name.toLowerCase();
    if (KEYS.size < KEYS_LIMIT) KEYS.set(name, key);
  }
  return key;
}

export class HeaderList implements Iterable<[string, string]> {
  /** Names as received or set, in order. Empty while `src` is set (see `fromSource`). */
  private names: string[] = [];
  /** Lower-cased names, one per line, so lookups never allocate. Always complete. */
  private keys: string[] = [];
  /** Values, parallel to `names`. Empty while `src` is set. */
  private values: string[] = [];
  /**
   * A parsed head's text while its names and values are not yet materialised: most of a head's
   * fields are never read, so the parser keeps offsets instead of slicing a string per field.
   */
  private src: string | null = null;
  /** Per line: name start, name end, value start, value end in `src`. */
  private offs: number[] | null = null;
  /**
   * Whether a line came in through `push`, which checks nothing. Every other way in checks each
   * line (the parser, `append`) or copies checked lines, so while this is false the serializers
   * need not check the lines again (see `verified`).
   */
  private unchecked = false;

  /**
   * For the parser, which has already validated every line: a list whose names and values are
   * the ranges `offs` (4 per line: name start/end, value start/end) of `src`, materialised on
   * first read. `keys[i]` must be the lower-cased name of line i.
   * @internal
   */
  static fromSource(src: string, keys: string[], offs: number[]): HeaderList {
    const h = new HeaderList();
    h.src = src;
    h.keys = keys;
    h.offs = offs;
    return h;
  }

  /**
   * For copies made by the wire layer from another list's lines (already checked): a list over
   * the given parallel arrays, which it takes over. `keys[i]` must be `names[i].toLowerCase()`.
   * @internal
   */
  static fromLines(names: string[], keys: string[], values: string[], verified: boolean): HeaderList {
    const h = new HeaderList();
    h.names = names;
    h.keys = keys;
    h.values = values;
    h.unchecked = !verified;
    return h;
  }

  /**
   * Whether every line passed the field-line checks on its way in (the parser's, or `append`'s)
   * or was copied from such a list: false once `push` added one. A serializer writes a verified
   * list's lines without checking each name and value again. @internal
   */
  get verified(): boolean {
    return !this.unchecked;
  }

  /** Name of line `i` as spelled, without materialising the others. @internal */
  nameAt(i: number): string {
    const src = this.src;
    if (src === null) return this.names[i]!;
    const o = i * 4;
    return src.slice(this.offs![o], this.offs![o + 1]);
  }

  /** Lower-cased name of line `i`. @internal */
  keyAt(i: number): string {
    return this.keys[i]!;
  }

  /** Slices every name and value out of `src`; called before anything that reads or edits them all. */
  private materialise(): void {
    const src = this.src;
    if (src === null) return;
    const offs = this.offs!;
    const n = this.keys.length;
    const names: string[] = [];
    const values: string[] = [];
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      names.push(src.slice(offs[o], offs[o + 1]));
      values.push(src.slice(offs[o + 2], offs[o + 3]));
    }
    this.names = names;
    this.values = values;
    this.src = null;
    this.offs = null;
  }

  /** Value of line `i`, without materialising the others. @internal */
  valueAt(i: number): string {
    const src = this.src;
    if (src === null) return this.values[i]!;
    const o = i * 4;
    return src.slice(this.offs![o + 2], this.offs![o + 3]);
  }

  constructor(init?: HeaderInit) {
    if (init === undefined) return;
    if (init instanceof HeaderList) {
      init.materialise();
      for (let i = 0; i < init.names.length; i++) this.add(init.names[i]!, init.keys[i]!, init.values[i]!);
      this.unchecked = init.unchecked;
    } else if (Symbol.iterator in init) {
      for (const [name, value] of init as Iterable<readonly [string, string]>) this.append(name, value);
    } else {
      for (const [name, value] of Object.entries(init)) {
        if (value === undefined) continue;
        if (typeof value === 'string') this.append(name, value);
        else for (const v of value) this.append(name, v);
      }
    }
  }

  /**
   * Adds a line without validation. For the parser, which has already checked every byte;
   * `key` must be `name.toLowerCase()`.
   */
  push(name: string, key: string, value: string): void {
    this.unchecked = true;
    this.add(name, key, value);
  }

  /** Adds a line already checked (or copied from a checked list). */
  private add(name: string, key: string, value: string): void {
    this.materialise();
    this.names.push(name);
    this.keys.push(key);
    this.values.push(value);
  }

  /** The lines as parallel arrays (see `FieldLines`); valid until the list is next changed. @internal */
  lines(): FieldLines {
    this.materialise();
    return { names: this.names, keys: this.keys, values: this.values };
  }

  /** Number of field lines. */
  get size(): number {
    return this.keys.length;
  }

  /** Adds a field line, validating the name (token) and value (no CR, LF, NUL or other controls). */
  append(name: string, value: string): this {
    assertFieldName(name);
    // Leading and trailing OWS is not part of a field value (RFC 9110 §5.5).
    const v = trimOws(value);
    assertFieldValue(name, v);
    this.add(name, keyOf(name), v);
    return this;
  }

  /** Replaces every line of `name` with one line. */
  set(name: string, value: string): this {
    this.delete(name);
    return this.append(name, value);
  }

  /** Removes every line of `name`; returns whether any was removed. */
  delete(name: string): boolean {
    const key = keyOf(name);
    this.materialise();
    let removed = false;
    for (let i = this.keys.length - 1; i >= 0; i--) {
      if (this.keys[i] === key) {
        this.names.splice(i, 1);
        this.keys.splice(i, 1);
        this.values.splice(i, 1);
        removed = true;
      }
    }
    return removed;
  }

  has(name: string): boolean {
    return this.keys.indexOf(keyOf(name)) !== -1;
  }

  /**
   * The field's combined value (lines joined with ", " per RFC 9110 §5.3), or `undefined`.
   * Set-Cookie lines are joined too here; use `getAll` for them.
   */
  get(name: string): string | undefined {
    const key = keyOf(name);
    let out: string | undefined;
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] === key) out = out === undefined ? this.valueAt(i) : `${out}, ${this.valueAt(i)}`;
    }
    return out;
  }

  /**
   * The value of the first line of `name`, or `undefined`. For singleton fields (Date, ETag,
   * Last-Modified, Age) where a repeated line is an error and joining would only hide it.
   */
  first(name: string): string | undefined {
    const i = this.keys.indexOf(keyOf(name));
    return i === -1 ? undefined : this.valueAt(i);
  }

  /** Every line's value of `name`, in order. */
  getAll(name: string): string[] {
    const key = keyOf(name);
    const out: string[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === key) out.push(this.valueAt(i));
    return out;
  }

  /** Number of lines named `name`. */
  count(name: string): number {
    const key = keyOf(name);
    let n = 0;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === key) n++;
    return n;
  }

  *[Symbol.iterator](): Iterator<[string, string]> {
    this.materialise();
    for (let i = 0; i < this.names.length; i++) yield [this.names[i]!, this.values[i]!];
  }

  /** Lines as `[name, value]` pairs, original spelling. */
  entries(): [string, string][] {
    this.materialise();
    const out: [string, string][] = [];
    for (let i = 0; i < this.names.length; i++) out.push([this.names[i]!, this.values[i]!]);
    return out;
  }

  /** Flat `[name, value, name, value, ...]` as Node's `rawHeaders`. */
  toRaw(): string[] {
    this.materialise();
    const out: string[] = [];
    for (let i = 0; i < this.names.length; i++) out.push(this.names[i]!, this.values[i]!);
    return out;
  }

  /**
   * Flat `[name, value, ...]` as bytes (latin1), the `rawHeaders` undici's dispatch handlers
   * take. A parsed head is encoded once and sliced, without a string or a copy per line.
   */
  toRawBuffers(): Buffer[] {
    const src = this.src;
    const n = this.keys.length;
    const out = new Array<Buffer>(2 * n);
    if (src !== null) {
      const offs = this.offs!;
      const bytes = Buffer.from(src, 'latin1');
      for (let i = 0; i < 2 * n; i++) out[i] = bytes.subarray(offs[2 * i], offs[2 * i + 1]);
      return out;
    }
    for (let i = 0; i < n; i++) {
      out[2 * i] = Buffer.from(this.names[i]!, 'latin1');
      out[2 * i + 1] = Buffer.from(this.values[i]!, 'latin1');
    }
    return out;
  }

  /** A plain object with lower-cased names; repeated fields joined, Set-Cookie as an array. */
  toObject(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (let i = 0; i < this.keys.length; i++) {
      const k = this.keys[i]!;
      const v = this.valueAt(i);
      const prev = out[k];
      if (k === 'set-cookie') {
        if (Array.isArray(prev)) prev.push(v);
        else out[k] = [v];
      } else {
        out[k] = prev === undefined ? v : `${prev as string}, ${v}`;
      }
    }
    return out;
  }

  clone(): HeaderList {
    return new HeaderList(this);
  }
}


/** Throws when `name` is not a token: guards serializers against header injection. */
export function assertFieldName(name: string): void {
  if (!isToken(name)) {
    throw new WireError('HF_WIRE_INVALID_HEADER_NAME', `invalid header name ${JSON.stringify(name)}`);
  }
}

/** Throws when `value` holds CR, LF, NUL or another control: guards against header injection. */
export function assertFieldValue(name: string, value: string): void {
  const at = invalidFieldValueAt(value);
  if (at !== -1) {
    const c = value.charCodeAt(at);
    const code = c === 0x0d || c === 0x0a ? 'HF_WIRE_HEADER_INJECTION' : 'HF_WIRE_INVALID_HEADER_VALUE';
    throw new WireError(code, `invalid character 0x${c.toString(16)} in value of header ${name}`);
  }
}
