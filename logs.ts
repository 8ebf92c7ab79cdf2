/**
 * Reading a job's log, from any process: the last lines of it, all of it,
 * or everything it gets until the job ends (`tail -F` for one job).
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
import { type LogEvent, readTail } from "./store/log_files.ts";
import { LogCursor } from "./store/log_cursor.ts";

export type * from "./store/types.ts";
export type { LogEvent };

/** What {@linkcode readLogTail} found. */
export interface LogTail {
  /** The last lines, without their newlines. */
  lines: string[];
  /**
   * Whether the first line may be cut: `maxBytes` was reached first, or the
   * lines go back to the start of a rotated log, before which output was
   * dropped.
   */
  truncated: boolean;
  /** How many bytes were read from the files, to prove the bound. */
  bytesRead: number;
}

/** Options for {@linkcode readLogTail}. */
export interface LogTailOptions {
  /**
   * How many lines.
   * @default {10}
   */
  lines?: number;
  /**
   * Read at most about this many bytes from the end.
   * @default {65536}
   */
  maxBytes?: number;
}

/**
 * Reads the last lines of a log without reading the rest (a 50 GB log
 * costs what a 50 KB one does), across `<path>.1` and `<path>` for a log
 * kept under a cap.
 *
 * Requires `--allow-read`.
 *
 * @param path The log file.
 * @param options How many lines, and the byte bound.
 * @returns The lines, whether the first may be cut, and the bytes read.
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
  const tail = await readTail(
    path,
    options.lines ?? 10,
    options.maxBytes ?? 64 * 1024,
  );
  const text = new TextDecoder().decode(tail.bytes);
  const lines = text === "" ? [] : text.split("\n");
  if (text.endsWith("\n")) lines.pop();
  return { lines, truncated: tail.cut, bytesRead: tail.bytesRead };
}

/**
 * Where a job's log is on this host: made from the job's ID, never taken
 * from the record (a record could name any file).
 *
 * @param store The job's store.
 * @param job The job.
 * @returns The log's path, or `undefined` for a job of another host.
 */
export function jobLogPath(store: JobStore, job: Job): string | undefined {
  return isLocalJob(store, job) ? store.logPath(job.id) : undefined;
}

/** Options for {@linkcode readLog} and {@linkcode followLog}. */
export interface ReadLogOptions extends StoreOption {
  /** Start this many lines before the end; left out, at the start. */
  lines?: number;
  /** Stops the reading; the iteration then ends quietly. */
  signal?: AbortSignal;
  /**
   * Told, once each, what the bytes cannot say: the reading began at a
   * rotated log (`rotated`), the cap dropped output before it was read
   * (`dropped`), someone truncated the log (`truncated`), `<id>.log.1` is
   * not a regular file (`ignored`).
   */
  onEvent?: (event: LogEvent) => void;
}

/**
 * The bytes of a job's log from its start (or the last `lines` lines) to
 * its current end; each byte a cap keeps is read once, in order.
 *
 * Requires `--allow-read`.
 *
 * @param ref The job: its ID, or a unique prefix or suffix of it.
 * @param options The store, where to start, a signal, and what to tell.
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
export function readLog(
  ref: string,
  options: ReadLogOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  return withLog(ref, options, (cursor) => cursor.read(options.signal));
}

/**
 * The bytes of a job's log from its start (or the last `lines` lines), then
 * whatever the job writes, until it ends or `signal` aborts: across a cap's
 * rotations (what it dropped unread is told to `onEvent`), and from the
 * start of a log truncated by someone else, as `tail -F`. While the job
 * waits, a scheduler pass runs every 2 s, as in `watchJob()`.
 *
 * Requires `--allow-read`.
 *
 * @param ref The job: its ID, or a unique prefix or suffix of it.
 * @param options The store, where to start, a signal, and what to tell.
 * @returns The bytes, in chunks (each chunk is the caller's to keep).
 * @throws {JobNotFoundError} If there is no such job.
 * @throws {Deno.errors.NotFound} If the job's log does not exist.
 */
export function followLog(
  ref: string,
  options: ReadLogOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const { signal } = options;
  return withLog(ref, options, async function* (cursor, store, job, path) {
    // The watch wakes on the record's changes and on the log's: a rotation
    // truncates `<id>.log` after its copy is in `<id>.log.1`.
    const records = watchRecord(store, job.id, {
      file: path,
      signal,
      onTimeout: () => new Error("unreachable: no timeout"),
    });
    try {
      for await (const now of records) {
        yield* cursor.read(signal);
        // Once the job has ended, what it wrote is all in the files.
        if (isFinalStatus(now.status)) return;
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  });
}

// Runs `body` on a cursor over the log of the job `ref` names.
async function* withLog(
  ref: string,
  options: ReadLogOptions,
  body: (
    cursor: LogCursor,
    store: JobStore,
    job: Job,
    path: string,
  ) => AsyncGenerator<Uint8Array, void, undefined>,
): AsyncGenerator<Uint8Array, void, undefined> {
  const store = await openStore(options.store);
  try {
    const job = await store.load(await store.resolve(ref));
    const path = jobLogPath(store, job);
    if (path === undefined) {
      throw new Error(
        `The log of job ${job.id} is on host ${job.host}: read it there`,
      );
    }
    const cursor = await LogCursor.open(path, options);
    try {
      yield* body(cursor, store, job, path);
    } finally {
      cursor.close();
    }
  } finally {
    if (typeof options.store !== "object") await store[Symbol.asyncDispose]();
  }
}
