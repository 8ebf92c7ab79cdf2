/**
 * Reports from inside a job: how far it has got (its progress) and what it
 * produced (its result). Both go into the job's record, under the store's
 * lock, on either store (a jobs directory or PostgreSQL), where `jobs`,
 * `jobs <id>`, `waitForJob()` and epack's Go code read them.
 *
 * A job's worker knows its job from `EPACK_DETACH_JOB_ID` and its store from
 * `EPACK_DETACH_STORE`, both set by the job's supervisor. Outside a job the
 * calls do nothing and say so (they return `false`): a program that runs
 * both in the foreground and as a job reports the same way in both. Invalid
 * values are refused everywhere, so a mistake shows in the foreground too.
 *
 * Progress is throttled: {@linkcode reportProgress} only keeps the latest
 * value (a few microseconds), and at most one write per interval (1 s by
 * default) takes it to the record, with a last write so the final value
 * lands. A worker may report every chunk it reads.
 *
 * Requires `--allow-env` (to read the two variables; without it the calls
 * are no-ops) and, in a job, what the store needs: `--allow-read` and
 * `--allow-write` on the jobs directory, or `--allow-net` for PostgreSQL.
 *
 * @example A worker that reports as it goes
 * ```ts ignore
 * import { flushReports, reportProgress, reportResult } from "@epack/detach/report";
 *
 * const files = [...Deno.readDirSync(".")].filter((e) => e.isFile);
 * for (const [i, file] of files.entries()) {
 *   reportProgress({ done: i, total: files.length, unit: "files", message: file.name });
 *   // ... work on the file ...
 * }
 * reportProgress({ done: files.length, total: files.length, unit: "files" });
 * await reportResult({ files: files.length });
 * await flushReports(); // before Deno.exit(); a normal end flushes by itself
 * ```
 *
 * @module
 */

import type { Job, JobProgress } from "./store/job.ts";
import { isFinalStatus } from "./store/rules.ts";
import { JOB_ID_ENV } from "./store/job_id.ts";
import {
  MAX_MESSAGE_LENGTH,
  MAX_RESULT_BYTES,
  MAX_RESULT_DEPTH,
  MAX_UNIT_LENGTH,
  progressProblem,
  resultDepthProblem,
} from "./store/report_rules.ts";
import type { JobStore } from "./store/contract.ts";
import { STORE_ENV } from "./store/env.ts";

export type { JobProgress };
export {
  MAX_MESSAGE_LENGTH,
  MAX_RESULT_BYTES,
  MAX_RESULT_DEPTH,
  MAX_UNIT_LENGTH,
};

/**
 * The time between two progress writes when none is given: 1 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_PROGRESS_INTERVAL } from "@epack/detach/report";
 *
 * console.log(DEFAULT_PROGRESS_INTERVAL); // 1000
 * ```
 */
export const DEFAULT_PROGRESS_INTERVAL = 1_000;

/**
 * The shortest time between two progress writes that may be set: 50 ms.
 *
 * @example
 * ```ts
 * import { MIN_PROGRESS_INTERVAL } from "@epack/detach/report";
 *
 * console.log(MIN_PROGRESS_INTERVAL); // 50
 * ```
 */
export const MIN_PROGRESS_INTERVAL = 50;

/**
 * A progress report: how much is done, of how much, counted in what, and a
 * short note.
 *
 * @example Bytes of a download
 * ```ts
 * import type { ProgressReport } from "@epack/detach/report";
 *
 * const p: ProgressReport = { done: 118 << 20, total: 280 << 20, unit: "B" };
 * console.log(Math.floor((p.done / p.total!) * 100)); // 42
 * ```
 */
export interface ProgressReport {
  /** How much is done: a finite number, 0 or more. */
  done: number;
  /** How much there is in all, when known: finite, at least `done`. */
  total?: number;
  /**
   * What is counted, at most 32 characters, for example `files`. `B` means
   * bytes, which `jobs` shows as `118 MiB`.
   */
  unit?: string;
  /** A note on what is happening, at most 200 characters, one line. */
  message?: string;
}

/**
 * Options for a {@linkcode JobReporter}.
 *
 * @example
 * ```ts ignore
 * import { JobReporter, type JobReporterOptions } from "@epack/detach/report";
 *
 * const options: JobReporterOptions = { jobId: "01J...", store: ".epack/jobs", interval: 250 };
 * await using reporter = new JobReporter(options);
 * reporter.progress({ done: 1 });
 * ```
 */
export interface JobReporterOptions {
  /** The job's ID. */
  jobId: string;
  /**
   * The job's store: a jobs directory or a `postgres://` URL (opened on the
   * first write and closed on dispose), or an open store (left open).
   * @default {$EPACK_DETACH_STORE, else the default jobs directory}
   */
  store?: string | JobStore;
  /**
   * The least time between two progress writes, in milliseconds, from
   * {@linkcode MIN_PROGRESS_INTERVAL}.
   * @default {1000}
   */
  interval?: number;
}

