/**
 * Controlling and watching jobs: cancel, pause, resume, watch, wait for,
 * remove and clean them, and bound how many run at once. Each function
 * takes a job reference (its ID, its name, or a unique prefix or suffix of
 * its ID of 4 or more characters, as the CLI) and the `store` option.
 *
 * @example Follow a job until it ends
 * ```ts ignore
 * import { watchJob } from "@epack/detach";
 *
 * for await (const job of watchJob("K7QZ")) {
 *   console.log(job.status, job.workerPid ?? "-");
 * }
 * ```
 *
 * @module
 */

export type * from "./store/types.ts";
export {
  cancel,
  type CancelOptions,
  type CancelResult,
} from "./control/cancel.ts";
export { cleanJobs, removeJob } from "./control/clean.ts";
export {
  JobStateError,
  pause,
  type PauseResult,
  resume,
  type ResumeResult,
} from "./control/pause.ts";
export {
  waitForJob,
  WaitTimeoutError,
  watchJob,
  type WatchOptions,
} from "./control/watch.ts";
export {
  getJobLimit,
  type SchedulePass,
  setJobLimit,
} from "./schedule/schedule.ts";
export { MAX_JOB_LIMIT } from "./schedule/limit.ts";
