// How a job's supervisor is started, by spawn() or, for a job that starts
// later, by whichever process runs the scheduler; and the two files beside
// the records that say whether the scheduler has anything to do. Small on
// purpose: detach.ts loads it in every program, the scheduler only when
// these files say so.

import { join } from "./_path.ts";

/** The argument that starts the program as a supervisor. Internal. */
export const SUPERVISE_ARG = "__epack_detach_supervise__";

/** Carries a database store's URL to the supervisor. Internal. */
export const SUPERVISOR_STORE_ENV = "EPACK_DETACH_SUPERVISOR_STORE";

/** The jobs directory's parallel limit: a whole number, in text. */
export const LIMIT_FILE = "limit";

/**
 * Present while some job of the directory may be `waiting` or `queued`:
 * set before such a job is created, and set or removed by each scheduler
 * pass, all under the scheduler lock, so it is never absent while one is.
 * Hidden, so no listing or clean takes it for a job's file.
 */
export const PENDING_FILE = ".pending";

/** The scheduler's lock: one pass at a time per jobs directory. */
export const SCHEDULE_LOCK_FILE = ".schedule.lock";

/**
 * The one wording of the refusal of scheduling (`after`, the parallel
 * limit) on a store that has no jobs directory.
 *
 * @param what What is refused, as the subject of the sentence.
 * @returns The message.
 */
export function needsJobsDir(what: string): string {
  return `${what} needs a jobs directory store; a PostgreSQL store does not support it yet`;
}

/** Whether the file `name` exists in `dir`. */
export function hasFile(dir: string, name: string): boolean {
  try {
    Deno.lstatSync(join(dir, name));
    return true;
  } catch (err) {
    // A path through a regular file has no such file either; whoever
    // writes there reports it.
    if (
      err instanceof Deno.errors.NotFound ||
      err instanceof Deno.errors.NotADirectory
    ) return false;
    throw err;
  }
}

/** How {@linkcode launchSupervisor} starts the supervisor. */
export interface LaunchOptions {
  /** Its working directory (the job's). */
  cwd?: string;
  /** Its environment: the whole of it when `clearEnv`, else added. */
  env?: Record<string, string>;
  /** Start from an empty environment rather than this process's. */
  clearEnv?: boolean;
}

/**
 * Starts a job's supervisor, detached in its own session with no stdio,
 * and lets this process exit without waiting for it.
 *
 * @param argv The program and its arguments before the supervisor's own.
 * @param store The jobs directory, or `""` when the store's URL comes in
 * the environment.
 * @param id The job ID.
 * @param options Its working directory and environment.
 * @returns The supervisor's process.
 * @throws {Error} If it could not be started (the runtime's error).
 */
export function launchSupervisor(
  argv: readonly string[],
  store: string,
  id: string,
  options: LaunchOptions = {},
): Deno.ChildProcess {
  const child = new Deno.Command(argv[0], {
    args: [...argv.slice(1), SUPERVISE_ARG, store, id],
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv ?? false,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  return child;
}
