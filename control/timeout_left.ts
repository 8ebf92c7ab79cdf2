// How much of a job's timeout is left, for pause() and `jobs <id>`; apart,
// so that the CLI's details load no store or process code.

import type { Job } from "../store/job.ts";
import { formatDuration } from "../duration.ts";

/**
 * Milliseconds until a job's timeout passes, from when its supervisor took
 * it, pauses included; `undefined` for a job without a timeout.
 */
export function timeoutLeft(job: Job, now: number): number | undefined {
  if (job.timeout === undefined || job.timeout <= 0) return undefined;
  const from = (job.supervisedAt ?? job.startedAt).getTime();
  return Math.max(0, from + job.timeout - now);
}

/** "its timeout keeps counting: 23m left" and the like, for a paused job. */
export function timeoutClause(job: Job, now: number): string {
  const left = timeoutLeft(job, now);
  if (left === undefined) return "it has no timeout";
  if (left === 0) return "its timeout has passed: it is being stopped";
  return `its timeout keeps counting: ${wholeSeconds(left)} left`;
}

/** A duration for a message: whole seconds, at least one. */
export function wholeSeconds(ms: number): string {
  return formatDuration(Math.max(1_000, Math.floor(ms / 1_000) * 1_000));
}
