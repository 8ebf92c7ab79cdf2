/**
 * Reports from inside a job: how far it has got (its progress) and what it
 * produced (its result). Both go into the job's record, under the store's
 * lock, on either store (a jobs directory or PostgreSQL), where `jobs`,
 * `jobs <id>`, `waitForJob()` and epack's Go code read them.
 *
 * A job's worker knows its job from `EPACK_DETACH_JOB_ID` and its store from
 * `EPACK_DETACH_STORE`, both set by the job's supervisor. Outside a job the
 * calls do nothing and say so (they return `false`): a program that runs
 * both in the foreground and as a job reports the same way in both. Invalid
 * values are refused everywhere, so a mistake shows in the foreground too.
 *
 * Progress is throttled: {@linkcode reportProgress} only keeps the latest
 * value (a few microseconds), and at most one write per interval (1 s, see
 * {@linkcode setReportInterval}) takes it to the record, with a last write
 * so the final value lands. A worker may report every chunk it reads.
 *
 * Requires `--allow-env` (to read the two variables; without it the calls
 * are no-ops) and, in a job, what the store needs: `--allow-read` and
 * `--allow-write` on the jobs directory, or `--allow-net` for PostgreSQL.
 *
 * @example A worker that reports as it goes
 * ```ts ignore
 * import { flushReports, reportProgress, reportResult } from "@epack/detach/report";
 *
 * const files = [...Deno.readDirSync(".")].filter((e) => e.isFile);
 * for (const [i, file] of files.entries()) {
 *   reportProgress({ done: i, total: files.length, unit: "files", message: file.name });
 *   // ... work on the file ...
 * }
 * reportProgress({ done: files.length, total: files.length, unit: "files" });
 * await reportResult({ files: files.length });
 * await flushReports(); // before Deno.exit(); a normal end flushes by itself
 * ```
 *
 * @module
 */

import { JOB_ID_ENV } from "./store/job_id.ts";
import { STORE_ENV } from "./store/env.ts";
import { readEnv } from "./util/permissions.ts";
import {
  checkInterval,
  checkProgress,
  checkResult,
  JobReporter,
} from "./store/reporter.ts";
import type { ProgressReport } from "./store/job.ts";

export type { ProgressReport };

let current: JobReporter | null | undefined;

/**
 * The reporter of the job this process runs in, made on first use from
 * `EPACK_DETACH_JOB_ID` and `EPACK_DETACH_STORE`; `undefined` outside a job
 * (or without `--allow-env`).
 */
function jobReporter(): JobReporter | undefined {
  if (current !== undefined) return current ?? undefined;
  // Without --allow-env nothing says this is a job.
  const jobId = readEnv(JOB_ID_ENV);
  if (jobId === undefined) {
    current = null;
    return undefined;
  }
  // A job's worker gets its store in the environment; a process that has
  // only the job's ID looks where every call looks (one rule), and learns
  // of a job it cannot find when the report is written.
  current = new JobReporter({ jobId, store: readEnv(STORE_ENV) });
  // A program that ends normally lands its last progress: new work started
  // here keeps the event loop going until it is written.
  globalThis.addEventListener("beforeunload", (event) => {
    const reporter = current;
    if (!reporter?.waiting) return;
    // Neither the write's operations nor a timer started here hold the
    // event loop (Deno 2.9.6); cancelling the event does, and it comes
    // again once the write is done.
    event.preventDefault();
    reporter.flush().catch(() => {});
  });
  return current;
}

/**
 * Reports the progress of the job this process runs in. Cheap enough to
 * call for every chunk: the value is kept, and written at most once per
 * interval (see {@linkcode setReportInterval}), the latest one always.
 * Write errors surface at {@linkcode flushReports}.
 *
 * @param progress What is done, of what, in what unit, with a note.
 * @returns `true` in a job, `false` outside one (nothing is done).
 * @throws {TypeError} If a field has the wrong type (in a job or not).
 * @throws {RangeError} If a number is negative or not finite, `done` is
 * more than `total`, or a text is too long or holds a control character.
 *
 * @example
 * ```ts
 * import { reportProgress } from "@epack/detach/report";
 *
 * const inJob = reportProgress({ done: 42, total: 100, unit: "files" });
 * console.log(inJob); // false, when run outside a job
 * ```
 */
export function reportProgress(progress: ProgressReport): boolean {
  return inJob(() => checkProgress(progress), (r) => r.progress(progress));
}

/**
 * Records the result of the job this process runs in, at once: a JSON
 * object that replaces any result before it (epack's `result` key). The
 * latest progress is written with it.
 *
 * @param result The result; its JSON must be an object of at most 64 KiB.
 * @returns `true` once written, `false` outside a job (nothing is done).
 * @throws {TypeError} If it is not a plain object or cannot be JSON.
 * @throws {RangeError} If its JSON is larger than 64 KiB, or nests more
 * than 100 levels deep.
 * @throws {Error} If the job has ended or the store cannot be written.
 *
 * @example
 * ```ts
 * import { reportResult } from "@epack/detach/report";
 *
 * console.log(await reportResult({ files: 12 })); // false, outside a job
 * ```
 */
export async function reportResult(
  result: Record<string, unknown>,
): Promise<boolean> {
  const reporter = jobReporter();
  if (reporter === undefined) checkResult(result);
  else await reporter.result(result);
  return reporter !== undefined;
}

/**
 * Writes the job's latest progress now, if one waits. A program that ends
 * normally does this by itself; call it before `Deno.exit()`, and to learn
 * of a write that failed.
 *
 * @returns `true` in a job, `false` outside one.
 * @throws {Error} The first progress write that failed since the last flush.
 *
 * @example
 * ```ts
 * import { flushReports, reportProgress } from "@epack/detach/report";
 *
 * reportProgress({ done: 10, total: 10 });
 * await flushReports();
 * ```
 */
export async function flushReports(): Promise<boolean> {
  const reporter = jobReporter();
  if (reporter === undefined) return false;
  await reporter.flush();
  return true;
}

/**
 * Sets the least time between two progress writes of the job this process
 * runs in (1 s by default); it applies from the next write.
 *
 * @param ms Milliseconds, 50 or more.
 * @returns `true` in a job, `false` outside one (the value is still checked).
 * @throws {RangeError} If it is below 50 or not finite.
 */
export function setReportInterval(ms: number): boolean {
  return inJob(() => checkInterval(ms), (r) => r.interval = ms);
}

/** Acts in a job; outside one, only checks (the calls' one shape). */
function inJob(check: () => unknown, act: (r: JobReporter) => unknown) {
  const reporter = jobReporter();
  if (reporter === undefined) check();
  else act(reporter);
  return reporter !== undefined;
}
