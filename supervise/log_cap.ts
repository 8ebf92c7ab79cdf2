// The log cap (`--log-max SIZE`): the job's log is kept under SIZE by
// dropping its oldest part, and a header at its top says how many bytes
// were dropped. Two ways, chosen once when the job starts:
//
// - in place (Linux, ext4 or xfs, util-linux's fallocate): the worker
//   writes the log itself through the usual shell redirect (O_APPEND; the
//   kernel writes, nothing passes through JavaScript), and the supervisor
//   watches its size and cuts whole blocks off its front with
//   FALLOC_FL_COLLAPSE_RANGE, which the kernel does atomically against
//   appending writers. The log then starts with one block that holds the
//   header line, padded with spaces. The cap is soft: the log can pass it
//   by what the worker writes between two looks at its size.
// - through a pipe (anywhere else: tmpfs, btrfs, macOS, or a cap under
//   eight blocks): the worker's output comes through a pipe that the
//   supervisor copies to the log, and when the log would pass the cap it is
//   rewritten as a header line and its newest half and renamed over the
//   old one. Exact, but slower for a fast writer.
//
// A reader that follows the log (logs.ts) moves its position by the change
// in the header's count, or across the rename, and takes a shared lock on
// the log while it does: the in-place trim holds the exclusive one.

import { checkLogMax } from "../store/job_options.ts";
import { appendLogNote } from "./log_note.ts";

/** Trims that fail in a row before the in-place cap stops trying. */
const MAX_TRIM_FAILURES = 3;

/**
 * How long, after the worker has exited, the log waits for the other
 * processes that share its output (a grandchild left running) to close it:
 * 2 s. After that it stops reading, and their next write fails (SIGPIPE).
 */
export const DEFAULT_LINGER = 2_000;

/** How a capped log is kept: trimmed in place, or copied from a pipe. */
export type LogCapMode = "in-place" | "pipe";

/**
 * The environment variable that forces a mode (`pipe` or `in-place`) for
 * the jobs a supervisor starts, when {@linkcode LogCapOptions.mode} is not
 * given: for tests, and for a file system where the probe is wrong.
 */
export const LOG_CAP_MODE_ENV = "EPACK_DETACH_LOG_CAP";

const HEADER_PREFIX = "[@epack/detach] ";
const HEADER =
  /^\[@epack\/detach\] (\d+) earlier bytes were dropped to keep this log under (\d+) bytes/;
/** The longest header line a reader looks for (a padded block at most). */
const MAX_HEADER = 1024 * 1024;

/**
 * The header line of a log whose oldest `dropped` bytes were dropped,
 * newline included, not padded.
 */
export function logHeader(
  dropped: number,
  max: number,
  mode: LogCapMode,
): string {
  const how = mode === "in-place" ? "trimmed in place" : "rewritten";
  return `${HEADER_PREFIX}${dropped} earlier bytes were dropped to keep this log under ${max} bytes (${how}); the next line may start mid-line\n`;
}

/** The header as one block of `size` bytes: the line padded with spaces. */
function headerBlock(dropped: number, max: number, size: number): Uint8Array {
  const line = logHeader(dropped, max, "in-place");
  const block = new Uint8Array(size).fill(0x20);
  new TextEncoder().encodeInto(line.slice(0, -1), block);
  block[size - 1] = 0x0a;
  return block;
}

/** What the header line at the top of a capped log says. */
export interface LogHeader {
  /** How many bytes of output were dropped before the first byte kept. */
  dropped: number;
  /**
   * The header's length in bytes, padding and newline included; the output
   * kept starts there.
   */
  length: number;
}

/**
 * Reads the header line at the start of `bytes` (a log's first bytes, up
 * to the header's newline), if the log has one.
 *
 * @param bytes The start of the log.
 * @returns What the header says, or `undefined` if there is none (or the
 * bytes end before its newline).
 */
export function readLogHeader(bytes: Uint8Array): LogHeader | undefined {
  // The header is ASCII: decoding byte by byte keeps it exact.
  const head = String.fromCharCode(...bytes.subarray(0, 200));
  const m = HEADER.exec(head);
  if (m === null) return undefined;
  const end = bytes.indexOf(0x0a, m[0].length);
  if (end < 0) return undefined;
  return { dropped: Number(m[1]), length: end + 1 };
}

