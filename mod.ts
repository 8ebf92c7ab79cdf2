/**
 * @epack/detach runs command-line operations as detached background jobs and
 * keeps an honest record of each: completed, failed (with exit code or
 * signal), timed out, cancelled, or lost when its process died.
 *
 * - {@linkcode spawn} starts a job and returns its ID at once; the job runs
 *   on in its own session, its output in a log file, and a supervisor records
 *   how it ends.
 * - {@linkcode JobStore} reads and writes the job records (epack's JSON
 *   format), atomically and under a cross-process lock.
 * - {@linkcode buildPullFlags} turns pull options into the flags of a
 *   background pull.
 *
 * Run as a program (`deno run -A mod.ts`), it is the `epack` CLI: `pull`,
 * `run` and `jobs`.
 *
 * @example Detach a command of your own program
 * ```ts ignore
 * import { spawn, superviseIfRequested } from "@epack/detach";
 *
 * await superviseIfRequested(); // lets this program act as a job's supervisor
 *
 * const { jobId, logPath } = await spawn({ command: "sync", args: ["--all"] });
 * console.log(`started ${jobId}; output in ${logPath}`);
 * ```
 *
 * @module
 */

// The public API: what a user of the lifecycle (spawn → supervise → record
// → read) needs. The store's option types and JOB_ID_ENV are in
// "@epack/detach/jobs", log reading in "@epack/detach/logs", durations in
// "@epack/detach/duration" and the stop policy in "@epack/detach/timeout".
export {
  DEFAULT_JOB_TIMEOUT,
  defaultJobsDir,
  DetachRecursionError,
  spawn,
  SpawnError,
  type SpawnOptions,
  type SpawnResult,
  superviseIfRequested,
} from "./detach.ts";
export {
  cancel,
  type CancelOptions,
  type CancelResult,
  cleanJobs,
  JobStateError,
  pause,
  type PauseOptions,
  type PauseResult,
  resume,
  type ResumeResult,
  waitForJob,
  WaitTimeoutError,
  watchJob,
  type WatchOptions,
} from "./control.ts";
export { DEFAULT_KILL_GRACE } from "./timeout.ts";
export type { JobControlOptions } from "./store/job_options.ts";
export {
  DependencyCycleError,
  getJobLimit,
  type JobLimitOptions,
  MAX_JOB_LIMIT,
  type SchedulePass,
  setJobLimit,
} from "./schedule/schedule.ts";
export {
  flushReports,
  type ProgressReport,
  reportProgress,
  reportResult,
} from "./report.ts";
export {
  AmbiguousJobIdError,
  InvalidJobIdError,
  type Job,
  JobNotFoundError,
  type JobStatus,
  JobStore,
} from "./jobs.ts";
export { buildPullFlags, type PullOptions } from "./flags.ts";
import { superviseIfRequested as supervise } from "./detach.ts";

if (import.meta.main) {
  // The static binding, not a dynamic import of detach.ts: that module is
  // loaded already, and a dynamic import still costs a trip (~1 ms).
  await supervise();
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args));
}
