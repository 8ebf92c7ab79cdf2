// One attempt's worker: the one place where a job's process is made, and
// the words for how it ended.

import type { Job } from "../store/job.ts";
import { JOB_ID_ENV } from "../store/job_id.ts";
import { STORE_ENV } from "../store/open.ts";
import {
  type GroupStop,
  type ProcessGroup,
  startGroup,
} from "../process/group.ts";
import {
  describeLookupFailure,
  findExecutable,
  type LookupFailure,
} from "../spawn/which.ts";
import { unquietLaunch } from "../process/signals.ts";
import { formatDuration } from "../duration.ts";

/**
 * `sh -c REDIRECT sh <log> <argv...>`: the shell appends its stdout and
 * stderr to the log (O_APPEND, so the log cap's truncation and the
 * supervisor's notes never clash with it) and execs the program, which
 * keeps the shell's PID and so its process group. The kernel writes the
 * log: nothing passes through JavaScript. `$0` is `sh`, so a shell that
 * cannot run the program says "sh: …", not the log's path.
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
    // The signals the supervisor was started with blocked are delivered to
    // the worker again: its signals are its own.
    via: unquietLaunch(),
    cwd: job.workingDir,
    // Marks every process of the job, so a lost job's processes can be
    // told from strangers once the worker is gone (and those that leave
    // its group are stopped with it); the job may read it too. The store
    // is its default store (for `jobs` commands it runs) and where
    // report.ts writes its progress and result.
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
 * The record's error for a worker that exited with `code` on its own:
 * "Exited with code N", and for the shell's 127 or 126, why, when the
 * lookup before the attempt found the program missing or not executable.
 */
export function exitMessage(
  code: number,
  program: string,
  lookup: LookupFailure | undefined,
): string {
  if (lookup !== undefined) {
    const { message, exitCode } = describeLookupFailure(program, lookup);
    if (exitCode === code) {
      return `Exited with code ${code}: ${message[0].toLowerCase()}${
        message.slice(1)
      }`;
    }
  }
  return `Exited with code ${code}`;
}

/** What a stop of the worker's group did, as the record says it. */
export function describeStop(stop: GroupStop): string {
  if (stop.result === undefined) {
    return `; stopping it failed: ${String(stop.error)}`;
  }
  const r = stop.result;
  // The record says what was seen to survive, never more than that.
  return (r.killed
    ? `; still running ${
      formatDuration(stop.killAt - stop.startedAt)
    } after SIGTERM, so killed with SIGKILL`
    : "; sent SIGTERM") +
    (r.escaped === undefined
      ? "; processes that left its group could not be looked for"
      : r.escaped.length > 0
      ? `; ${r.escaped.length} process(es) that had left its group were stopped too`
      : "") +
    (r.remaining.length > 0
      ? `; still running after SIGKILL: PID ${r.remaining.join(", ")}`
      : "");
}