/**
 * Reads the header of the log open as `file`, if it has one, without
 * moving what other reads of `file` see (it seeks, so callers seek after).
 *
 * @param file The log, open for reading.
 * @returns What the header says, or `undefined`.
 */
export async function headerOf(
  file: Deno.FsFile,
): Promise<LogHeader | undefined> {
  let buf = new Uint8Array(256);
  let n = await readAt(file, 0, buf);
  if (!String.fromCharCode(...buf.subarray(0, 16)).startsWith(HEADER_PREFIX)) {
    return undefined;
  }
  // A padded header is one file-system block long: read on to its newline.
  while (buf.subarray(0, n).indexOf(0x0a) < 0 && n === buf.length) {
    if (buf.length >= MAX_HEADER) return undefined;
    const more = new Uint8Array(buf.length * 4);
    more.set(buf);
    n += await readAt(file, n, more.subarray(n));
    buf = more;
  }
  return readLogHeader(buf.subarray(0, n));
}

/**
 * For a reader following a capped log by file descriptor: whether the log
 * was swapped (rewritten and renamed over, by the pipe mode) since `file`
 * was opened, and if so, the new file and where in it to go on so that no
 * byte is read twice. Call it after reading `file` to its end: a
 * swapped-out file no longer grows, so what it holds is then all read.
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
    const head = await headerOf(next);
    const moved = movePosition(pos, old, head);
    return { file: next, ...moved };
  } catch (err) {
    next.close();
    throw err;
  }
}

/**
 * Where a reader at `pos` of a log whose header was `before` goes on once
 * the header is `after` (the log trimmed, in place or by a swap): the same
 * byte of output, or the first one kept if that byte was dropped, with how
 * many were dropped before they could be read.
 *
 * @param pos The position in the log as it was.
 * @param before The header then.
 * @param after The header now.
 * @returns The position now, and the bytes missed.
 */
export function movePosition(
  pos: number,
  before: LogHeader | undefined,
  after: LogHeader | undefined,
): { pos: number; missed: number } {
  const beforeLength = before?.length ?? 0;
  // A reader inside the header has read no output yet.
  const logical = (before?.dropped ?? 0) + Math.max(0, pos - beforeLength);
  const start = after?.length ?? 0;
  const at = start + logical - (after?.dropped ?? 0);
  if (at >= start) return { pos: at, missed: 0 };
  return { pos: start, missed: start - at };
}

/** Options for {@linkcode startLogCap}. */
export interface LogCapOptions {
  /**
   * The mode; by default the environment's {@linkcode LOG_CAP_MODE_ENV},
   * else in place where the log's file system can, else the pipe.
   */
  mode?: LogCapMode;
  /**
   * The fallocate program (util-linux).
   * @default {"/usr/bin/fallocate"}
   */
  fallocate?: string;
  /**
   * The longest wait between two looks at the log's size, in ms, while it
   * does not grow; it shortens to {@linkcode LogCapOptions.minInterval}
   * while it grows fast.
   * @default {250}
   */
  maxInterval?: number;
  /**
   * The shortest wait between two looks at the log's size, in ms.
   * @default {10}
   */
  minInterval?: number;
}

/** What a log cap did, once finished. */
export interface LogCapEnd {
  /** How the log was kept. */
  mode: LogCapMode;
  /** Bytes of output dropped from the log, by this cap and earlier ones. */
  dropped: number;
  /** How many times the log was trimmed (in place) or swapped (pipe). */
  trims: number;
  /** The first error the cap met (the log may then be over its cap). */
  error?: unknown;
}

/**
 * A job's log cap, for the supervisor: how to start each worker, and the
 * calls around it.
 */
