// Where a job's log and processes are: on the host that ran it. A
// database store keeps the end of an ended job's log for the others.

import type { Job } from "../../jobs.ts";
import { isSupervisedStatus } from "../../store/rules.ts";
import { isLocalJob, type JobStore } from "../../store/contract.ts";
import { leftovers } from "../../control/cancel.ts";
import { processInspector } from "../../process/inspect.ts";
import {
  isSupervisorStopped,
  livenessPath,
  localWorker,
} from "../../store/liveness.ts";
import type { JobsContext } from "./_context.ts";

/**
 * The PIDs of this host's lost jobs' processes that still run, by job ID;
 * the processes are listed once.
 */
export function liveLeftovers(
  store: JobStore,
  jobs: readonly Job[],
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const lost = jobs.filter((j) => j.status === "lost" && isLocalJob(store, j));
  if (lost.length === 0) return out;
  const groups = new Set(processInspector().processes()?.map((p) => p.pgid));
  for (const job of lost) {
    const worker = localWorker(store, job);
    if (worker === undefined || !groups.has(worker.pid)) continue;
    const left = leftovers(store, job);
    if (left !== undefined && left.length > 0) {
      out.set(job.id, left.map((p) => p.pid));
    }
  }
  return out;
}

/** The job's host, if it is not this one (so its log is not here). */
export function remoteHost(ctx: JobsContext, job: Job): string | undefined {
  return isLocalJob(ctx.store, job) ? undefined : job.host;
}

/** The last `n` lines of the log's end kept in the store, if any. */
export function keptLines(job: Job, n: number): string[] | undefined {
  if (job.logTail === undefined) return undefined;
  const lines = job.logTail === "" ? [] : job.logTail.split("\n");
  if (job.logTail.endsWith("\n")) lines.pop();
  return lines.slice(-n);
}

/**
 * This host's running or paused jobs whose supervisor is stopped, on the
 * local proof cancel uses: such a job runs on unsupervised, past its
 * timeout too.
 */
export async function stoppedSupervisors(
  store: JobStore,
  jobs: readonly Job[],
): Promise<Set<string>> {
  const out = new Set<string>();
  for (const job of jobs) {
    if (
      isSupervisedStatus(job.status) && isLocalJob(store, job) &&
      await isSupervisorStopped(livenessPath(store, job.id))
    ) out.add(job.id);
  }
  return out;
}
