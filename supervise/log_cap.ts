// The log cap (`--log-max SIZE`, SPEC-logcap.md), writer side, for the
// Deno supervisor and for the finisher while an end hook writes (the perl
// shim has its own, to the same rule). The worker writes its log itself (no
// JS in the data path); this watches the size and at half the cap copies
// the newest half to `<log>.1` and truncates the log (copytruncate).
//
// The cap is soft: a writer passes it by what it writes between two looks,
// and what it writes between a rotation's last copy and its truncate is
// lost. bench/log_cap.ts measures both at disk speed.

import { checkLogMax } from "../store/job_options.ts";
import { after, sleep } from "../util/timer.ts";

/** The shortest wait between two looks at the log's size, in ms. */
const MIN_INTERVAL = 1;
/** The longest wait between two looks, while the log does not grow. */
const MAX_INTERVAL = 100;
/** Rounds that chase a growing log: a faster writer is never caught up. */
const COPY_ROUNDS = 16;
/** What is copied without a turn of the event loop. */
const SLICE = 8 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** A job's log cap, running in its supervisor. */
export interface LogCap extends AsyncDisposable {
  /**
   * One last look, after a worker (or the end hook) has exited and before
   * its end is recorded, so a reader who sees the end finds the log under
   * its cap.
   */
  workerEnded(): Promise<void>;
}

/**
 * Starts keeping the log at `path` under about `max` bytes: a watch that
 * rotates it to `<path>.1` each time it reaches `floor(max / 2)` bytes.
 * Nothing is written into the log, nor into the job's record.
 *
 * Requires `--allow-read` and `--allow-write` for the log's directory.
 *
 * @param path The log (absolute).
 * @param max The cap in bytes (see checkLogMax).
 * @throws {RangeError} If the cap is out of range.
 */
export function startLogCap(path: string, max: number): Promise<LogCap> {
  try {
    checkLogMax(max);
  } catch (err) {
    return Promise.reject(err);
  }
  return Promise.resolve(new Rotator(path, Math.floor(max / 2)));
}

class Rotator implements LogCap {
  readonly #path: string;
  readonly #rotateAt: number;
  #busy: Promise<void> | undefined;
  #cancel: (() => void) | undefined;
  #stopped = false;
  #wait = MIN_INTERVAL;
  #last = { size: 0, at: 0 };

  constructor(path: string, rotateAt: number) {
    this.#path = path;
    this.#rotateAt = rotateAt;
    this.#schedule(0);
  }

  async workerEnded(): Promise<void> {
    await this.#lookNow();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopped = true;
    this.#cancel?.();
    await this.#lookNow();
  }

  /** Waits for a look under way, then looks (and rotates if due). */
  async #lookNow(): Promise<void> {
    while (this.#busy !== undefined) await this.#busy;
    this.#busy = this.#look().finally(() => this.#busy = undefined);
    await this.#busy;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#cancel = after(ms, () => {
      this.#cancel = undefined;
      if (this.#busy !== undefined || this.#stopped) return;
      this.#busy = this.#look().finally(() => {
        this.#busy = undefined;
        this.#schedule(this.#wait);
      });
    });
  }

  /**
   * Looks at the log's size, rotates it if due, and sets the next wait:
   * half the time its pace needs to reach the mark, or twice the last wait
   * while it does not grow.
   */
  async #look(): Promise<void> {
    let size: number;
    try {
      size = (await Deno.lstat(this.#path)).size;
    } catch {
      // Not there (yet, or any more): nothing to keep under its cap.
      size = 0;
    }
    const now = performance.now();
    const grew = size - this.#last.size;
    const rate = this.#last.at > 0 && grew > 0
      ? grew / (now - this.#last.at)
      : 0;
    if (size >= this.#rotateAt) {
      try {
        size = await rotate(this.#path, 2 * this.#rotateAt);
      } catch {
        // Tried again at the next look: a full disk may have room by then.
      }
    }
    this.#last = { size, at: performance.now() };
    const wait = rate > 0
      ? Math.max(0, this.#rotateAt - size) / rate / 2
      : this.#wait * 2;
    this.#wait = Math.min(MAX_INTERVAL, Math.max(MIN_INTERVAL, wait));
  }
}

/**
 * Rotates the log: copies it into a hidden temp file beside it (which a
 * clean sweeps if this dies half-way), chasing appends for a few rounds;
 * then with no await between them (no reader's look or other rotation
 * comes between) renames the copy over `<path>.1`, copies what came
 * meanwhile and truncates the log. The worker appends (O_APPEND), so its
 * next write lands at the new end.
 *
 * @returns The log's size after the rotation (0).
 */
async function rotate(path: string, max: number): Promise<number> {
  // Only the regular file that is the log: a record's log path can be
  // forged where the store is shared.
  const named = await Deno.lstat(path);
  if (!named.isFile) return named.size;
  using log = await Deno.open(path, { read: true, write: true });
  const opened = await log.stat();
  // Swapped since, or removed with its job: no `.1` is made for it.
  if (opened.ino !== named.ino || opened.dev !== named.dev) return 0;
  if (opened.nlink === 0) return 0;
  const slash = path.lastIndexOf("/");
  const temp = `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.1.${
    crypto.randomUUID().slice(0, 8)
  }.tmp`;
  using copy = await Deno.open(temp, {
    write: true,
    createNew: true,
    mode: 0o600,
  });
  try {
    const buf = new Uint8Array(CHUNK);
    // Only the newest half of the cap, from the start of a line.
    const start = lineStart(log, opened.size - max / 2, buf);
    let copied = start;
    // Synchronous (Deno's thread pool is slower than a fast writer), in
    // slices with a turn of the event loop between, so signals and timers
    // are not held up; never past `max` copied (`.1` alone would pass it).
    for (let round = 0; round < COPY_ROUNDS; round++) {
      const end = (await log.stat()).size;
      if (end - copied <= SLICE || (round > 0 && copied - start >= max)) {
        break;
      }
      while (copied < Math.min(end, start + max)) {
        const to = Math.min(end, start + max, copied + SLICE);
        copied = copySync(log, copy, copied, to, buf);
        await sleep(0);
      }
    }
    Deno.renameSync(temp, `${path}.1`);
    // No turn of the event loop from here to the truncate.
    for (let round = 0; round < COPY_ROUNDS && copied - start < max; round++) {
      const end = Math.min(log.statSync().size, start + max);
      if (end <= copied) break;
      copied = copySync(log, copy, copied, end, buf);
    }
    log.truncateSync(0);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  return 0;
}

/** Where the first line at or after `at` starts (0 for `at` <= 0). */
function lineStart(log: Deno.FsFile, at: number, buf: Uint8Array): number {
  if (at <= 0) return 0;
  log.seekSync(at - 1, Deno.SeekMode.Start);
  const n = log.readSync(buf) ?? 0;
  const newline = buf.subarray(0, n).indexOf(0x0a);
  return newline < 0 ? at : at + newline;
}

/**
 * Copies `from`'s bytes `[at, end)` onto `to`; returns `end`.
 *
 * @throws If `from` ends first: someone else cut the log short.
 */
function copySync(
  from: Deno.FsFile,
  to: Deno.FsFile,
  at: number,
  end: number,
  buf: Uint8Array,
): number {
  from.seekSync(at, Deno.SeekMode.Start);
  while (at < end) {
    const n = from.readSync(buf.subarray(0, Math.min(buf.length, end - at)));
    if (n === null) {
      throw new Error("The log was cut short while it was copied");
    }
    let written = 0;
    while (written < n) written += to.writeSync(buf.subarray(written, n));
    at += n;
  }
  return at;
}
