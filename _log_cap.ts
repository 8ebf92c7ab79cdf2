// The log cap (`--log-max SIZE`): the worker's output comes through a pipe
// that the supervisor copies to the log, and when the log would pass SIZE it
// is rewritten as a header line saying how many bytes were dropped, followed
// by the newest output, and renamed over the old one. Without a cap the
// worker writes the log itself through a shell redirect; this file is only
// for capped logs.

/** The smallest log cap: room for the header line and a useful tail. */
export const LOG_MAX_MIN = 4096;

/** The largest log cap: the largest byte count a number holds exactly. */
export const LOG_MAX_MAX = Number.MAX_SAFE_INTEGER;

/**
 * How long, after the worker has exited, the log waits for the other
 * processes that share its output (a grandchild left running) to close it:
 * 2 s. After that it stops reading, and their next write fails (SIGPIPE).
 */
export const DEFAULT_LINGER = 2_000;

/**
 * Checks a log cap where it enters the library: a whole number of bytes from
 * {@linkcode LOG_MAX_MIN} to {@linkcode LOG_MAX_MAX}. A cap under the minimum
 * would leave no room for what the log is kept for once the header that
 * says what was dropped is written.
 *
 * @param n The cap in bytes.
 * @returns `n`, unchanged.
 * @throws {RangeError} If `n` is not a whole number in range.
 */
