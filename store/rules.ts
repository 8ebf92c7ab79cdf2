// The rules every store applies to a job's record, written once. The file
// store calls these functions; the PostgreSQL store calls the same ones for
// what it decides in TypeScript, and builds its SQL from the same data
// (store/pg_sql.ts), so the two cannot drift apart.
//
// Updaters here are pure: they take the record as it is and return the new
// one, and may run more than once (the PostgreSQL store re-runs an update
// whose row changed under it). What follows a write (a signal, a pass of the
// scheduler) is the caller's, after the write that decided it.

import type { FinalStatus, Job, JobEnd, JobStatus } from "./job.ts";
import type { CleanOptions } from "./contract.ts";
import { DEFAULT_KILL_GRACE } from "./job_options.ts";

/** Statuses whose job has a supervisor holding its liveness. */
export const SUPERVISED_STATUSES: readonly JobStatus[] = ["running", "paused"];

/** Statuses that mean the job has ended and will not change again. */
export const FINAL_STATUSES: readonly FinalStatus[] = [
  "completed",
  "failed",
  "timed_out",
  "cancelled",
  "lost",
];

/** Statuses of a job that has not started and has no process. */
export const UNSTARTED_STATUSES: readonly JobStatus[] = ["waiting", "queued"];

/**
 * How long after its start a job whose supervisor has not yet taken its
 * liveness is still presumed to be starting: 30 s. After that it is lost,
 * and a supervisor that comes later does not run it.
 */
export const SUPERVISOR_START_GRACE_MS = 30_000;

/** Whether a status is final: the job has ended and will not change again. */
export function isFinalStatus(status: JobStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly JobStatus[]).includes(status);
}

/**
 * Whether a job in this status has a supervisor that holds its liveness
 * (`running` and `paused`): only such a job can turn out `lost`.
 */
export function isSupervisedStatus(status: JobStatus): boolean {
  return SUPERVISED_STATUSES.includes(status);
}

/** Why a job is lost, as the lost rule says it. */
export type LostReason = "never-started" | "gone";

/**
 * The lost rule. A job whose status says a supervisor holds it, while
 * nobody does, is lost: its supervisor never started within
 * {@linkcode SUPERVISOR_START_GRACE_MS} of the job's start, or it took the
 * job and is gone. `held` is the store's liveness evidence (a flock, a
 * lease); `now` is the time taken before that evidence was gathered.
 *
 * @returns Why it is lost, or `undefined` if it is not.
 */
export function lostReason(
  job: Job,
  held: boolean,
  now: number,
): LostReason | undefined {
  if (held || !isSupervisedStatus(job.status)) return undefined;
  if (job.supervisedAt !== undefined) return "gone";
  return isLate(job, now) ? "never-started" : undefined;
}

/**
 * Whether a supervisor that takes the job now comes too late: the job was
 * started more than the start grace ago and nobody supervised it yet, so a
 * reader may already have reported it lost. Such a job is not run.
 */
export function isLate(job: Job, now: number): boolean {
  return job.supervisedAt === undefined &&
    now - job.startedAt.getTime() >= SUPERVISOR_START_GRACE_MS;
}

/** The words a reader shows for a lost job, given why. */
export function lostError(reason: LostReason, detail?: string): string {
  return reason === "never-started"
    ? "The job's supervisor never started"
    : `The job's supervisor is gone: ${
      detail ?? "it crashed, was killed, or the machine restarted"
    }`;
}

/** A lost job as a reader shows it; the record is not changed. */
export function asLost(job: Job, reason: LostReason, detail?: string): Job {
  job.status = "lost";
  job.error = lostError(reason, detail);
  return job;
}

/**
 * The updater that records a job's end. The first end wins: a job that has
 * ended keeps its end. `at` is when the end happened, which a late write
 * (a full disk, a database away) does not move.
 */