export interface LogCap {
  /** How the log is kept. */
  readonly mode: LogCapMode;
  /** The cap in bytes. */
  readonly max: number;
  /**
   * The script and `$0` for `sh -c SCRIPT $0 ARGV...` that runs the worker
   * with its output (stdout and stderr, in order) where the cap wants it:
   * appended to the log (in place), or to the pipe on stdout.
   */
  readonly shell: readonly [script: string, arg0: string];
  /** The worker's `stdout` for `Deno.Command`. */
  readonly stdout: "null" | "piped";
  /** Call with each worker as soon as it is spawned. */
  attach(child: Deno.ChildProcess): void;
  /**
   * Call when a worker has exited, before recording its end: the pipe's
   * copy is waited for (a grandchild holding it, `linger` ms at most), and
   * the log is trimmed once more.
   */
  workerEnded(options?: { linger?: number }): Promise<void>;
  /** Stops watching the log and says what the cap did. */
  finish(): Promise<LogCapEnd>;
  /** The same as {@linkcode LogCap.finish}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const REDIRECT = 'exec "$@" >>"$0" 2>&1';

/**
 * Starts keeping the log at `logPath` under `max` bytes, for one job (every
 * attempt of it). It decides the mode once: in place where the log's
 * directory holds a file system that can collapse a file's blocks (tried on
 * a scratch file there), the block size allows it (a cap of at least eight
 * blocks) and util-linux's fallocate is installed; the pipe otherwise.
 *
 * Requires `--allow-read` and `--allow-write` for the log's directory, and
 * `--allow-run` for fallocate (without it, the pipe is used).
 *
 * @param logPath The log (absolute).
 * @param max The cap in bytes (see checkLogMax).
 * @param options The mode, and the watch's pace.
 * @returns The cap, for the worker's start and end.
 * @throws {RangeError} If the cap is out of range.
 */
export async function startLogCap(
  logPath: string,
  max: number,
  options: LogCapOptions = {},
): Promise<LogCap> {
  checkLogMax(max);
  const fallocate = options.fallocate ?? "/usr/bin/fallocate";
  let mode = options.mode ?? envMode();
  let blockSize = 0;
  if (mode !== "pipe") {
    blockSize = await inPlaceBlockSize(logPath, max, fallocate);
    if (blockSize === 0) {
      if (mode === "in-place") {
        throw new Error(
          `The log ${logPath} cannot be trimmed in place under ${max} bytes`,
        );
      }
      mode = "pipe";
    }
  }
  if (mode === "pipe") return new PipeCap(logPath, max);
  const cap = new InPlaceCap(logPath, max, blockSize, fallocate, options);
  await cap.start();
  return cap;
}

function envMode(): LogCapMode | undefined {
  let value: string | undefined;
  try {
    value = Deno.env.get(LOG_CAP_MODE_ENV);
  } catch {
    return undefined;
  }
  return value === "pipe" || value === "in-place" ? value : undefined;
}

/**
 * The block size to trim the log by, or 0 if it cannot be trimmed in
 * place: tried on a scratch file in the log's directory (same file system),
 * with the fallocate the trims will use, so the answer is the one that
 * counts, for one spawn.
 */
async function inPlaceBlockSize(
  logPath: string,
  max: number,
  fallocate: string,
): Promise<number> {
  if (Deno.build.os !== "linux") return 0;
  const dir = logPath.slice(0, logPath.lastIndexOf("/")) || "/";
  let blockSize: number;
  try {
    blockSize = (await Deno.stat(dir)).blksize ?? 0;
  } catch {
    return 0;
  }
  if (blockSize <= 0 || max < 8 * blockSize) return 0;
  const scratch = `${dir}/.${
    logPath.slice(logPath.lastIndexOf("/") + 1)
  }.cap-probe`;
  try {
    await Deno.writeFile(scratch, new Uint8Array(3 * blockSize));
    const ok = await collapse(fallocate, scratch, blockSize, blockSize);
    if (!ok || (await Deno.stat(scratch)).size !== 2 * blockSize) return 0;
    return blockSize;
  } catch {
    return 0;
  } finally {
    await Deno.remove(scratch).catch(() => {});
  }
}

/** Cuts `length` bytes at `offset` out of the file; false if it could not. */
async function collapse(
  fallocate: string,
  path: string,
  offset: number,
  length: number,
): Promise<boolean> {
  try {
    const out = await new Deno.Command(fallocate, {
      args: [
        "--collapse-range",
        "-o",
        String(offset),
        "-l",
        String(length),
        path,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    // Not installed, or no --allow-run for it.
    return false;
  }
}

/**
 * The in-place cap: a watch on the log's size that trims its front when it
 * passes three quarters of the cap, keeping about half.
 */
class InPlaceCap implements LogCap {
  readonly mode = "in-place";
  readonly max: number;
  readonly shell: readonly [string, string];
  readonly stdout = "null";
  readonly #path: string;
  readonly #block: number;
  readonly #fallocate: string;
  readonly #minInterval: number;
  readonly #maxInterval: number;
  #file: Deno.FsFile | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #trimming: Promise<void> | undefined;
  #stopped = false;
  #last = { size: 0, at: 0 };
  #failures = 0;
  dropped = 0;
  trims = 0;
  error: unknown;

  constructor(
    path: string,
    max: number,
    block: number,
    fallocate: string,
    options: LogCapOptions,
  ) {
    this.#path = path;
    this.max = max;
    this.#block = block;
    this.#fallocate = fallocate;
    this.#minInterval = options.minInterval ?? 10;
    this.#maxInterval = options.maxInterval ?? 250;
    this.shell = [REDIRECT, path];
  }

  async start(): Promise<void> {
    // Read and write, never O_APPEND: the header is written at offset 0.
    // Created if missing, so the trims and the worker share one inode.
    this.#file = await Deno.open(this.#path, {
      read: true,
      write: true,
      create: true,
    });
    this.dropped = (await headerOf(this.#file))?.dropped ?? 0;
    this.#schedule(0);
  }

  attach(_child: Deno.ChildProcess): void {
    // The worker writes the log itself.
  }

  async workerEnded(): Promise<void> {
    await this.#trimNow();
  }

  async finish(): Promise<LogCapEnd> {
    if (!this.#stopped) {
      this.#stopped = true;
      clearTimeout(this.#timer);
      await this.#trimNow();
      this.#file?.close();
      this.#file = undefined;
    }
    return {
      mode: this.mode,
      dropped: this.dropped,
      trims: this.trims,
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.finish();
  }

  /** Waits for a trim under way, then trims if the log is over its mark. */
  async #trimNow(): Promise<void> {
    while (this.#trimming !== undefined) await this.#trimming;
    if (this.#file === undefined) return;
    this.#trimming = this.#check().finally(() => this.#trimming = undefined);
    await this.#trimming;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      if (this.#trimming !== undefined || this.#stopped) return;
      this.#trimming = this.#check()
        .catch(() => {})
        .finally(() => {
          this.#trimming = undefined;
          this.#schedule(this.#next());
        });
    }, ms);
  }

  /**
   * The next look: soon while the log grows fast (before it can reach the
   * mark at its pace), and while it does not grow, twice as long as the
   * last wait each time, up to the longest: a job's start, and a burst after
   * a quiet spell, are seen within a short wait.
   */
  #next(): number {
    const { size, rate } = this.#pace;
    let wait: number;
    if (rate <= 0) wait = this.#wait * 2;
    else wait = Math.max(0, this.#mark - size) / rate / 2;
    wait = Math.min(this.#maxInterval, Math.max(this.#minInterval, wait));
    this.#wait = wait;
    return wait;
  }

  #wait = 0;
  #pace = { size: 0, rate: 0 };

  /** Trimmed when the log passes three quarters of the cap. */
  get #mark(): number {
    return Math.floor(this.max * 3 / 4);
  }

  async #check(): Promise<void> {
    const file = this.#file;
    if (file === undefined) return;
    const size = (await file.stat()).size;
    const now = performance.now();
    const dt = now - this.#last.at;
    this.#pace = {
      size,
      rate: this.#last.at > 0 && dt > 0
        ? Math.max(0, size - this.#last.size) / dt
        : 0,
    };
    this.#last = { size, at: now };
    if (size <= this.#mark || this.#failures >= MAX_TRIM_FAILURES) return;
    try {
      await this.#trim(file);
      this.#failures = 0;
    } catch (err) {
      this.#failures++;
      this.error ??= err;
      if (this.#failures === MAX_TRIM_FAILURES) {
        // Said where whoever reads the log will see it: from here on the
        // log grows past its cap.
        await appendLogNote(
          this.#path,
          `the log cap stopped: ${MAX_TRIM_FAILURES} trims in a row failed (${
            String(err)
          }); the log is no longer kept under ${this.max} bytes`,
        );
      }
    }
    // The log's size after the trim is where growth is measured from.
    this.#last = { size: (await file.stat()).size, at: performance.now() };
  }

  /**
   * One trim, under the log's exclusive lock (readers that follow take the
   * shared one): the size read here bounds what is cut, so bytes appended
   * meanwhile (the worker's, a retry note, a hook's) are never cut unseen.
   */
  async #trim(file: Deno.FsFile): Promise<void> {
    const block = this.#block;
    await file.lock(true);
    try {
      const size = (await file.stat()).size;
      const head = await headerOf(file);
      const headLength = head?.length ?? 0;
      // Output kept after the header block: about half the cap in all.
      const keep = Math.floor(this.max / 2) - block;
      const cut = Math.floor((size - block - keep) / block) * block;
      if (cut <= 0 || headLength > block + cut) return;
      const dropped = (head?.dropped ?? 0) + block + cut - headLength;
      if (!await collapse(this.#fallocate, this.#path, block, cut)) {
        throw new Error(
          `${this.#fallocate} --collapse-range failed on ${this.#path}`,
        );
      }
      // The first block now holds the header: on the first trim its bytes
      // of output are dropped too (counted above), later it held the
      // header already.
      const bytes = headerBlock(dropped, this.max, block);
      await file.seek(0, Deno.SeekMode.Start);
      let at = 0;
      while (at < bytes.length) at += await file.write(bytes.subarray(at));
      this.dropped = dropped;
      this.trims++;
    } finally {
      await file.unlock();
    }
  }
}

/** The pipe cap: one capped copy per worker. */
class PipeCap implements LogCap {
  readonly mode = "pipe";
  readonly max: number;
  readonly shell: readonly [string, string] = ['exec "$@" 2>&1', "sh"];
  readonly stdout = "piped";
  readonly #path: string;
  #log: CappedLog | undefined;
  dropped = 0;
  trims = 0;
  error: unknown;

  constructor(path: string, max: number) {
    this.#path = path;
    this.max = max;
  }

  attach(child: Deno.ChildProcess): void {
    this.#log = startCappedLog(this.#path, child.stdout, { max: this.max });
  }

  async workerEnded(options: { linger?: number } = {}): Promise<void> {
    const log = this.#log;
    this.#log = undefined;
    if (log === undefined) return;
    const end = await log.finish(options);
    this.dropped = end.dropped;
    this.trims += end.swaps;
    this.error ??= end.error;
  }

  async finish(): Promise<LogCapEnd> {
    await this.workerEnded();
    return {
      mode: this.mode,
      dropped: this.dropped,
      trims: this.trims,
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.finish();
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
  /** How many times the log was swapped for its newest half. */
  swaps: number;
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
        swaps: writer.swaps,
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
  swaps = 0;
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
      logHeader(end, this.#max, "pipe").length;
    const keep = Math.max(1, room);
    const dropped = end - keep;
    const header = new TextEncoder().encode(
      logHeader(dropped, this.#max, "pipe"),
    );
    const dir = this.#path.slice(0, this.#path.lastIndexOf("/") + 1);
    const base = this.#path.slice(this.#path.lastIndexOf("/") + 1);
    const temp = `${dir}.${base}.cap.tmp`;
    await Deno.remove(temp).catch(() => {});
    // The new log replaces the old one under its name, so it takes the old
    // one's permissions: a log made owner-only (its output may hold secrets)
    // must not become readable by others at its first swap.
    const mode = ((await out.stat()).mode ?? 0o600) & 0o777;
    // Appending, as the log was: the copy below seeks to read.
    const next = await Deno.open(temp, {
      read: true,
      append: true,
      createNew: true,
      mode,
    });
    try {
      // The mode given at creation is narrowed by the umask; a log the
      // umask would narrow (never widen) keeps its own permissions.
      await Deno.chmod(temp, mode);
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
      this.swaps++;
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

/**
 * Fills `buf` from `offset` unless the file ends first; returns the count.
 * Also the log readers' (logs.ts) one positioned read.
 */
export async function readAt(
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
