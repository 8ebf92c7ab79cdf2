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
  SAMPLE,
  type Samples,
  samplesAt,
  START,
  streamOf,
} from "./log_files.ts";

const CHUNK = 64 * 1024;
const EMPTY: Uint8Array = new Uint8Array(0);

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
 *
 * Where it is in a generation is known by samples (log_files.ts). One case
 * cannot be told apart: a generation of which nothing is known (not a byte
 * read, none seen ahead) when a new `<id>.log.1` comes, which holds either
 * that generation (one rotation since) or a later one (several: a gap). It
 * is then told as a gap that may be one. Reading a copy, the reader keeps
 * the first bytes `<id>.log` held when it took the copy, so a reader held
 * up there (a full pipe) still knows the generation that followed.
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
  /** The first bytes of the generation after `#old`, if seen. */
  #nextHead: Uint8Array = EMPTY;
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
      if (old !== undefined) cursor.#adopt(old);
      if (options.lines === undefined) {
        if (old !== undefined) {
          cursor.#say("rotated");
          await cursor.#take(old, START);
        }
        return cursor;
      }
      const { segments, pending } = await streamOf(log, old);
      const start = await linesStart(segments, options.lines, Infinity);
      const file = segments[start.segment].file;
      const at = await samplesAt(file, start.offset);
      if (file === old?.file) {
        await cursor.#take(old, at);
      } else {
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
      if (this.#at.pos === 0) {
        // Nothing of this generation read yet: a rotation since took it
        // (or a later one) into `<id>.log.1`.
        const old = await this.#newOld();
        if (old !== undefined) {
          await this.#switchTo(old);
          continue;
        }
      }
      const { pos, head, tail } = this.#at;
      const size = (await this.#log.stat()).size;
      if (size >= pos) {
        // Read with the bytes before the position, which must be the ones
        // read there (and the first bytes, if known ahead): else the log
        // is another generation, maybe exactly as long as the last.
        const end = Math.min(size, pos + CHUNK);
        const buf = await bytesAt(
          this.#log,
          pos - tail.length,
          end - pos + tail.length,
        );
        if (
          buf.length >= tail.length &&
          same(buf.subarray(0, tail.length), tail) &&
          (pos >= head.length ||
            same(await bytesAt(this.#log, 0, head.length), head))
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
    if (pos >= old.size) {
      // Between a rotation's rename and its truncate, `<id>.log` still
      // holds the generation (maybe with more after what was copied), and
      // the copy may still grow: read on in `<id>.log`. Once truncated,
      // the copy is whole.
      const size = (await this.#log.stat()).size;
      this.#pending = pos > 0 && await holds(this.#log, size, this.#at);
      if (!this.#pending) old.size = (await old.file.stat()).size;
    }
    if (!this.#pending && pos < old.size) {
      const chunk = await bytesAt(
        old.file,
        pos,
        Math.min(CHUNK, old.size - pos),
      );
      this.#at = advance(this.#at, chunk);
      return chunk;
    }
    this.#inOld = false;
    if (!this.#pending) this.#at = { ...START, head: this.#nextHead };
    return undefined;
  }

  /**
   * The generation read is no longer in `<id>.log`: rotated (go on in its
   * copy, or say a gap) or truncated by someone else (say so, and go on
   * from the start).
   */
  async #left(): Promise<void> {
    const old = await this.#newOld();
    if (old !== undefined) return await this.#switchTo(old);
    if (this.#pending) {
      // The truncate of the rotation whose copy was read: the copy has
      // grown since, to what `<id>.log` held then.
      this.#old!.size = (await this.#old!.file.stat()).size;
      return await this.#switchTo(this.#old!);
    }
    this.#say("truncated");
    this.#at = START;
  }

  /**
   * A new `<id>.log.1`: the copy of the generation read (go on there from
   * the same place), or of a later one (a gap: read it from its start).
   */
  async #switchTo(old: Opened): Promise<void> {
    const at = this.#at;
    // A copy shorter than the place (the worker wrote between the last
    // copy and the truncate) is compared as far as it goes.
    const head = at.head.subarray(0, Math.min(at.head.length, old.size));
    const ours = same(await bytesAt(old.file, 0, head.length), head) &&
      (old.size < at.pos ||
        same(
          await bytesAt(old.file, at.pos - at.tail.length, at.tail.length),
          at.tail,
        ));
    if (ours && old.size >= at.pos) {
      // Nothing known of the generation: the copy may be of a later one.
      if (at.head.length === 0) this.#say("dropped");
      return await this.#take(old, at);
    }
    // A rotation copies only the newest bytes (its first are not the
    // generation's): if the bytes before the place are in it, it goes on
    // from there, and nothing was dropped.
    const after = at.tail.length === 0
      ? undefined
      : await endOf(old.file, old.size, at.tail);
    if (after !== undefined) {
      return await this.#take(old, await samplesAt(old.file, after));
    }
    this.#say("dropped");
    if (ours) {
      // Read past the copy: what the worker wrote between the last copy
      // and the truncate may be lost.
      this.#adopt(old);
      this.#at = START;
    } else {
      await this.#take(old, START);
    }
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

  /**
   * Reads `old` next, from `at`; and keeps the first bytes `<id>.log` holds
   * now, the generation after it, unless `<id>.log` still holds the copied
   * one (its truncate is due) or another rotation came meanwhile.
   */
  async #take(old: Opened, at: Samples): Promise<void> {
    this.#adopt(old);
    this.#at = at;
    this.#inOld = true;
    this.#pending = false;
    const next = await bytesAt(this.#log, 0, SAMPLE);
    const copied = await bytesAt(old.file, 0, next.length);
    const unsure = same(copied, next.subarray(0, copied.length)) ||
      (await lookAt(this.#oldPath)).id !== old.id;
    this.#nextHead = unsure ? EMPTY : next;
  }

  #adopt(old: Opened): void {
    if (this.#old !== old) this.#old?.file.close();
    this.#old = old;
    this.#pending = false;
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

/** Where the first copy of `needle` in `file` ends, if it holds one. */
async function endOf(
  file: Deno.FsFile,
  size: number,
  needle: Uint8Array,
): Promise<number | undefined> {
  for (let at = 0; at < size; at += CHUNK) {
    // Each chunk with the needle's length before it: no match is split.
    const from = Math.max(0, at - needle.length + 1);
    const buf = await bytesAt(file, from, at + CHUNK - from);
    for (
      let i = buf.indexOf(needle[0]);
      i >= 0;
      i = buf.indexOf(needle[0], i + 1)
    ) {
      if (i + needle.length > buf.length) break;
      if (same(buf.subarray(i, i + needle.length), needle)) {
        return from + i + needle.length;
      }
    }
  }
  return undefined;
}
