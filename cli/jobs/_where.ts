// Where a job's log is, for `jobs <id>` and `jobs logs`: logs stay on the
// host that ran the job. A jobs directory's logs are here; a database store
// knows each job's host, and keeps the end of the log (8 KiB) in the row
// when the job ends, which is all another host can show.

import type { Job } from "../../jobs.ts";
import { isLocalJob } from "../../store/contract.ts";
import type { JobsContext } from "./_context.ts";

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
