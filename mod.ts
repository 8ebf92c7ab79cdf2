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

export {
  cancel,
  type CancelOptions,
  type CancelResult,
  DEFAULT_JOB_TIMEOUT,
  DEFAULT_KILL_GRACE,
  defaultJobsDir,
  DetachRecursionError,
  findWorkingDir,
  spawn,
  SpawnError,
  type SpawnOptions,
  type SpawnResult,
  superviseIfRequested,
  waitForJob,
  type WaitOptions,
  WaitTimeoutError,
} from "./detach.ts";
export {
  AmbiguousJobIdError,
  type CompleteOptions,
  type CreateJobOptions,
  type DeleteOptions,
  FINAL_STATUSES,
  type InvalidJobFile,
  InvalidJobFileError,
  InvalidJobIdError,
  type Job,
  JOB_ID_ENV,
  JOB_STATUSES,
  JobNotFoundError,
  type JobStatus,
  JobStore,
  type JobUpdater,
  type ListOptions,
  type ListResult,
  type LivenessLease,
  newJobId,
  parseJobRecord,
  SUPERVISOR_START_GRACE_MS,
  toRecord,
  validateJobId,
} from "./jobs.ts";
export { buildPullFlags, type PullOptions } from "./flags.ts";
export { formatDuration, parseDuration } from "./duration.ts";

if (import.meta.main) {
  const { superviseIfRequested } = await import("./detach.ts");
  await superviseIfRequested();
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args));
}
