// Download progress on stderr: a bar redrawn in place on a terminal, and
// plain lines elsewhere, so the log of a detached pull shows how far it got.

/** Where progress goes; `Deno.stderr` in the CLI. */
export interface ProgressSink {
  /** Writes bytes synchronously, returning how many were written. */
  writeSync(data: Uint8Array): number;
}

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** What is downloading, for example `acme-api v1.2.0`. */
  label: string;
  /** The expected size in bytes, when known. */
  total?: number;
  /** `bar` for a terminal, `lines` for logs and CI, `none` for silence. */
  style: "bar" | "lines" | "none";
  sink: ProgressSink;
  /**
   * The terminal's width, for the bar.
   * @default {80}
   */
  columns?: number;
  /**
   * Also told of every update, with the bytes so far: how a pull that runs
   * as a job reports its progress to the job's record.
   */
  report?: (bytes: number) => void;
  /**
   * The clock, in milliseconds; replaceable for tests.
   * @default {Date.now}
   */
  now?: () => number;
}

/** Redraw the bar at most this often. */
const BAR_INTERVAL_MS = 100;
/** Without a known total, or between 10 % steps, a line at least this often. */
const LINE_INTERVAL_MS = 2_000;

/** Reports the progress of one download. */
export class Progress {
  readonly #options: ProgressOptions;
  readonly #now: () => number;
  readonly #started: number;
  #bytes = 0;
  #lastDraw = -Infinity;
  #lastDecile = -1;
  #lastLineBytes = -1;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
  }

  update(bytes: number): void {
    this.#bytes = bytes;
    this.#report(bytes);
    const { style, total } = this.#options;
    const now = this.#now();
    if (style === "bar") {
      if (now - this.#lastDraw >= BAR_INTERVAL_MS) this.#drawBar(now);
    } else if (style === "lines") {
      const decile = total ? Math.floor((bytes / total) * 10) : -1;
      if (
        (total && decile > this.#lastDecile) ||
        now - this.#lastDraw >= LINE_INTERVAL_MS
      ) {
        this.#line(now);
        if (decile > this.#lastDecile) this.#lastDecile = decile;
      }
    }
  }

  /** Reports the end of a download that completed. */
  finish(): void {
    this.#report(this.#bytes);
    const now = this.#now();
    if (this.#options.style === "bar") {
      this.#drawBar(now);
      this.#write("\n");
      this.#drawn = false;
    } else if (
      this.#options.style === "lines" && this.#lastLineBytes !== this.#bytes
    ) {
      this.#line(now);
    }
  }

  /** Ends the bar's line after a failure, so the error starts afresh. */
  abandon(): void {
    if (this.#drawn) this.#write("\n");
    this.#drawn = false;
  }

  #report(bytes: number): void {
    try {
      this.#options.report?.(bytes);
    } catch {
      // Progress is a courtesy: a report that fails must not fail the pull.
    }
  }

  #line(now: number): void {
    const { label, total } = this.#options;
    const done = total
      ? `${formatBytes(this.#bytes)} of ${formatBytes(total)} (${
        percent(this.#bytes, total)
      }%)`
      : formatBytes(this.#bytes);
    this.#write(`${label}: ${done}\n`);
    this.#lastDraw = now;
    this.#lastLineBytes = this.#bytes;
  }

  #drawBar(now: number): void {
    const { label, total } = this.#options;
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0.2
      ? `  ${formatBytes(this.#bytes / seconds)}/s`
      : "";
    const amount = total
      ? `${formatBytes(this.#bytes)}/${formatBytes(total)}`
      : formatBytes(this.#bytes);
    let text: string;
    if (total) {
      const pct = percent(this.#bytes, total);
      const tail = ` ${String(pct).padStart(3)}%  ${amount}${rate}`;
      const room = (this.#options.columns ?? 80) - label.length - tail.length -
        4;
      const width = Math.max(0, Math.min(30, room));
      const filled = Math.round((width * Math.min(pct, 100)) / 100);
      const bar = width > 0
        ? ` [${"#".repeat(filled)}${"-".repeat(width - filled)}]`
        : "";
      text = `${label}${bar}${tail}`;
    } else {
      text = `${label}  ${amount}${rate}`;
    }
    this.#write(`\r\x1b[K${text}`);
    this.#lastDraw = now;
    this.#drawn = true;
  }

  #write(text: string): void {
    const data = new TextEncoder().encode(text);
    try {
      let written = 0;
      while (written < data.length) {
        written += this.#options.sink.writeSync(data.subarray(written));
      }
    } catch {
      // Progress is a courtesy: a closed stderr must not fail the download.
    }
  }
}

function percent(bytes: number, total: number): number {
  return total > 0 ? Math.floor((bytes / total) * 100) : 100;
}

/** Formats a byte count for people: `512 B`, `3.4 KiB`, `1.2 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
