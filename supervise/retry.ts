// The supervisor's retry bookkeeping: the record's list of attempts, the
// pause between two attempts that a stop cuts short, and the marker line the
// log gets between them. The retry loop itself is in run.ts.

import type { Job, JobAttempt } from "../store/job.ts";
import type { JobStore } from "../store/contract.ts";
import { formatDuration } from "../duration.ts";
import { scheduleTimeout } from "../util/timer.ts";
import { warn } from "./log_note.ts";

/** Waits `ms`, or less if `wake` settles first. */
export async function pauseUnless(
  ms: number,
  wake: Promise<void>,
): Promise<void> {
  if (!(ms > 0)) return;
  let timer: Disposable | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve) => {
        timer = scheduleTimeout(ms, resolve);
      }),
      wake,
    ]);
  } finally {
    timer?.[Symbol.dispose]();
  }
}

/** "exit code 3" or "killed by SIGKILL": how one attempt's worker ended. */
export function describeWorkerEnd(
  ended: { exitCode?: number; signal?: string },
): string {
  return ended.signal !== undefined
    ? `killed by ${ended.signal}`
    : `exit code ${ended.exitCode}`;
}

/** One attempt's end, as the record keeps it. */
type AttemptEnd = Omit<JobAttempt, "startedAt">;

/**
 * The record's list of attempts (`attempts`), for a job with retries: each
 * attempt is added as its worker starts (in the write that records the
 * worker's PID) and completed as it ends, in a durable write of its own
 * under the store's lock.
 */
export class Attempts {
  readonly #store: JobStore;
  readonly #id: string;
  readonly #total: number;

  constructor(store: JobStore, id: string, retries: number) {
    this.#store = store;
    this.#id = id;
    this.#total = retries + 1;
  }

  /**
   * Adds an attempt started at `startedAt` to the record `job`. A new
   * attempt starts with no progress and no result: what a failed attempt
   * reported is not the job's (the job's end is the last attempt's). A
   * report the new worker made before this write is lost, and its next
   * one, due within the throttle interval, puts it back.
   */
  started(job: Job, startedAt: Date): void {
    if ((job.attempts ?? []).length > 0) {
      delete job.progress;
      delete job.result;
    }
    job.attempts = [...job.attempts ?? [], { startedAt }];
  }

  /**
   * Records the end of the attempt started at `startedAt`. A failed write
   * is told on stderr and not retried: the job goes on, and its own end
   * (which says how the last attempt ended) is recorded with patience.
   */
  async ended(startedAt: Date, end: AttemptEnd): Promise<void> {
    try {
      await this.#store.update(this.#id, (j) => {
        const list = [...j.attempts ?? []];
        const i = list.findLastIndex((a) =>
          a.startedAt.getTime() === startedAt.getTime()
        );
        if (i >= 0) list[i] = { startedAt, ...end };
        else list.push({ startedAt, ...end });
        j.attempts = list;
        return j;
      });
    } catch (err) {
      warn(`cannot record the end of an attempt of job ${this.#id}: ${err}`);
    }
  }

  /** " (attempt 2 of 3)", said in the job's error. */
  of(n: number): string {
    return ` (attempt ${n} of ${this.#total})`;
  }
}

/**
 * The log's line between two attempts (after the `[@epack/detach]` prefix):
 * `attempt 2 of 4 after exit code 3, in 1.874s`.
 */
export function retryNote(
  next: number,
  total: number,
  ended: { exitCode?: number; signal?: string },
  pause: number,
): string {
  const after = ended.signal !== undefined
    ? ended.signal
    : `exit code ${ended.exitCode}`;
  return `attempt ${next} of ${total} after ${after}, in ${
    formatDuration(pause)
  }`;
}
