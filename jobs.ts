/**
 * Job records and the file store: one JSON record (epack's format), one
 * log and one liveness file per job in a jobs directory, written atomically
 * and updated under a cross-process lock. The records use the key names and
 * types of epack's Go `jobs.Job`, so the Go CLI reads our files and we read
 * its files.
 *
 * @example Create a job, record its end, read it back
 * ```ts
 * import { FileJobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * await using store = new FileJobStore(dir);
 * const job = await store.create({ command: "pull", args: ["https://example.com/r"] });
 * await store.finish(job.id, { status: "completed", exitCode: 0 });
 * console.log((await store.load(job.id)).status); // completed
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export type * from "./store/types.ts";
export { FileJobStore } from "./store/file_store.ts";
export { InvalidJobFileError, JOB_STATUSES } from "./store/job.ts";
export {
  AmbiguousJobIdError,
  InvalidJobIdError,
  JOB_ID_ENV,
  JobNotFoundError,
  validateJobId,
} from "./store/job_id.ts";
export { isFinalStatus, SUPERVISOR_START_GRACE_MS } from "./store/rules.ts";
