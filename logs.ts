/**
 * Reading a job's log: the last lines of it, all of it, or everything it
 * gets until the job ends (`tail -F` for one job).
 *
 * A job's output goes to its log file, written by the kernel while the job
 * runs; these functions only read it, so they work from any process while
 * the job runs in the background.
 *
 * @example Print a job's output as it comes, until the job ends
 * ```ts ignore
 * import { followLog } from "@epack/detach/logs";
 *
 * for await (const chunk of followLog("K7QZ", { store: ".epack/jobs" })) {
 *   await Deno.stdout.write(chunk);
 * }
 * ```
 *
 * @module
 */

import type { Job } from "./store/job.ts";
import { isLocalJob, type JobStore } from "./store/contract.ts";
import { openStore, type StoreOption } from "./store/open.ts";
import { isFinalStatus } from "./store/rules.ts";
import { watchRecord } from "./control/watch.ts";
import {
  followSwap,
  headerOf,
  type LogHeader,
  movePosition,
  readAt,
} from "./supervise/log_cap.ts";

/** How many lines {@linkcode readLogTail} returns by default. */
const TAIL_LINES = 10;
/** The most bytes {@linkcode readLogTail} reads by default. */
const TAIL_MAX_BYTES = 64 * 1024;
const CHUNK = 64 * 1024;

/**
 * What {@linkcode readLogTail} found.
 *
 * @example Mark a cut first line
 * ```ts ignore
 * const tail: LogTail = await readLogTail(path);
 * if (tail.truncated) tail.lines[0] = "…" + tail.lines[0];
 * ```
 */
export interface LogTail {
  /** The last lines, without their newlines. */
  lines: string[];
  /**
   * Whether `maxBytes` was reached before enough lines were found, so the
   * first line may be cut.
   */
  truncated: boolean;
  /** How many bytes were read from the file, to prove the bound. */
  bytesRead: number;
}

/**
 * Options for {@linkcode readLogTail}.
 *
 * @example The last 50 lines, reading at most 1 MiB
 * ```ts ignore
 * const options: LogTailOptions = { lines: 50, maxBytes: 1 << 20 };
 * ```
 */
export interface LogTailOptions {
  /**
   * How many lines.
   * @default {10}
   */
  lines?: number;
  /**
   * Read at most about this many bytes from the end, however long the
   * lines are.
   * @default {65536}
   */
  maxBytes?: number;
}

/**
 * Reads the last lines of a log without reading the rest: it scans back
 * from the end in chunks, so a 50 GB log costs what a 50 KB one does.
 *
 * Requires `--allow-read`.
 *
 * @param path The log file.
 * @param options How many lines, and the byte bound.
 * @returns The lines, whether the bound cut them, and the bytes read.
 * @throws {Deno.errors.NotFound} If there is no such file.
 *
 * @example The last three lines
 * ```ts ignore
 * import { readLogTail } from "@epack/detach/logs";
 *
 * const { lines } = await readLogTail(job.logPath, { lines: 3 });
 * ```
 */
export async function readLogTail(
  path: string,
  options: LogTailOptions = {},
): Promise<LogTail> {
  const n = options.lines ?? TAIL_LINES;
  const maxBytes = options.maxBytes ?? TAIL_MAX_BYTES;
  using file = await Deno.open(path, { read: true });
  // Under the log's shared lock: an in-place trim of a capped log (which
  // holds the exclusive one) would move the bytes between finding where
  // the last lines start and reading them.
  await file.lock(false);
  let found: Awaited<ReturnType<typeof tailStart>>;
  let bytes: Uint8Array;
  let got: number;
  try {
    const size = (await file.stat()).size;
    found = await tailStart(file, size, n, maxBytes);
    bytes = new Uint8Array(size - found.start);
    got = await readAt(file, found.start, bytes);
  } finally {
    await file.unlock();
  }
  const text = new TextDecoder().decode(bytes.subarray(0, got));
  const lines = text === "" ? [] : text.split("\n");
  if (text.endsWith("\n")) lines.pop();
  return {
    lines,
    truncated: found.truncated,
    bytesRead: found.bytesRead + got,
  };
}

/**
 * Where a job's log is on this host: made from the job's ID in the store's
 * log directory, never taken from the record (a record, or a row of a
 * store shared by hosts, could name any file). `undefined` for a job of
 * another host, whose log is there.
 *
 * @param store The job's store.
 * @param job The job.
 * @returns The log's path, or `undefined`.
 *
 * @example
 * ```ts ignore
 * const path = jobLogPath(store, await store.load(id));
 * ```
 */
export function jobLogPath(store: JobStore, job: Job): string | undefined {
  return isLocalJob(store, job) ? store.logPath(job.id) : undefined;
}

/**
 * Options for {@linkcode readLog} and {@linkcode followLog}.
 *
 * @example The last 20 lines, then what follows
 * ```ts ignore
 * const options: ReadLogOptions = { store: ".epack/jobs", lines: 20 };
 * ```
 */
