/**
 * Progress on stderr: a single rewritten line on a terminal, plain lines otherwise (CI logs).
 */

/** A progress line that rewrites itself on a TTY and prints sparingly elsewhere. */
export class ProgressLine {
  private readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  private lastPlain = 0;
  private shown = false;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.stream = stream;
    this.tty = stream.isTTY === true;
  }

  /** Updates the line; on a non-TTY prints at most once per `plainEveryMs` unless `force`. */
  update(text: string, force = false, plainEveryMs = 2000): void {
    if (this.tty) {
      const width = (this.stream.columns ?? 100) - 1;
      this.stream.write(`\r\x1b[K${text.slice(0, width)}`);
      this.shown = true;
      return;
    }
    const now = performance.now();
    if (force || now - this.lastPlain >= plainEveryMs) {
      this.lastPlain = now;
      this.stream.write(`${text}\n`);
    }
  }

  /** Clears the line (TTY) so that the next output starts clean. */
  done(): void {
    if (this.tty && this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  get isTTY(): boolean {
    return this.tty;
  }
}

/** `[#####.....] 52%  26.0 MB of 50.0 MB` */
export function bar(done: number, total: number | null, width = 24): string {
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  if (total === null || total <= 0) return `${mb(done)}`;
  const f = Math.min(1, done / total);
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(f * 100)).padStart(3)}%  ${mb(done)} of ${mb(total)}`;
}
