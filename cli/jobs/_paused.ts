// What `jobs <id>` says of a paused job: since when, and that its timeout
// keeps counting. A pure function, for the details page to call.

import type { Job } from "../../jobs.ts";
import { timeoutClause } from "../../control/timeout_left.ts";
import { localTime, relativeTime } from "../_output.ts";

/**
 * The value of a "Paused" line in the details of a job: when it was paused
 * and what is left of its timeout, such as `since 2026-11-24 21:55:01 (3
 * minutes ago); its timeout keeps counting: 23m left`. `undefined` for a job
 * that is not paused, so a caller can pass it on to its "add a row if
 * known" helper.
 */
export function pausedDetail(job: Job, now: number): string | undefined {
  if (job.status !== "paused") return undefined;
  const since = job.pausedAt === undefined
    ? "since a time not recorded"
    : `since ${localTime(job.pausedAt)} (${relativeTime(job.pausedAt, now)})`;
  return `${since}; ${timeoutClause(job, now)}`;
}