export interface ReadLogOptions extends StoreOption {
  /**
   * The byte offset to start at.
   * @default {0}
   */
  from?: number;
  /** Start this many lines before the end instead (overrides `from`). */
  lines?: number;
  /** Stops the reading; the iteration then ends quietly. */
  signal?: AbortSignal;
  /**
   * Called when the job's log cap (`--log-max`) dropped output before it
   * was read: `bytes` bytes were skipped there, and reading goes on with
   * the oldest output kept. Without it, the gap is not reported.
   */
  onDropped?: (info: { path: string; bytes: number }) => void;
}

/**
 * Options for {@linkcode followLog}.
 *
 * @example Say when the log is truncated
 * ```ts ignore
 * const options: FollowLogOptions = {
 *   onTruncated: ({ path }) => console.error(`${path}: log truncated`),
 * };
 * ```
 */
export interface FollowLogOptions extends ReadLogOptions {
  /**
   * Called when the log shrinks below what was read (someone truncated
   * it); following goes on from its start, as `tail -F` does.
   */
  onTruncated?: (
    info: { path: string; position: number; size: number },
  ) => void;
}

/**
 * The bytes of a job's log from `from` (or the last `lines` lines) to its
 * current end.
 *
 * Requires `--allow-read`.
 *
 * @param ref The job: its ID, or a unique prefix or suffix of it.
 * @param options The store, where to start, and a signal.
 * @returns The bytes, in chunks (each chunk is the caller's to keep).
 * @throws {JobNotFoundError} If there is no such job.
 * @throws {Deno.errors.NotFound} If the job's log does not exist.
 *
 * @example Read a whole log as text
 * ```ts ignore
 * import { readLog } from "@epack/detach/logs";
 *
 * const text = await new Response(ReadableStream.from(readLog(jobId))).text();
 * ```
 */
export async function* readLog(
  ref: string,
  options: ReadLogOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const store = await openStore(options.store);
  try {
    const job = await store.load(await store.resolve(ref));
    const path = localLog(store, job);
    const cursor = await begin(path, job.logMax !== undefined, options);
    try {
      // As a follower reads, once: a log that its cap trims while it is
      // read (a job still running) must not give the bytes after a trim as
      // if they came right after those before it.
      yield* follow(cursor, path, options);
    } finally {
      cursor.file.close();
    }
  } finally {
    if (typeof options.store !== "object") await store[Symbol.asyncDispose]();
  }
}

/** The job's log on this host; a job of another host has it there. */
function localLog(store: JobStore, job: Job): string {
  const path = jobLogPath(store, job);
  if (path === undefined) {
    throw new Error(
      `The log of job ${job.id} is on host ${job.host}: read it there`,
    );
  }
  return path;
}

/**
 * The bytes of a job's log from `from` (or the last `lines` lines), and then
 * whatever the job writes, until the job ends (any final status) or
 * `signal` aborts. A log truncated while followed is read again from its
 * start, after `onTruncated` says so. A log kept under a cap is followed
 * across its trims, each byte of output yielded once: output the cap
 * dropped before it was read is skipped, and `onDropped` says how much.
 * While the job waits or is queued, a scheduler pass runs every 2 seconds
 * (with `--allow-write` and `--allow-run`), as in `watchJob()`, so a job
 * whose starter died still starts.
 *
 * Requires `--allow-read`.
 *
 * @param ref The job: its ID, or a unique prefix or suffix of it.
 * @param options The store, where to start, a signal, and what to do
 * when the log is truncated.
 * @returns The bytes, in chunks (each chunk is the caller's to keep).
 * @throws {JobNotFoundError} If there is no such job.
 * @throws {Deno.errors.NotFound} If the job's log does not exist.
 *
 * @example Follow the last ten lines and what comes after
 * ```ts ignore
 * import { followLog } from "@epack/detach/logs";
 *
 * for await (const chunk of followLog(jobId, { lines: 10 })) {
 *   await Deno.stdout.write(chunk);
 * }
 * ```
 */
export async function* followLog(
  ref: string,
  options: FollowLogOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const store = await openStore(options.store);
  try {
    const job = await store.load(await store.resolve(ref));
    const path = localLog(store, job);
    const cursor = await begin(path, job.logMax !== undefined, options);
    try {
      const records = watchRecord(store, job.id, {
        file: path,
        signal: options.signal,
        onTimeout: () => new Error("unreachable: no timeout"),
      });
      for await (const now of quietOnAbort(records, options.signal)) {
        yield* follow(cursor, path, options);
        // Once the job has ended, what it wrote is all in the file: the
        // reading above went to its end.
        if (isFinalStatus(now.status)) return;
      }
    } finally {
      cursor.file.close();
    }
  } finally {
    if (typeof options.store !== "object") await store[Symbol.asyncDispose]();
  }
}