/** A progress value waiting to be written, with the time it was reported. */
interface Pending {
  value: ProgressReport;
  at: number;
}

/** Thrown inside an update to leave an ended job's record untouched. */
class JobEnded extends Error {
  constructor(readonly job: Job) {
    super(`Job ${job.id} has ended (${job.status})`);
  }
}

/**
 * Writes one job's progress and result to its record: progress throttled to
 * one write per interval, always the latest value; the result at once.
 *
 * A job that has ended keeps its end: progress reported after it is dropped,
 * and a result is refused.
 *
 * @example Report to a job of a jobs directory
 * ```ts
 * import { JobReporter } from "@epack/detach/report";
 * import { FileJobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const job = await new FileJobStore(dir).create({ command: "sync" });
 * {
 *   await using reporter = new JobReporter({ jobId: job.id, store: dir });
 *   reporter.progress({ done: 3, total: 10, unit: "files" });
 *   await reporter.result({ synced: 10 });
 * }
 * const after = await new FileJobStore(dir).load(job.id);
 * console.log(after.progress?.done, after.result); // 3 { synced: 10 }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class JobReporter implements AsyncDisposable {
  /** The job's ID. */
  readonly jobId: string;
  readonly #storeName: string | undefined;
  #store: JobStore | undefined;
  #opening: Promise<JobStore> | undefined;
  #interval: number;
  #pending: Pending | undefined;
  #lastWrite = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;
  #error: unknown;
  #ended = false;
  #writes = 0;

  /**
   * Makes a reporter; nothing is opened or written until the first report.
   *
   * @param options The job, its store, the interval.
   * @throws {RangeError} If the interval is below the floor.
   */
  constructor(options: JobReporterOptions) {
    this.jobId = options.jobId;
    if (typeof options.store === "object") this.#store = options.store;
    else this.#storeName = options.store ?? "";
    this.#interval = checkInterval(
      options.interval ?? DEFAULT_PROGRESS_INTERVAL,
    );
  }

  /**
   * The least time between two progress writes, in milliseconds.
   *
   * @returns The interval.
   */
  get interval(): number {
    return this.#interval;
  }

  /**
   * Changes the interval; it applies from the next write.
   *
   * @param ms Milliseconds, from {@linkcode MIN_PROGRESS_INTERVAL}.
   * @throws {RangeError} If it is below the floor or not finite.
   */
  set interval(ms: number) {
    this.#interval = checkInterval(ms);
  }

  /**
   * How many writes this reporter has made to the record: for tests and
   * benchmarks of the throttle.
   *
   * @returns The count.
   */
  get writes(): number {
    return this.#writes;
  }

  /**
   * Whether a progress value waits to be written, or a write is under way.
   *
   * @returns `true` if a flush would have something to do.
   */
  get waiting(): boolean {
    return this.#pending !== undefined || this.#writing !== undefined;
  }

  /**
   * Reports progress. It is kept, and written at the next free slot: at
   * once if no write happened within the interval, else when it ends. Write
   * errors surface at {@linkcode JobReporter.flush}.
   *
   * @param progress What is done, of what, in what unit, with a note.
   * @throws {TypeError} If a field has the wrong type.
   * @throws {RangeError} If a number is negative or not finite, `done` is
   * more than `total`, or a text is too long or holds a control character.
   */
  progress(progress: ProgressReport): void {
    const value = checkProgress(progress);
    if (this.#ended) return;
    this.#pending = { value, at: Date.now() };
    this.#schedule();
  }

  /**
   * Records the job's result, a JSON object (replacing any result before
   * it), together with the latest progress, at once.
   *
   * @param result The result; its JSON must be an object of at most 64 KiB.
   * @returns When it is written.
   * @throws {TypeError} If it is not a plain object or cannot be written as
   * JSON.
   * @throws {RangeError} If its JSON is larger than 64 KiB, or nests more
   * than 100 levels deep.
   * @throws {Error} If the job has ended, or the store cannot be written.
   */
  async result(result: Record<string, unknown>): Promise<void> {
    const value = checkResult(result);
    this.#clearTimer();
    await this.#writing;
    const pending = this.#pending;
    this.#pending = undefined;
    this.#lastWrite = Date.now();
    await this.#write(pending, value);
  }

  /**
   * Writes the latest progress now if one waits, and waits for writes under
   * way.
   *
   * @returns When the record holds the latest progress.
   * @throws {Error} The first write error since the last flush.
   */
  async flush(): Promise<void> {
    this.#clearTimer();
    while (this.#writing !== undefined || this.#pending !== undefined) {
      if (this.#writing === undefined) this.#start();
      await this.#writing;
    }
    if (this.#error !== undefined) {
      const err = this.#error;
      this.#error = undefined;
      throw err;
    }
  }

  /**
   * Flushes, then closes the store if this reporter opened it.
   *
   * @returns When done.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.flush();
    } finally {
      if (this.#storeName !== undefined) await this.#close();
    }
  }

  #schedule(): void {
    if (this.#writing !== undefined || this.#timer !== undefined) return;
    const wait = this.#lastWrite + this.#interval - Date.now();
    if (wait <= 0) {
      this.#start();
      return;
    }
    const timer = setTimeout(() => {
      this.#timer = undefined;
      this.#start();
    }, wait);
    this.#timer = timer;
    // The trailing write must not keep a finished program alive: the
    // default reporter flushes at `beforeunload`, others at dispose.
    Deno.unrefTimer(timer);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined) return;
    this.#lastWrite = Date.now();
    this.#writing = this.#write(pending, undefined)
      .catch((err) => {
        this.#error ??= err;
      })
      .finally(() => {
        this.#writing = undefined;
        if (this.#pending !== undefined) this.#schedule();
      });
  }

  async #write(
    pending: Pending | undefined,
    result: Record<string, unknown> | undefined,
  ): Promise<void> {
    if (pending === undefined && result === undefined) return;
    const store = await this.#open();
    this.#writes++;
    try {
      await store.update(this.jobId, (job) => {
        // A report never reopens or rewrites an end.
        if (isFinalStatus(job.status)) throw new JobEnded(job);
        if (pending !== undefined) {
          job.progress = { ...pending.value, updatedAt: new Date(pending.at) };
        }
        if (result !== undefined) job.result = result;
        return job;
      });
    } catch (err) {
      if (!(err instanceof JobEnded)) throw err;
      this.#ended = true;
      this.#pending = undefined;
      if (result !== undefined) {
        throw new Error(
          `Cannot record the result: job ${this.jobId} has ended (${err.job.status})`,
        );
      }
    } finally {
      // A database's connections would hold the program open (until the
      // client's idle timeout) after its last report: a store this
      // reporter opened is closed when nothing more waits, and opened
      // again by the next write. A jobs directory holds nothing open.
      if (
        this.#storeName !== undefined && !store.capabilities.localRecords &&
        this.#pending === undefined
      ) {
        await this.#close();
      }
    }
  }

  async #close(): Promise<void> {
    const store = this.#store;
    this.#store = undefined;
    this.#opening = undefined;
    await store?.[Symbol.asyncDispose]();
  }

  #open(): Promise<JobStore> {
    if (this.#store !== undefined) return Promise.resolve(this.#store);
    this.#opening ??= (async () => {
      // Loaded only when a job writes, so a program that merely imports
      // this module (and runs outside a job) loads no store.
      const { openStore } = await import("./store/open.ts");
      const store = await openStore(this.#storeName);
      this.#store = store;
      return store;
    })();
    this.#opening.catch(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }
}

function checkInterval(ms: number): number {
  if (
    typeof ms !== "number" || !Number.isFinite(ms) ||
    ms < MIN_PROGRESS_INTERVAL
  ) {
    throw new RangeError(
      `Invalid progress interval: ${ms} (at least ${MIN_PROGRESS_INTERVAL} ms)`,
    );
  }
  return ms;
}

/** A checked copy, so a caller's later change to its object is not seen. */
function checkProgress(p: ProgressReport): ProgressReport {
  const problem = progressProblem(p);
  if (problem !== undefined) {
    const message = `Invalid progress: ${problem.reason}`;
    throw problem.kind === "range"
      ? new RangeError(message)
      : new TypeError(message);
  }
  const out: ProgressReport = { done: p.done };
  if (p.total !== undefined) out.total = p.total;
  if (p.unit !== undefined) out.unit = p.unit;
  if (p.message !== undefined) out.message = p.message;
  return out;
}

/** The result as JSON makes it (a checked copy), within the size bound. */
function checkResult(result: Record<string, unknown>): Record<string, unknown> {
  if (
    typeof result !== "object" || result === null || Array.isArray(result)
  ) {
    throw new TypeError(
      `Invalid result: not a JSON object (${
        Array.isArray(result) ? "an array" : String(result)
      })`,
    );
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(result);
  } catch (err) {
    throw new TypeError(
      `Invalid result: cannot be written as JSON (${
        (err as Error).message.replace(/\s+/g, " ")
      })`,
      { cause: err },
    );
  }
  // A toJSON() may turn it into something else: what is stored is the JSON.
  const copy: unknown = text === undefined ? undefined : JSON.parse(text);
  if (typeof copy !== "object" || copy === null || Array.isArray(copy)) {
    throw new TypeError("Invalid result: its JSON is not an object");
  }
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > MAX_RESULT_BYTES) {
    throw new RangeError(
      `Invalid result: ${bytes} bytes of JSON, more than ${MAX_RESULT_BYTES}`,
    );
  }
  const deep = resultDepthProblem(copy);
  if (deep !== undefined) {
    throw new RangeError(`Invalid result: ${deep.reason}`);
  }
  return copy as Record<string, unknown>;
}

// ---------------------------------------------------------------------------
// The process's own job

let current: JobReporter | null | undefined;

/**
 * The reporter for the job this process runs in, made on first use from
 * `EPACK_DETACH_JOB_ID` and `EPACK_DETACH_STORE`; `undefined` outside a job
 * (or without `--allow-env`). Set its `interval` to change the throttle.
 *
 * @returns The reporter, or `undefined`.
 * @throws {Error} If the job ID is set but the store is not.
 *
 * @example Report more often than once a second
 * ```ts
 * import { jobReporter } from "@epack/detach/report";
 *
 * const reporter = jobReporter();
 * if (reporter !== undefined) reporter.interval = 250;
 * ```
 */
export function jobReporter(): JobReporter | undefined {
  if (current !== undefined) return current ?? undefined;
  const jobId = readEnv(JOB_ID_ENV);
  if (jobId === undefined) {
    current = null;
    return undefined;
  }
  // A job's worker gets its store in the environment; a process that has
  // only the job's ID looks where every call looks (one rule), and learns
  // of a job it cannot find when the report is written.
  current = new JobReporter({ jobId, store: readEnv(STORE_ENV) });
  // A program that ends normally lands its last progress: new work started
  // here keeps the event loop going until it is written.
  globalThis.addEventListener("beforeunload", (event) => {
    const reporter = current;
    if (!reporter?.waiting) return;
    // Neither the write's operations nor a timer started here hold the
    // event loop (Deno 2.9.6); cancelling the event does, and it comes
    // again once the write is done.
    event.preventDefault();
    reporter.flush().catch(() => {});
  });
  return current;
}

function readEnv(name: string): string | undefined {
  let value: string | undefined;
  try {
    value = Deno.env.get(name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    // Without --allow-env nothing says this is a job.
    return undefined;
  }
  return value === "" ? undefined : value;
}

/**
 * Reports the progress of the job this process runs in. Cheap enough to
 * call for every chunk: the value is kept, and written at most once per
 * interval (see {@linkcode jobReporter}), the latest one always.
 *
 * @param progress What is done, of what, in what unit, with a note.
 * @returns `true` in a job, `false` outside one (nothing is done).
 * @throws {TypeError} If a field has the wrong type (in a job or not).
 * @throws {RangeError} If a number is negative or not finite, `done` is
 * more than `total`, or a text is too long or holds a control character.
 *
 * @example
 * ```ts
 * import { reportProgress } from "@epack/detach/report";
 *
 * const inJob = reportProgress({ done: 42, total: 100, unit: "files" });
 * console.log(inJob); // false, when run outside a job
 * ```
 */
export function reportProgress(progress: ProgressReport): boolean {
  const reporter = jobReporter();
  if (reporter === undefined) {
    checkProgress(progress);
    return false;
  }
  reporter.progress(progress);
  return true;
}

/**
 * Records the result of the job this process runs in: a JSON object that
 * replaces any result before it (epack's `result` key). The latest progress
 * is written with it.
 *
 * @param result The result; its JSON must be an object of at most 64 KiB.
 * @returns `true` once written, `false` outside a job (nothing is done).
 * @throws {TypeError} If it is not a plain object or cannot be JSON.
 * @throws {RangeError} If its JSON is larger than 64 KiB, or nests more
 * than 100 levels deep.
 * @throws {Error} If the job has ended or the store cannot be written.
 *
 * @example
 * ```ts
 * import { reportResult } from "@epack/detach/report";
 *
 * console.log(await reportResult({ files: 12 })); // false, outside a job
 * ```
 */
export async function reportResult(
  result: Record<string, unknown>,
): Promise<boolean> {
  const reporter = jobReporter();
  if (reporter === undefined) {
    checkResult(result);
    return false;
  }
  await reporter.result(result);
  return true;
}

/**
 * Writes the job's latest progress now, if one waits. A program that ends
 * normally does this by itself; call it before `Deno.exit()`, and to learn
 * of a write that failed.
 *
 * @returns `true` in a job, `false` outside one.
 * @throws {Error} The first progress write that failed since the last flush.
 *
 * @example
 * ```ts
 * import { flushReports, reportProgress } from "@epack/detach/report";
 *
 * reportProgress({ done: 10, total: 10 });
 * await flushReports();
 * ```
 */
export async function flushReports(): Promise<boolean> {
  const reporter = jobReporter();
  if (reporter === undefined) return false;
  await reporter.flush();
  return true;
}
