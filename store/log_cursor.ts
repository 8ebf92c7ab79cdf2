// Reading a job's log on from where the reader is, across the log cap's
// rotations (log_files.ts says how a rotation goes): each byte kept is read
// once and in order; what the bytes cannot say (a gap, someone else's
// truncation) is told once through one callback, never written into them.

import {
  advance,
  bytesAt,
  holds,
  linesStart,
  type LogEvent,
  lookAt,
  type Opened,
  openLog,
  openRegular,
  rotatedLogPath,
  same,
  type Samples,
  samplesAt,
  START,
  streamOf,
} from "./log_files.ts";

const CHUNK = 64 * 1024;

/** Options for {@linkcode LogCursor.open}. */
export interface CursorOptions {
  /** Begin this many lines before the end; left out, at the very start. */
  lines?: number;
  /** Told what the bytes cannot say. */
  onEvent?: (event: LogEvent) => void;
}

/**
 * A reader of a job's log that reads on from where it is, across the log
 * cap's rotations: each byte kept is read once and in order; a gap (output
 * dropped before it was read) and someone else's truncation are told once
 * through `onEvent`. It reads; waking it when the log changes is the
 * caller's (followLog() does it with the job's watch).
 */
export class LogCursor {
  readonly #path: string;
  readonly #oldPath: string;
  readonly #onEvent: (event: LogEvent) => void;
  readonly #log: Deno.FsFile;
  /** Where this reader is in the generation it reads. */
  #at: Samples = START;
  /**
   * The `<id>.log.1` last taken into account. Held open, so that its inode
   * number cannot go to a later rotation's file and make that look known.
   */
  #old: Opened | undefined;
  /** While `#old` is read: the generation is there, not in `<id>.log`. */
  #inOld = false;
  /** `<id>.log` still holds the generation copied into `#old`. */
  #pending = false;
  #ignored = false;

  private constructor(path: string, log: Deno.FsFile, options: CursorOptions) {
    this.#path = path;
    this.#oldPath = rotatedLogPath(path);
    this.#log = log;
    this.#onEvent = options.onEvent ?? (() => {});
  }

  /**
   * Opens a job's log for reading, at its start (`<id>.log.1`, if any) or
   * `options.lines` lines before its end.
   *
   * @throws {Deno.errors.NotFound} If there is no log.
   * @throws {Error} If the log is not a regular file.
   */
  static async open(path: string, options: CursorOptions): Promise<LogCursor> {
    const log = await openLog(path);
    const cursor = new LogCursor(path, log.file, options);
    try {
      const old = await cursor.#openOld();
      if (options.lines === undefined) {
        // The first read takes `<id>.log.1`, as a rotation's copy.
        if (old !== undefined) cursor.#say("rotated");
        old?.file.close();
        return cursor;
      }
      const { segments, pending } = await streamOf(log, old);
      const start = await linesStart(segments, options.lines, Infinity);
      const file = segments[start.segment].file;
      const at = await samplesAt(file, start.offset);
      if (file === old?.file) {
        cursor.#take(old, at);
      } else {
        if (old !== undefined) cursor.#adopt(old);
        cursor.#at = at;
        cursor.#pending = pending;
      }
      return cursor;
    } catch (err) {
      cursor.close();
      throw err;
    }
  }

  /**
   * Reads from where the cursor is to the log's current end.
   * @param signal Stops the reading.
   * @returns The bytes, in chunks (each chunk is the caller's to keep).
   */
  async *read(signal?: AbortSignal): AsyncGenerator<Uint8Array, void, void> {
    for (;;) {
      if (signal?.aborted) return;
      const chunk = await this.#next();
      if (chunk === undefined) return;
      yield chunk;
    }
  }

  /** Closes the files. */
  close(): void {
    this.#log.close();
    this.#old?.file.close();
    this.#old = undefined;
  }