export function endJob(end: JobEnd, at: Date = new Date()): (job: Job) => Job {
  if (!isFinalStatus(end.status)) {
    throw new TypeError(`Cannot end a job with status ${end.status}`);
  }
  return (job) => {
    if (isFinalStatus(job.status)) return job;
    job.status = end.status;
    job.completedAt = at;
    if (end.exitCode !== undefined) job.exitCode = end.exitCode;
    if (end.signal !== undefined) job.signal = end.signal;
    if (end.error !== undefined) job.error = end.error;
    if (end.result !== undefined) job.result = end.result;
    // Kept only for a start that will not come now (it may hold secrets).
    delete job.env;
    return job;
  };
}

/**
 * The updater that ends a job that never started (`waiting` or `queued`,
 * or whichever statuses `from` names): it ends `status` with `error`, with
 * no process to stop. A job no longer in one of those statuses is left as
 * it is, so a start and this end never both happen.
 */
export function endUnstarted(
  status: FinalStatus,
  error: string,
  from: readonly JobStatus[] = UNSTARTED_STATUSES,
): (job: Job) => Job {
  const end = endJob({ status, error });
  return (job) => from.includes(job.status) ? end(job) : job;
}

/**
 * When SIGKILL is due for the cancel requested in `job`, in milliseconds
 * since the epoch; `undefined` if no cancel was requested.
 *
 * The record's format is frozen, so a request lives in two fields that
 * exist: `cancel_requested_at` is when the first cancel came, and
 * `grace_ms` is set so that their sum is the earliest SIGKILL deadline any
 * cancel has asked for.
 */
export function cancelDeadline(job: Job): number | undefined {
  if (job.cancelRequestedAt === undefined) return undefined;
  return job.cancelRequestedAt.getTime() + (job.grace ?? DEFAULT_KILL_GRACE);
}

/**
 * The updater that records a cancel request on a supervised job: the first
 * request, or a deadline earlier than the one pending. A job that is not
 * supervised, or a later deadline, leaves the record as it is.
 *
 * @param killAt When this cancel wants SIGKILL sent, in epoch milliseconds.
 * @param now The time of the request.
 */
export function requestCancel(
  killAt: number,
  now: number,
): (job: Job) => Job {
  return (job) => {
    if (!isSupervisedStatus(job.status)) return job;
    const pending = cancelDeadline(job);
    if (pending === undefined) {
      job.cancelRequestedAt = new Date(now);
      job.grace = Math.max(0, killAt - now);
    } else if (killAt < pending) {
      // The first request's time stays true; the grace is what is left of
      // it for the earlier deadline (never negative, should clocks differ).
      job.grace = Math.max(0, killAt - job.cancelRequestedAt!.getTime());
    }
    return job;
  };
}

/**
 * The jobs of a listing that a clean removes, for every backend: ended (lost
 * ones included) more than `olderThan` ms before `now`, and not kept by
 * `keep`, which is asked lazily, one job at a time, as the clean goes.
 * Running jobs are never yielded; each backend re-checks before it deletes.
 *
 * @throws {RangeError} If `olderThan` is negative or not finite (thrown by
 * {@linkcode cleanCutoff}, which a clean calls before it lists).
 */
export async function* cleanable(
  jobs: readonly Job[],
  cutoff: number,
  keep: CleanOptions["keep"],
): AsyncGenerator<Job, void, undefined> {
  for (const job of jobs) {
    if (!isFinalStatus(job.status)) continue;
    const at = (job.completedAt ?? job.startedAt).getTime();
    if (at > cutoff) continue;
    if (await keep?.(job)) continue;
    yield job;
  }
}

/** The time before which a clean removes ended jobs; checks `olderThan`. */
export function cleanCutoff(olderThan: number): number {
  if (!Number.isFinite(olderThan) || olderThan < 0) {
    throw new RangeError(`Invalid age: ${olderThan}`);
  }
  return Date.now() - olderThan;
}
