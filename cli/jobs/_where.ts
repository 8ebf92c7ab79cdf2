// Where a job's log is, for `jobs <id>` and `jobs logs`: logs stay on the
// host that ran the job. A jobs directory's logs are here; a database store
// knows each job's host, and keeps the end of the log (8 KiB) in the row
// when the job ends, which is all another host can show.

import { jobLogPath } from "../../logs.ts";
import { FileJobBackend, hostName, type StoredJob } from "../../store.ts";
import type { JobsContext } from "./_context.ts";

/** The log's absolute path on the job's host. */
export function logPathOf(ctx: JobsContext, job: StoredJob): string {
  return ctx.store instanceof FileJobBackend
    ? jobLogPath(ctx.store.files, job)
    : job.logPath;
}

/** The job's host, if it is not this one (so its log is not here). */
export function remoteHost(job: StoredJob): string | undefined {
  if (job.host === undefined) return undefined;
  return job.host === hostName() ? undefined : job.host;
}

/** The last `n` lines of the log's end kept in the store, if any. */
export function keptLines(job: StoredJob, n: number): string[] | undefined {
  if (job.logTail === undefined) return undefined;
  const lines = job.logTail === "" ? [] : job.logTail.split("\n");
  if (job.logTail.endsWith("\n")) lines.pop();
  return lines.slice(-n);
}
