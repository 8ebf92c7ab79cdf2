// The attempts of a retried job, as `jobs <id>` shows them.

import { isFinalStatus, type Job } from "../../jobs.ts";
import { formatDuration } from "../../duration.ts";
import { DEFAULT_RETRY_DELAY } from "../../store/job_options.ts";
import {
  formatTable,
  humanDuration,
  localTime,
  relativeTime,
  safe,
} from "../_output.ts";

/**
 * The lines `jobs <id>` shows for a job's attempts, each ending without a
 * newline; none for a job without retries. For example:
 *
 * ```text
 * Attempts: 2 of 4 (retry delay 1s, doubling)
 *   1  exit code 3       ran 1.2s  started 2024-01-01 12:00:00 (5 minutes ago)  Exited with code 3
 *   2  running           for 40s   started 2024-01-01 12:00:03 (4 minutes ago)
 * ```
 */
export function attemptLines(job: Job, now: number): string[] {
  const retries = job.retries ?? 0;
  const attempts = job.attempts ?? [];
  if (retries === 0 && attempts.length === 0) return [];
  const delay = formatDuration(job.retryDelay ?? DEFAULT_RETRY_DELAY);
  const head = `Attempts: ${attempts.length} of ${
    retries + 1
  } (retry delay ${delay}, doubling)`;
  const last = attempts.length - 1;
  const rows = attempts.map((a, i) => {
    let how: string;
    let time: string;
    if (a.endedAt !== undefined) {
      how = a.signal !== undefined
        ? `killed by ${safe(a.signal)}`
        : a.exitCode !== undefined
        ? `exit code ${a.exitCode}`
        : "ended";
      time = `ran ${
        humanDuration(Math.max(0, a.endedAt.getTime() - a.startedAt.getTime()))
      }`;
    } else if (i === last && !isFinalStatus(job.status)) {
      how = "running";
      time = `for ${humanDuration(Math.max(0, now - a.startedAt.getTime()))}`;
    } else {
      // The supervisor went before it saw this attempt end.
      how = "end not seen";
      time = "";
    }
    const started = `started ${localTime(a.startedAt)} (${
      relativeTime(a.startedAt, now)
    })`;
    return [`${i + 1}`, how, time, started, a.error ? safe(a.error) : ""];
  });
  const lines = formatTable(rows).map((line) => `  ${line.trimEnd()}`);
  // A thousand attempts would fill the screen: the first and last few.
  if (lines.length > SHOWN * 2 + 1) {
    const hidden = lines.length - SHOWN * 2;
    return [
      head,
      ...lines.slice(0, SHOWN),
      `  ... ${hidden} more (jobs <id> --json lists them all)`,
      ...lines.slice(-SHOWN),
    ];
  }
  return [head, ...lines];
}

/** How many attempts are shown at each end of a long list. */
const SHOWN = 5;
