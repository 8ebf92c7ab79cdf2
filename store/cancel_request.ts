// How a cancel reaches a job's supervisor: cancel() writes its request into
// the job's record under the store's lock, then signals the supervisor, which
// reads the record back. Both sides use the two functions here, so they agree
// on what the record says.
//
// The on-disk format is frozen, so the request lives in two fields that
// exist: `cancel_requested_at` is when the first cancel came, and `grace_ms`
// is set so that `cancel_requested_at + grace_ms` is the earliest SIGKILL
// deadline any cancel has asked for. A later cancel with a shorter grace
// moves that sum earlier; a longer one leaves it as it is. So one sum tells a
// supervisor, even one already stopping the job, when SIGKILL is due.

import { isSupervisedStatus, type Job } from "./job.ts";
import { DEFAULT_KILL_GRACE } from "../timeout.ts";

/**
 * When SIGKILL is due for the cancel requested in `job`, in milliseconds
 * since the epoch; `undefined` if no cancel was requested.
 *
 * @param job The job as recorded.
 * @returns The deadline, or `undefined`.
 */
export function cancelDeadline(job: Job): number | undefined {
  if (job.cancelRequestedAt === undefined) return undefined;
  return job.cancelRequestedAt.getTime() + (job.grace ?? DEFAULT_KILL_GRACE);
}

/**
 * Records a cancel request in a running job's record (an updater for
 * `JobStore.update`): the first request, or a shorter deadline than the one
 * pending. A job that has ended, or a later deadline, leaves the record as
 * it is.
 *
 * @param job The record as it is, under the store's lock.
 * @param killAt When this cancel wants SIGKILL sent, in epoch milliseconds.
 * @param now The time of the request.
 * @returns The record to write.
 */
export function requestCancel(job: Job, killAt: number, now: number): Job {
  if (!isSupervisedStatus(job.status)) return job;
  const pending = cancelDeadline(job);
  if (pending === undefined) {
    job.cancelRequestedAt = new Date(now);
    job.grace = Math.max(0, killAt - now);
  } else if (killAt < pending) {
    // The first request's time stays true; the grace is what is left of it
    // for the earlier deadline (never negative, should clocks disagree).
    job.grace = Math.max(0, killAt - job.cancelRequestedAt!.getTime());
  }
  return job;
}
