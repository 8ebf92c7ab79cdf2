// cleanJobs() and removeJob(): removing ended jobs, keeping what must stay.
// control.ts documents them.

import { type Job, statusWord } from "../store/job.ts";
import { isLocalJob, type JobStore } from "../store/contract.ts";
import { type StoreOption, withStore } from "../store/open.ts";
import { isFinalStatus } from "../store/rules.ts";
import { checkDuration } from "../duration.ts";
import { leftovers } from "./cancel.ts";
import { JobStateError } from "./pause.ts";

/**
 * Removes the jobs that ended more than `olderThan` milliseconds ago, with
 * their logs. A lost job whose worker's processes still run is kept: its
 * record is the only handle on them, and {@linkcode cancel} can still stop
 * them. So is a job that a waiting job runs after.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @param olderThan Milliseconds since the job ended.
 * @param options The store.
 * @returns The IDs removed.
 * @throws {RangeError} If `olderThan` is not a whole number of milliseconds
 * in range.
 *
 * @example Remove what ended more than a week ago
 * ```ts ignore
 * import { cleanJobs } from "@epack/detach";
 *
 * const removed = await cleanJobs(7 * 24 * 60 * 60 * 1000);
 * console.log(`removed ${removed.length} jobs`);
 * ```
 */
export async function cleanJobs(
  olderThan: number,
  options: StoreOption = {},
): Promise<string[]> {
  checkDuration("age", olderThan);
  return await withStore(options.store, async (store) => {
    const { waitedOnDuring } = await import("../schedule/schedule.ts");
    return await waitedOnDuring(
      store,
      (waitedOn) =>
        store.clean(olderThan, {
          keep: (job) => keepReason(store, job, waitedOn) !== undefined,
        }),
    );
  });
}

/**
 * Removes one job that has ended: its record and its log (the log cap's
 * `<id>.log.1` too). Refused, with nothing removed, for a job that has not
 * ended, a lost job whose processes still run (or may, on another host),
 * and a job that a waiting job runs after.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @param ref The job: its ID, its name, or a unique prefix or suffix of its
 * ID of at least 4 characters.
 * @param options The store.
 * @returns The job's record as it was.
 * @throws {JobStateError} If the job must stay (the message says why).
 * @throws {JobNotFoundError} If no job matches.
 * @throws {AmbiguousJobIdError} If more than one job matches.
 *
 * @example Remove a job once it has ended
 * ```ts ignore
 * import { removeJob, waitForJob } from "@epack/detach";
 *
 * await waitForJob("nightly-backup");
 * await removeJob("nightly-backup");
 * ```
 */
export async function removeJob(
  ref: string,
  options: StoreOption = {},
): Promise<Job> {
  return await withStore(options.store, async (store) => {
    const id = await store.resolve(ref);
    // Under the scheduler's lock, as clean: no job starts to wait for this
    // one between the look and the removal.
    const { waitedOnDuring } = await import("../schedule/schedule.ts");
    return await waitedOnDuring(store, async (waitedOn) => {
      const job = await store.load(id);
      const why = keepReason(store, job, waitedOn);
      if (why !== undefined) {
        throw new JobStateError(
          id,
          job.status,
          `Cannot remove job ${id}: ${why}`,
        );
      }
      await store.delete(id);
      return job;
    });
  });
}

/** Why a job must stay, if it must: the one rule of clean and remove. */
function keepReason(
  store: JobStore,
  job: Job,
  waitedOn: ReadonlySet<string>,
): string | undefined {
  if (!isFinalStatus(job.status)) {
    return `it has not ended (${statusWord(job.status)})`;
  }
  if (waitedOn.has(job.id)) return "a waiting job runs after it";
  if (job.status !== "lost") return undefined;
  // Another host's processes cannot be looked for from here: kept, as a
  // job whose processes may still run.
  if (!isLocalJob(store, job)) {
    return `it was lost on host ${job.host}, where its processes may still run`;
  }
  const left = leftovers(store, job);
  return left !== undefined && left.length > 0
    ? `it was lost, and its processes still run (PID ${
      left.map((p) => p.pid).join(", ")
    })`
    : undefined;
}