export function checkLogMax(n: number): number {
  if (
    typeof n !== "number" || !Number.isInteger(n) || n < LOG_MAX_MIN ||
    n > LOG_MAX_MAX
  ) {
    throw new RangeError(
      `Invalid log cap: ${
        typeof n === "number" ? n : JSON.stringify(n)
      } (a whole number of bytes from ${LOG_MAX_MIN} (4KiB) to ${LOG_MAX_MAX})`,
    );
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  kib: 1024,
  mb: 1e6,
  mib: 1024 ** 2,
  gb: 1e9,
  gib: 1024 ** 3,
};

/**
 * Parses a size such as `10MiB`, `512KB`, `1GiB`, `1.5MiB` or `4096` (bytes)
 * into bytes. Units: B, KB/KiB, MB/MiB, GB/GiB (KB is 1000 bytes, KiB 1024;
 * any letter case). The result must be a whole number of bytes above zero.
 *
 * @param text The size.
 * @returns The bytes.
 * @throws {RangeError} If the text is not a size, is zero or negative, or is
 * not a whole number of bytes.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m === null ? undefined : SIZE_UNITS[m[2].toLowerCase()];
  if (m === null || unit === undefined) {
    throw new RangeError(
      `Invalid size: ${
        JSON.stringify(text)
      } (use a whole number of bytes with an optional unit, like 4096, 512KiB, 10MB or 1GiB)`,
    );
  }
  const bytes = Number(m[1]) * unit;
  // 1.1 * 1e3 is 1100.0000000000002 in floating point: a hair off a whole
  // number is the product's rounding, not a fraction of a byte.
  const whole = Math.round(bytes);
  if (Math.abs(bytes - whole) > 1e-6 * Math.max(1, bytes)) {
    throw new RangeError(
      `Invalid size: ${JSON.stringify(text)} is not a whole number of bytes`,
    );
  }
  if (whole <= 0) {
    throw new RangeError(
      `Invalid size: ${JSON.stringify(text)} (it must be above zero)`,
    );
  }
  if (!Number.isSafeInteger(whole)) {
    throw new RangeError(`Invalid size: ${JSON.stringify(text)} is too large`);
  }
  return whole;
}

const HEADER_PREFIX = "[@epack/detach] ";
const HEADER =
  /^\[@epack\/detach\] (\d+) earlier bytes were dropped to keep this log within (\d+) bytes\n/;

/** The header line of a log whose oldest `dropped` bytes were dropped. */
export function logHeader(dropped: number, max: number): string {
  return `${HEADER_PREFIX}${dropped} earlier bytes were dropped to keep this log within ${max} bytes\n`;
}

/** What the header line at the top of a capped log says. */
export interface LogHeader {
  /** How many bytes of output were dropped before the first byte kept. */
  dropped: number;
  /** The header line's length in bytes; the output kept starts there. */
  length: number;
}

/**
 * Reads the header line at the start of `bytes` (a log's first bytes; 256
 * are enough), if the log has one.
 *
 * @param bytes The start of the log.
 * @returns What the header says, or `undefined` if there is none.
 */
export function readLogHeader(bytes: Uint8Array): LogHeader | undefined {
  // The header is ASCII: decoding byte by byte keeps it exact.
  const head = String.fromCharCode(...bytes.subarray(0, 256));
  const m = HEADER.exec(head);
  if (m === null) return undefined;
  return { dropped: Number(m[1]), length: m[0].length };
}

async function headerOf(file: Deno.FsFile): Promise<LogHeader | undefined> {
  const buf = new Uint8Array(256);
  const n = await readAt(file, 0, buf);
  return readLogHeader(buf.subarray(0, n));
}

/**
 * For a reader following a capped log by file descriptor: whether the log
 * was swapped (rewritten and renamed over) since `file` was opened, and if
 * so, the new file and where in it to go on so that no byte is read twice.
 * Call it after reading `file` to its end: a swapped-out file no longer
 * grows, so what it holds is then all read.
 *
 * @param path The log's path.
 * @param file The file being read.
 * @param pos How far `file` has been read.
 * @returns `undefined` if the log is still `file`; otherwise the new file
 * (the caller's to close), the position in it, and how many bytes between
 * the two were dropped before they could be read (0 when none).
 */
export async function followSwap(
  path: string,
  file: Deno.FsFile,
  pos: number,
): Promise<{ file: Deno.FsFile; pos: number; missed: number } | undefined> {
  let now: Deno.FileInfo;
  try {
    now = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  if (now.ino === (await file.stat()).ino) return undefined;
  const next = await Deno.open(path, { read: true });
  try {
    const old = await headerOf(file);
    const logical = (old?.dropped ?? 0) + pos - (old?.length ?? 0);
    const head = await headerOf(next);
    const start = head?.length ?? 0;
    const at = start + logical - (head?.dropped ?? 0);
    if (at >= start) return { file: next, pos: at, missed: 0 };
    return { file: next, pos: start, missed: start - at };
  } catch (err) {
    next.close();
    throw err;
  }
}

/** Options for {@linkcode startCappedLog}. */
export interface CappedLogOptions {
  /** The cap in bytes (checked with {@linkcode checkLogMax}). */
  max: number;
}

/** How a capped log's copying ended. */
export interface CappedLogEnd {
  /** Bytes of output received from the pipe. */
  received: number;
  /** Bytes of output dropped from the log so far, by the cap. */
  dropped: number;
  /**
   * Whether reading was stopped because a process still held the output
   * open after the linger.
   */
  cutOff: boolean;
  /** Bytes that could not be written (the disk refused them). */
  lost: number;
  /** The first write error, if any. */
  error?: unknown;
}

/** A capped log being written from a pipe. */
export interface CappedLog {
  /**
   * Waits until everything the worker wrote is in the log: until every
   * process holding the pipe has closed it, or `linger` ms after this is
   * called (stop reading then), whichever is first. Call it once the worker
   * has exited.
   */
  finish(options?: { linger?: number }): Promise<CappedLogEnd>;
}

/** The most output held in memory before reading waits for the disk. */
const MAX_PENDING = 4 * 1024 * 1024;
const COPY_CHUNK = 1024 * 1024;

/**
 * Starts copying `source` (the worker's stdout and stderr, one pipe) to the
 * log at `logPath`, keeping the log at most `max` bytes: when the next write
 * would pass it, the log is rewritten as a header line (how many bytes were
 * dropped) and its newest output, about half of `max` in all, into a temp
 * file beside it that is renamed over it, so a reader never sees a half
 * file. Bytes are copied exactly and in order, the newest never dropped.
 * An existing log is appended to, its header (if any) counted on.
 *
 * Requires `--allow-read` and `--allow-write` for the log's directory.
 *
 * @param logPath The log.
 * @param source The bytes to write.
 * @param options The cap.
 * @returns The log, to {@linkcode CappedLog.finish} when the worker is gone.
 * @throws {RangeError} If the cap is out of range.
 */
export function startCappedLog(
  logPath: string,
  source: ReadableStream<Uint8Array>,
  options: CappedLogOptions,
): CappedLog {
  const max = checkLogMax(options.max);
  const writer = new Writer(logPath, max);
  const reader = source.getReader();
  let received = 0;
  let cutOff = false;
  const reading = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value.length;
        await writer.push(value);
      }
    } catch {
      // Reading stopped (the linger's cancel); what came is written below.
    }
  })();
  return {
    async finish({ linger = DEFAULT_LINGER } = {}) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const lingered = new Promise<boolean>((res) => {
        timer = setTimeout(() => res(true), linger);
      });
      const stuck = await Promise.race([reading.then(() => false), lingered]);
      clearTimeout(timer);
      if (stuck) {
        cutOff = true;
        await reader.cancel().catch(() => {});
      }
      await reading;
      await writer.flush();
      writer.close();
      return {
        received,
        dropped: writer.dropped,
        cutOff,
        lost: writer.lost,
        ...(writer.error === undefined ? {} : { error: writer.error }),
      };
    },
  };
}

