// A job's log files on this host, and the one reader of their last lines.
// The log cap rotates a log by copy and truncate: `<id>.log`'s bytes are
// copied into `<id>.log.1` (renamed over the previous one), then `<id>.log`
// is cut to 0 and the worker's O_APPEND writes go on at its new end. So the
// whole log is `<id>.log.1` then `<id>.log`, read here as one stream
// (log_cursor.ts reads on across rotations).

/** How many bytes of a generation's start and of its end are compared. */
export const SAMPLE = 256;
/** How much is read at once. */
const CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);

/**
 * Something a reader of a job's log tells beside its bytes:
 * - `rotated`: the reading begins at the start of `<id>.log.1`: the log was
 *   rotated to stay under its cap, and output before that may have been
 *   dropped. Told at most once.
 * - `dropped`: output was dropped by the log cap before it could be read
 *   (or may have been: a reader that knows nothing yet of the generation
 *   it is at cannot tell one rotation from several); the reading goes on
 *   with the oldest output kept. Told once per gap.
 * - `truncated`: the log was cut by someone else (not by a rotation); the
 *   reading goes on from its start, as `tail -F` does.
 * - `ignored`: `<id>.log.1` is not a regular file (a symbolic link, a FIFO,
 *   a directory...) and is not read. Told at most once.
 *
 * @example Say what happened on stderr
 * ```ts ignore
 * const onEvent = (e: LogEvent) => console.error(`${e.path}: ${e.kind}`);
 * ```
 */
export interface LogEvent {
  /** What happened. */
  kind: "rotated" | "dropped" | "truncated" | "ignored";
  /** The file it concerns: the log, or `<id>.log.1` for `ignored`. */
  path: string;
}

/** `<id>.log.1`, where the log cap keeps the older part of a job's output. */
export function rotatedLogPath(log: string): string {
  return `${log}.1`;
}

/** A log file open for reading. */
export interface Opened {
  file: Deno.FsFile;
  size: number;
  /** Its device and inode. */
  id: string;
}

