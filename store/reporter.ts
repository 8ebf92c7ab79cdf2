// The writer of one job's progress and result (report.ts documents them):
// progress throttled to one write per interval, always the latest value,
// with a trailing write so the last one lands; the result at once. A job
// that has ended keeps its end: later progress is dropped, a result refused.

import type { Job, ProgressReport } from "./job.ts";
import { isFinalStatus } from "./rules.ts";
import {
  MAX_RESULT_BYTES,
  progressProblem,
  resultDepthProblem,
} from "./report_rules.ts";
import type { JobStore } from "./contract.ts";

/** The time between two progress writes when none is given: 1 s. */
export const DEFAULT_PROGRESS_INTERVAL = 1_000;

/** The shortest time between two progress writes that may be set: 50 ms. */
export const MIN_PROGRESS_INTERVAL = 50;

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

/** Writes one job's progress and result to its record. */
export class JobReporter implements AsyncDisposable {
  readonly jobId: string;
  // A name is opened on the first write and closed on dispose; an open
  // store is the caller's, and left open.
  readonly #storeName: string | undefined;
  #store: JobStore | undefined;
  #opening: Promise<JobStore> | undefined;
  #interval: number;
  #pending: Pending | undefined;
  #lastWrite = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;
  #error: unknown;
  #ended: string | undefined;
  #writes = 0;

  constructor(
    options: { jobId: string; store?: string | JobStore; interval?: number },
  ) {
    this.jobId = options.jobId;
    if (typeof options.store === "object") this.#store = options.store;
    else this.#storeName = options.store ?? "";
    this.#interval = checkInterval(
      options.interval ?? DEFAULT_PROGRESS_INTERVAL,
    );
  }

  /** The least time between two progress writes; applies from the next. */
  get interval(): number {
    return this.#interval;
  }

  set interval(ms: number) {
    this.#interval = checkInterval(ms);
  }

  /** How many writes were made: for tests and benchmarks of the throttle. */
  get writes(): number {
    return this.#writes;
  }

  /** The status of the job if a write found it ended (and was dropped). */
  get ended(): string | undefined {
    return this.#ended;
  }

  /** Whether a flush would have something to do. */
  get waiting(): boolean {
    return this.#pending !== undefined || this.#writing !== undefined;
  }

  /**
   * Keeps the value, written at the next free slot: at once if no write
   * happened within the interval, else when it ends. Write errors surface
   * at flush().
   */
  progress(progress: ProgressReport): void {
    const value = checkProgress(progress);
    if (this.#ended !== undefined) return;
    this.#pending = { value, at: Date.now() };
    this.#schedule();
  }

  /** Writes the result, with the latest progress, at once. */
  async result(result: Record<string, unknown>): Promise<void> {
    const value = checkResult(result);
    this.#clearTimer();
    await this.#writing;
    const pending = this.#pending;
    this.#pending = undefined;
    this.#lastWrite = Date.now();
    await this.#write(pending, value);
  }

  /** Writes what waits, and throws the first write error since the last. */
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
      this.#ended = err.job.status;
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
      // report.ts (and runs outside a job) loads no store.
      const { openStore } = await import("./open.ts");
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

export function checkInterval(ms: number): number {
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
export function checkProgress(p: ProgressReport): ProgressReport {
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
export function checkResult(
  result: Record<string, unknown>,
): Record<string, unknown> {
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