/**
 * The writing side: appends what it is given, batching what comes while a
 * write is under way into one write, and swaps the log when it would pass
 * the cap.
 */
class Writer {
  readonly #path: string;
  readonly #max: number;
  #out: Deno.FsFile | undefined;
  #size = 0;
  #headerLength = 0;
  dropped = 0;
  lost = 0;
  error: unknown;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #writing: Promise<void> | undefined;

  constructor(path: string, max: number) {
    this.#path = path;
    this.#max = max;
  }

  /** Queues `bytes`; waits only when too much is queued already. */
  async push(bytes: Uint8Array): Promise<void> {
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    this.#writing ??= this.#drain();
    if (this.#pendingBytes >= MAX_PENDING) await this.#writing;
  }

  /** Waits until everything queued is written. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  close(): void {
    this.#out?.close();
    this.#out = undefined;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = concat(this.#pending, this.#pendingBytes);
        this.#pending = [];
        this.#pendingBytes = 0;
        try {
          await this.#write(batch);
        } catch (err) {
          // A full disk, say: the bytes are lost, but reading goes on, or
          // the worker would block on a full pipe for ever.
          this.lost += batch.length;
          this.error ??= err;
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  async #open(): Promise<Deno.FsFile> {
    if (this.#out !== undefined) return this.#out;
    const out = await Deno.open(this.#path, {
      read: true,
      append: true,
      create: true,
    });
    try {
      this.#size = (await out.stat()).size;
      const head = await headerOf(out);
      this.dropped = head?.dropped ?? 0;
      this.#headerLength = head?.length ?? 0;
    } catch (err) {
      out.close();
      throw err;
    }
    return this.#out = out;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    const out = await this.#open();
    if (this.#size + bytes.length <= this.#max) {
      await writeAll(out, bytes);
      this.#size += bytes.length;
      return;
    }
    await this.#swap(out, bytes);
  }

  /**
   * Rewrites the log as a header and the newest output (that of the file,
   * then `bytes`), about half the cap in all, and renames it over the log.
   */
  async #swap(out: Deno.FsFile, bytes: Uint8Array): Promise<void> {
    const data = this.#size - this.#headerLength;
    const end = this.dropped + data + bytes.length;
    // The header is measured with the largest count it could hold, so the
    // one written is never longer.
    const room = Math.floor(this.#max / 2) -
      logHeader(end, this.#max).length;
    const keep = Math.max(1, room);
    const dropped = end - keep;
    const header = new TextEncoder().encode(logHeader(dropped, this.#max));
    const dir = this.#path.slice(0, this.#path.lastIndexOf("/") + 1);
    const base = this.#path.slice(this.#path.lastIndexOf("/") + 1);
    const temp = `${dir}.${base}.cap.tmp`;
    await Deno.remove(temp).catch(() => {});
    // Appending, as the log was: the copy below seeks to read.
    const next = await Deno.open(temp, {
      read: true,
      append: true,
      createNew: true,
    });
    try {
      await writeAll(next, header);
      let size = header.length;
      const fromFile = Math.max(0, keep - bytes.length);
      if (fromFile > 0) {
        let at = this.#headerLength + data - fromFile;
        const buf = new Uint8Array(Math.min(COPY_CHUNK, fromFile));
        let left = fromFile;
        while (left > 0) {
          const n = await readAt(
            out,
            at,
            buf.subarray(0, Math.min(left, buf.length)),
          );
          if (n === 0) throw new Error(`The log ${this.#path} was cut short`);
          await writeAll(next, buf.subarray(0, n));
          at += n;
          left -= n;
        }
        size += fromFile;
      }
      const tail = bytes.subarray(Math.max(0, bytes.length - keep));
      await writeAll(next, tail);
      size += tail.length;
      await Deno.rename(temp, this.#path);
      out.close();
      this.#out = next;
      this.#size = size;
      this.#headerLength = header.length;
      this.dropped = dropped;
    } catch (err) {
      next.close();
      await Deno.remove(temp).catch(() => {});
      throw err;
    }
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
}

/** Fills `buf` from `offset` unless the file ends first; returns the count. */
async function readAt(
  file: Deno.FsFile,
  offset: number,
  buf: Uint8Array,
): Promise<number> {
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < buf.length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got;
}
