/**
 * Runs commands as detached background jobs: {@linkcode spawn} starts a
 * supervisor, in a session of its own, that runs the worker, logs its
 * output and records how it ended. A program that calls `spawn()` needs one
 * line at the top of its entry module.
 *
 * @example Detach one of the program's own commands
 * ```ts ignore
 * import { spawn, superviseIfRequested } from "@epack/detach";
 *
 * await superviseIfRequested(); // the one line: must run before anything else
 *
 * if (Deno.args[0] === "--detach") {
 *   const { jobId, logPath } = await spawn({ subcommand: "work" });
 *   console.log(`job ${jobId}, log in ${logPath}`);
 * } else if (Deno.args[0] === "work") {
 *   console.log("working in the background");
 * }
 * ```
 *
 * @module
 */

import { markSupervisorHook } from "./spawn/plan.ts";
import { SUPERVISE_ARG } from "./spawn/launch.ts";

export { spawn, type SpawnResult } from "./spawn/spawn.ts";
export type { SpawnOptions } from "./spawn/plan.ts";
export { DetachRecursionError, SpawnError } from "./spawn/errors.ts";
export {
  DEFAULT_JOB_TIMEOUT,
  DEFAULT_KILL_GRACE,
} from "./store/job_options.ts";
export { defaultJobsDir } from "./store/open.ts";
export { DependencyCycleError } from "./schedule/schedule.ts";
export type * from "./store/types.ts";

/**
 * The one line a program that calls {@linkcode spawn} needs, before it
 * parses its arguments: in a job's supervisor it supervises the job and
 * exits; elsewhere it returns at once.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run`, as `spawn()`.
 *
 * @returns Nothing, when this process is not a supervisor.
 */
export async function superviseIfRequested(): Promise<void> {
  markSupervisorHook();
  if (Deno.args[0] !== SUPERVISE_ARG) return;
  // Not imported statically (see _supervise.ts).
  const { supervise } = await import("./_supervise.ts");
  await supervise(Deno.args);
}