  async #next(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.#inOld) {
        const chunk = await this.#fromOld();
        if (chunk !== undefined) return chunk;
        continue;
      }
      const size = (await this.#log.stat()).size;
      if (this.#at.pos === 0) {
        // Nothing of this generation read yet: a rotation since took it
        // (or a later one) into `<id>.log.1`.
        const old = await this.#newOld();
        if (old !== undefined) {
          this.#take(old, START);
          continue;
        }
      }
      if (size >= this.#at.pos) {
        // Read with the bytes before the position, which must be the ones
        // read there: else the log is another generation (a rotation can
        // leave it as long as the last one was).
        const { pos, tail } = this.#at;
        const end = Math.min(size, pos + CHUNK);
        const buf = await bytesAt(
          this.#log,
          pos - tail.length,
          end - pos + tail.length,
        );
        if (
          buf.length >= tail.length && same(buf.subarray(0, tail.length), tail)
        ) {
          if (buf.length === tail.length) return undefined;
          const chunk = buf.subarray(tail.length);
          this.#at = advance(this.#at, chunk);
          return chunk;
        }
      }
      await this.#left();
    }
  }

  /** The next chunk of `#old`; at its end, back to `<id>.log`. */
  async #fromOld(): Promise<Uint8Array | undefined> {
    const old = this.#old!;
    const { pos } = this.#at;
    if (pos < old.size) {
      const chunk = await bytesAt(
        old.file,
        pos,
        Math.min(CHUNK, old.size - pos),
      );
      if (chunk.length > 0) {
        this.#at = advance(this.#at, chunk);
        return chunk;
      }
    }
    this.#inOld = false;
    // Between a rotation's rename and its truncate, `<id>.log` still holds
    // the generation, maybe with more after what was copied.
    const size = (await this.#log.stat()).size;
    this.#pending = this.#at.pos > 0 && await holds(this.#log, size, this.#at);
    if (!this.#pending) this.#at = START;
    return undefined;
  }

  /**
   * The generation read is no longer in `<id>.log`: rotated (go on in its
   * copy, or say a gap) or truncated by someone else (say so, and go on
   * from the start).
   */
  async #left(): Promise<void> {
    const at = this.#at;
    const old = await this.#newOld();
    if (old !== undefined) {
      // A copy shorter than the place (the worker wrote between the last
      // copy and the truncate) is compared as far as it goes.
      const head = at.head.subarray(0, Math.min(at.head.length, old.size));
      const ours = same(await bytesAt(old.file, 0, head.length), head) &&
        (old.size < at.pos ||
          same(
            await bytesAt(old.file, at.pos - at.tail.length, at.tail.length),
            at.tail,
          ));
      if (ours && old.size >= at.pos) return this.#take(old, at);
      this.#say("dropped");
      if (ours) {
        // Read past the copy: what the worker wrote between the last
        // copy and the truncate may be lost.
        this.#adopt(old);
        this.#at = START;
      } else {
        this.#take(old, START);
      }
      return;
    }
    if (!this.#pending) this.#say("truncated");
    else if (at.pos > this.#old!.size) this.#say("dropped");
    this.#pending = false;
    this.#at = START;
  }

  /** `<id>.log.1` if it is not the one last taken into account. */
  async #newOld(): Promise<Opened | undefined> {
    const { id, kind } = await lookAt(this.#oldPath);
    if (kind !== undefined) this.#ignore();
    if (id === undefined || id === this.#old?.id) return undefined;
    return await this.#openOld();
  }

  /** `<id>.log.1` if it is a regular file; anything else is ignored. */
  async #openOld(): Promise<Opened | undefined> {
    const found = await openRegular(this.#oldPath);
    if (typeof found !== "string") return found;
    this.#ignore();
    return undefined;
  }

  /** Reads `old` next, from `at`. */
  #take(old: Opened, at: Samples): void {
    this.#adopt(old);
    this.#at = at;
    this.#inOld = true;
    this.#pending = false;
  }

  #adopt(old: Opened): void {
    if (this.#old !== old) this.#old?.file.close();
    this.#old = old;
  }

  #ignore(): void {
    if (this.#ignored) return;
    this.#ignored = true;
    this.#onEvent({ kind: "ignored", path: this.#oldPath });
  }

  #say(kind: "rotated" | "dropped" | "truncated"): void {
    this.#onEvent({ kind, path: this.#path });
  }
}
