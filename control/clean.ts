// cleanJobs(): removing ended jobs, keeping what must stay. control.ts
// documents it.

import type { Job } from "../store/job.ts";
import { isLocalJob } from "../store/contract.ts";
import { type StoreOption, withStore } from "../store/open.ts";
import { checkDuration } from "../duration.ts";
import { leftovers } from "./cancel.ts";

/**
 * Removes the jobs that ended more than `olderThan` milliseconds ago, with
 * their logs. A lost job whose worker's processes still run is kept: its
 * record is the only handle on them, and {@linkcode cancel} can still stop
 * them.
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
    const keep = (waitedOn: ReadonlySet<string>) => (job: Job) => {
      if (waitedOn.has(job.id)) return true;
      if (job.status !== "lost") return false;
      // Another host's processes cannot be looked for from here: kept, as
      // a job whose processes may still run.
      if (!isLocalJob(store, job)) return true;
      const left = leftovers(job);
      return left !== undefined && left.length > 0;
    };
    // What waiting jobs run after is kept, under the scheduler's lock (a
    // store that cannot schedule has none).
    const { waitedOnDuring } = await import("../schedule/schedule.ts");
    return await waitedOnDuring(
      store,
      (waitedOn) => store.clean(olderThan, { keep: keep(waitedOn) }),
    );
  });
}
