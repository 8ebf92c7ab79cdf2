/**
 * @epack/detach runs command-line operations as detached background jobs and
 * keeps an honest record of each: completed, failed (with exit code or
 * signal), timed out, cancelled, or lost when its process died.
 *
 * - {@linkcode spawn} starts a job and returns its ID at once; the job runs
 *   on in its own session, its output in a log file, and a supervisor records
 *   how it ends.
 * - {@linkcode waitForJob}, {@linkcode watchJob}, {@linkcode cancel},
 *   {@linkcode pause} and {@linkcode resume} act on a job by its ID or a
 *   unique prefix or suffix of it, as the CLI does.
 * - {@linkcode openStore} opens the job store (a jobs directory, or a
 *   PostgreSQL database shared by hosts); every function takes it, or its
 *   name, as the `store` option.
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
 * const { jobId, logPath } = await spawn({ subcommand: "sync", args: ["--all"] });
 * console.log(`started ${jobId}; output in ${logPath}`);
 * ```
 *
 * @module
 */

// Everything of "@epack/detach/detach" (spawn) and "@epack/detach/control"
// (act on jobs), and the main names of the other entry points: the store
// ("/store", "/jobs"), reports ("/report") and pull flags ("/flags").
export * from "./detach.ts";
export * from "./control.ts";
export { openStore } from "./store.ts";
export {
  AmbiguousJobIdError,
  FileJobStore,
  InvalidJobIdError,
  JobNotFoundError,
} from "./jobs.ts";
export { flushReports, reportProgress, reportResult } from "./report.ts";
export { buildPullFlags, type PullOptions } from "./flags.ts";
import { superviseIfRequested as supervise } from "./detach.ts";

if (import.meta.main) {
  await supervise();
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args));
} else if (Deno.args === null) {
  // Never run: names the CLI's commands, which cli/main.ts loads by
  // computed specifiers, for `deno compile mod.ts` and `deno publish`.
  await import("./cli/run.ts");
  await import("./cli/pull/pull.ts");
  await import("./cli/jobs/main.ts");
}
