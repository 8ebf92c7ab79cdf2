// One attempt's worker under the Deno supervisor: the one place where it
// makes a job's process, and why one could not run its program.

import type { Job } from "../store/job.ts";
import { JOB_ID_ENV } from "../store/job_id.ts";
import { STORE_ENV } from "../store/open.ts";
import { type ProcessGroup, startGroup } from "../process/group.ts";
import {
  describeLookupFailure,
  findExecutable,
  type LookupFailure,
} from "../spawn/which.ts";
import { unquietLaunch } from "../process/signals.ts";

/**
 * `sh -c REDIRECT sh <log> <argv...>`: the shell appends its output to the
 * log (O_APPEND: the cap's truncation and our notes never clash with it)
 * and execs the program, which keeps its PID and group; the kernel writes
 * the log. `$0` is `sh`, so a failure says "sh: …", not the log's path.
 */
export const REDIRECT = 'f=$1; shift; exec "$@" >>"$f" 2>&1';

/**
 * Starts one attempt of the job's worker in its own session and process
 * group, with its output going to the log.
 *
 * @param job The job.
 * @param storeName The job's store, for the worker's reports.
 * @param grace The job's grace between SIGTERM and SIGKILL.
 * @throws If the shell cannot be started.
 */
export function startWorker(
  job: Job,
  storeName: string,
  grace: number,
): ProcessGroup {
  return startGroup("/bin/sh", {
    args: ["-c", REDIRECT, "sh", job.logPath, ...job.argv ?? []],
    // The worker's signals are its own, not the supervisor's blocked ones.
    via: unquietLaunch(),
    cwd: job.workingDir,
    // The mark tells the job's processes from strangers once the worker is
    // gone; the store is the job's default (for its `jobs` commands and
    // report.ts).
    env: { [JOB_ID_ENV]: job.id, [STORE_ENV]: storeName },
    grace,
    mark: `${JOB_ID_ENV}=${job.id}`,
  });
}

/**
 * Why the shell may fail to run the job's program, looked up as the shell
 * will (the supervisor's PATH is the worker's), just before each attempt;
 * `undefined` when it can run, or when it cannot be told (no permission to
 * read PATH or the files). Only with this can exit codes 126 and 127 be
 * called the shell's: a program may exit with them itself.
 */
export function lookUpProgram(job: Job): LookupFailure | undefined {
  const program = job.argv?.[0];
  if (program === undefined) return undefined;
  try {
    const found = findExecutable(program, {
      cwd: job.workingDir ?? Deno.cwd(),
      path: Deno.env.get("PATH") ?? "",
    });
    return found.ok ? undefined : found;
  } catch {
    return undefined;
  }
}

/**
 * Why a worker that exited with `code` could not run its program, in the
 * shell's words ("command not found: /x"), when the lookup before the
 * attempt found the program missing or not executable and the code is the
 * shell's for that; `undefined` otherwise: a program may exit 126 or 127
 * itself.
 */
export function notRunnable(
  code: number,
  program: string,
  lookup: LookupFailure | undefined,
): string | undefined {
  if (lookup === undefined) return undefined;
  const { message, exitCode } = describeLookupFailure(program, lookup);
  if (exitCode !== code) return undefined;
  return `${message[0].toLowerCase()}${message.slice(1)}`;
}
