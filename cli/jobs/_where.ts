// Where a job's log and processes are, for `jobs`, `jobs <id>` and `jobs
// logs`: they stay on the host that ran the job. A jobs directory's are
// here; a database store knows each job's host, and keeps the end of the
// log (8 KiB) in the row when the job ends, which is all another host can
// show.

import type { Job } from "../../jobs.ts";
import { isLocalJob, type JobStore } from "../../store/contract.ts";
import { leftovers } from "../../control/cancel.ts";
import { processInspector } from "../../process/inspect.ts";
import type { JobsContext } from "./_context.ts";

/**
 * The lost jobs of this host whose processes still run: their PIDs, by job
 * ID. Every process is listed once; only a lost job whose worker's group
 * has a member in it is looked at closely (is the group surely the job's).
 */
export function liveLeftovers(
  store: JobStore,
  jobs: readonly Job[],
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const lost = jobs.filter((j) =>
    j.status === "lost" && j.workerPid !== undefined && isLocalJob(store, j)
  );
  if (lost.length === 0) return out;
  const groups = new Set(processInspector().processes()?.map((p) => p.pgid));
  for (const job of lost) {
    if (!groups.has(job.workerPid!)) continue;
    const left = leftovers(job);
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