function idOf(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}`;
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "a symbolic link";
  return info.isDirectory ? "a directory" : info.isFifo ? "a FIFO" : "special";
}

/**
 * Opens `path` for reading if it is a regular file: a symbolic link is not
 * followed and a FIFO not opened (that would wait for a writer). Returns
 * `undefined` if it is absent, and what it is if it is something else. Only a swap between the look and
 * the open (by someone who can write the jobs directory) could still open
 * a FIFO.
 */
export async function openRegular(
  path: string,
): Promise<Opened | string | undefined> {
  // Each try that fails saw another rotation: a writer makes one per half
  // cap written, so a few tries pass, however busy the machine.
  for (let tries = 0; tries < 100; tries++) {
    let file: Deno.FsFile;
    try {
      const info = await Deno.lstat(path);
      if (!info.isFile) return kindOf(info);
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    // The file opened must be the one the path names, not through a link:
    // a rotation may have renamed another over it since the look, which is
    // fine, but a link put there is not.
    const opened = await file.stat();
    const named = await lookAt(path);
    if (opened.isFile && named.id === idOf(opened)) {
      return { file, size: opened.size, id: named.id };
    }
    file.close();
  }
  throw new Error(`Replaced again and again while opened: ${path}`);
}

/**
 * Opens a job's log (`<id>.log`).
 * @throws {Deno.errors.NotFound} If there is none.
 * @throws {Error} If it is not a regular file.
 */
export async function openLog(path: string): Promise<Opened> {
  const log = await openRegular(path);
  if (log === undefined) {
    throw new Deno.errors.NotFound(`Log file not found: ${path}`);
  }
  if (typeof log === "string") {
    throw new Error(`The log is not a regular file (${log}): ${path}`);
  }
  return log;
}

/**
 * What is at `path`: the identity of a regular file, what else it is, or
 * `undefined` if nothing is there.
 */
export async function lookAt(
  path: string,
): Promise<{ id?: string; kind?: string }> {
  try {
    const info = await Deno.lstat(path);
    return info.isFile ? { id: idOf(info) } : { kind: kindOf(info) };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    throw err;
  }
}

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

/** Up to `length` bytes at `offset`: fewer at the file's end. */
export async function bytesAt(
  file: Deno.FsFile,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  if (length <= 0) return EMPTY;
  const buf = new Uint8Array(length);
  return buf.subarray(0, await readAt(file, offset, buf));
}

export function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, (at += p.length) - p.length);
  return all;
}

/**
 * A place in a generation (what `<id>.log` holds between two truncations)
 * and the bytes that identify the generation: its first ones, and those
 * just before the place. After a rotation they tell whether `<id>.log.1` is
 * the copy of this generation or of a later one. Output that repeats itself
 * exactly can fool them; the inode of `<id>.log.1` cannot tell one rotation
 * from two at all.
 */
export interface Samples {
  pos: number;
  /** Its first bytes (up to SAMPLE), as far as they are known. */
  head: Uint8Array;
  /** The bytes just before `pos` (up to SAMPLE). */
  tail: Uint8Array;
}

export const START: Samples = { pos: 0, head: EMPTY, tail: EMPTY };

export async function samplesAt(
  file: Deno.FsFile,
  pos: number,
): Promise<Samples> {
  const n = Math.min(SAMPLE, pos);
  return {
    pos,
    head: await bytesAt(file, 0, n),
    tail: await bytesAt(file, pos - n, n),
  };
}

/** Whether `file` (of `size` bytes) holds the generation up to `s.pos`. */
export async function holds(
  file: Deno.FsFile,
  size: number,
  s: Samples,
): Promise<boolean> {
  return size >= s.pos &&
    same(await bytesAt(file, 0, s.head.length), s.head) &&
    same(await bytesAt(file, s.pos - s.tail.length, s.tail.length), s.tail);
}

/**
 * `s` moved past `chunk`, read at its position. The head grows while the
 * chunk goes past what is known of it (it may be known ahead: see
 * log_cursor.ts).
 */
export function advance(s: Samples, chunk: Uint8Array): Samples {
  const known = s.head.length;
  const end = s.pos + chunk.length;
  const head = known < SAMPLE && s.pos <= known && end > known
    ? concat([s.head, chunk.subarray(known - s.pos, SAMPLE - s.pos)])
    : s.head;
  const tail = chunk.length >= SAMPLE
    ? chunk.slice(-SAMPLE)
    : concat([s.tail, chunk]).slice(-SAMPLE);
  return { pos: end, head, tail };
}

/**
 * The log as one stream: `<id>.log.1`, then `<id>.log`. Between a
 * rotation's rename and its truncate, `<id>.log` still holds what was just
 * copied into `<id>.log.1`: then the stream is `<id>.log` alone.
 */
export async function streamOf(log: Opened, old: Opened | undefined) {
  if (old === undefined || old.size === 0) {
    return { segments: [log], pending: false };
  }
  const copied = await samplesAt(old.file, old.size);
  if (await holds(log.file, log.size, copied)) {
    return { segments: [log], pending: true };
  }
  return { segments: [old, log], pending: false };
}

/**
 * Where the last `n` lines of the stream begin (a segment, an offset in
 * it), scanning back in chunks and reading at most `maxBytes`; `cut` if the
 * bound stopped the search, so the first line may be cut.
 */
export async function linesStart(
  segments: Opened[],
  n: number,
  maxBytes: number,
): Promise<
  { segment: number; offset: number; bytesRead: number; cut: boolean }
> {
  const last = segments.length - 1;
  const end = {
    segment: last,
    offset: segments[last].size,
    bytesRead: 0,
    cut: false,
  };
  // The stream's final byte: a newline there ends its last line rather
  // than starting one.
  const final = segments.findLastIndex((s) => s.size > 0);
  if (n <= 0 || final < 0) return end;
  const buf = new Uint8Array(CHUNK);
  let left = maxBytes;
  let found = 0;
  let bytesRead = 0;
  for (let s = last; s >= 0; s--) {
    const { file, size } = segments[s];
    let to = size;
    while (to > 0) {
      if (left <= 0) return { segment: s, offset: to, bytesRead, cut: true };
      const from = Math.max(0, to - CHUNK, to - left);
      const got = await readAt(file, from, buf.subarray(0, to - from));
      bytesRead += got;
      left -= to - from;
      for (let i = got - 1; i >= 0; i--) {
        if (buf[i] !== 0x0a || (s === final && from + i === size - 1)) continue;
        if (++found === n) {
          return { segment: s, offset: from + i + 1, bytesRead, cut: false };
        }
      }
      to = from;
    }
  }
  return { segment: 0, offset: 0, bytesRead, cut: false };
}

/** What {@linkcode readTail} found. */
export interface Tail {
  /** The bytes of the last lines. */
  bytes: Uint8Array;
  /**
   * The first line may be cut: the byte bound was reached, or the lines go
   * back to the start of `<id>.log.1`, before which output was dropped.
   */
  cut: boolean;
  /** The bytes read, to prove the bound. */
  bytesRead: number;
}

/**
 * The last `n` lines of a job's log across `<id>.log.1` and `<id>.log`,
 * reading at most about `maxBytes` from their end (twice that in all: the
 * scan back, then the read). The one tail reader: for `readLogTail()`,
 * `jobs <id>` and the PostgreSQL store's kept tail. A rotation during the
 * reading is seen (`<id>.log.1` is another file after it) and the reading
 * done again, at most three times in all.
 *
 * @throws {Deno.errors.NotFound} If there is no log.
 * @throws {Error} If the log is not a regular file.
 */
export async function readTail(
  path: string,
  n: number,
  maxBytes: number,
): Promise<Tail> {
  const oldPath = rotatedLogPath(path);
  for (let attempt = 1;; attempt++) {
    const log = await openLog(path);
    const found = await openRegular(oldPath).catch(() => undefined);
    const old = typeof found === "string" ? undefined : found;
    try {
      const { segments } = await streamOf(log, old);
      const start = await linesStart(segments, n, maxBytes);
      let bytesRead = start.bytesRead;
      let torn = false;
      const parts: Uint8Array[] = [];
      for (let s = start.segment; s < segments.length; s++) {
        const from = s === start.segment ? start.offset : 0;
        const part = await bytesAt(
          segments[s].file,
          from,
          segments[s].size - from,
        );
        torn ||= part.length < segments[s].size - from;
        bytesRead += part.length;
        parts.push(part);
      }
      // Back at the start of the generations kept: older output was dropped.
      const rotated = old !== undefined && start.segment === 0 &&
        start.offset === 0 && segments[0].size > 0;
      if ((!torn && (await lookAt(oldPath)).id === old?.id) || attempt === 3) {
        return { bytes: concat(parts), cut: start.cut || rotated, bytesRead };
      }
    } finally {
      log.file.close();
      old?.file.close();
    }
  }
}
