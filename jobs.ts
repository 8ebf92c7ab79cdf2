/**
 * Job records and the file store: one JSON record, log and liveness file
 * per job in a jobs directory. The records are epack's Go `jobs.Job`, so
 * each reads the other's.
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