/** The records, ending quietly (not with its reason) when `signal` aborts. */
async function* quietOnAbort(
  records: AsyncGenerator<Job, void, undefined>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Job, void, undefined> {
  try {
    yield* records;
  } catch (err) {
    if (signal?.aborted) return;
    throw err;
  }
}

/** Where a follower is: the file, its position, and the header it saw. */
interface Follower {
  file: Deno.FsFile;
  pos: number;
  head: LogHeader | undefined;
  /**
   * Whether the job has a log cap. Only then can the log start with the
   * cap's header, or be swapped: the log of a job without one is the
   * worker's bytes, and a first line of its output that looks like the
   * header must not move the reader.
   */
  capped: boolean;
}

/** The cap's header at the top of the follower's log, if it has a cap. */
async function capHeader(
  cursor: { capped: boolean },
  file: Deno.FsFile,
): Promise<LogHeader | undefined> {
  return cursor.capped ? await headerOf(file) : undefined;
}

/**
 * Opens the log and places a follower where the options say, with the
 * header that position was taken under: both under the log's shared lock,
 * so an in-place trim cannot fall between them.
 */
async function begin(
  path: string,
  capped: boolean,
  options: ReadLogOptions,
): Promise<Follower> {
  const file = await Deno.open(path, { read: true });
  try {
    await file.lock(false);
    try {
      const { pos } = await startAt(file, options);
      return { file, pos, head: await capHeader({ capped }, file), capped };
    } finally {
      await file.unlock();
    }
  } catch (err) {
    file.close();
    throw err;
  }
}

/**
 * Reads from the follower's position to the end of the log, across the
 * cap's trims: an in-place trim moves the bytes left by the change in the
 * header's count, a pipe-mode swap replaces the file.
 */
async function* follow(
  cursor: Follower,
  path: string,
  options: FollowLogOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  for (;;) {
    if (options.signal?.aborted) return;
    const chunk = await readChunk(cursor, path, options);
    if (chunk !== undefined) {
      yield chunk;
      continue;
    }
    // At the end of the file: a swapped-out file grows no more, so go on
    // in the new one.
    if (!cursor.capped) return;
    const swapped = await followSwap(path, cursor.file, cursor.pos);
    if (swapped === undefined) return;
    cursor.file.close();
    cursor.file = swapped.file;
    cursor.pos = swapped.pos;
    cursor.head = await capHeader(cursor, swapped.file);
    if (swapped.missed > 0) {
      options.onDropped?.({ path, bytes: swapped.missed });
    }
  }
}

/**
 * One chunk from the follower's position, or `undefined` at the end, read
 * under the log's shared lock: an in-place trim (which holds the exclusive
 * one) cannot shift the bytes between the header's count and the read.
 */
async function readChunk(
  cursor: Follower,
  path: string,
  options: FollowLogOptions,
): Promise<Uint8Array | undefined> {
  const file = cursor.file;
  await file.lock(false);
  try {
    const head = await capHeader(cursor, file);
    if (
      head?.dropped !== cursor.head?.dropped ||
      head?.length !== cursor.head?.length
    ) {
      const moved = movePosition(cursor.pos, cursor.head, head);
      cursor.head = head;
      cursor.pos = moved.pos;
      if (moved.missed > 0) options.onDropped?.({ path, bytes: moved.missed });
    }
    const size = (await file.stat()).size;
    if (size < cursor.pos) {
      options.onTruncated?.({ path, position: cursor.pos, size });
      cursor.pos = 0;
      cursor.head = head;
    }
    const buf = new Uint8Array(Math.min(CHUNK, size - cursor.pos));
    if (buf.length === 0) return undefined;
    const n = await readAt(file, cursor.pos, buf);
    if (n === 0) return undefined;
    cursor.pos += n;
    return buf.subarray(0, n);
  } finally {
    await file.unlock();
  }
}

interface Cursor {
  pos: number;
}

async function startAt(
  file: Deno.FsFile,
  options: ReadLogOptions,
): Promise<Cursor> {
  if (options.lines === undefined) return { pos: options.from ?? 0 };
  const size = (await file.stat()).size;
  return { pos: (await tailStart(file, size, options.lines, Infinity)).start };
}

/**
 * Where the last `n` lines of a file begin, scanning back from `size` in
 * chunks and reading at most `maxBytes`.
 */
async function tailStart(
  file: Deno.FsFile,
  size: number,
  n: number,
  maxBytes: number,
): Promise<{ start: number; bytesRead: number; truncated: boolean }> {
  if (n <= 0 || size === 0) {
    return { start: size, bytesRead: 0, truncated: false };
  }
  const floor = Math.max(0, size - maxBytes);
  const buf = new Uint8Array(CHUNK);
  let end = size;
  let found = 0;
  let bytesRead = 0;
  while (end > floor) {
    const begin = Math.max(floor, end - CHUNK);
    const got = await readAt(file, begin, buf.subarray(0, end - begin));
    bytesRead += got;
    for (let i = got - 1; i >= 0; i--) {
      // The file's final newline ends its last line rather than starting one.
      if (buf[i] !== 0x0a || begin + i === size - 1) continue;
      if (++found === n) {
        return { start: begin + i + 1, bytesRead, truncated: false };
      }
    }
    end = begin;
  }
  return { start: floor, bytesRead, truncated: floor > 0 };
}
