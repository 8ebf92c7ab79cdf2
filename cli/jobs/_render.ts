// How jobs look: the table of `jobs`, the details of `jobs <id>`, the JSON
// of a record, and a status in colour.

import { isFinalStatus, type Job, type JobStatus } from "../../jobs.ts";
import { toRecord } from "../../_record.ts";
import { formatDuration } from "../../duration.ts";
import {
  formatTable,
  humanDuration,
  localTime,
  paint,
  relativeTime,
  safe,
  shellLine,
} from "../_output.ts";

/** The record as on disk, plus what a reader would otherwise compute. */
export function jobJson(job: Job, now: number): Record<string, unknown> {
  return { ...toRecord(job), duration_ms: durationOf(job, now) ?? null };
}

/**
 * Ended jobs: how long they ran. Running jobs: how long so far. A lost job:
 * undefined, whatever its record holds. Its end was not seen, so any end
 * time it has (an older cancel wrote the time it noticed the loss) is not
 * when the job ended, and a duration from it would be invented.
 */
export function durationOf(job: Job, now: number): number | undefined {
  if (job.status === "lost") return undefined;
  const start = job.startedAt.getTime();
  if (job.completedAt !== undefined) {
    return Math.max(0, job.completedAt.getTime() - start);
  }
  if (!isFinalStatus(job.status)) return Math.max(0, now - start);
  return undefined;
}

/** How the text output shows a duration that is not known. */
export const UNKNOWN = "unknown";

const COMMAND_COLUMN = 2;

/** The table of `jobs`, header first, one line per job. */
export function renderTable(
  jobs: Job[],
  options: { now: number; color: boolean; width?: number },
): string {
  // A HOST column only when the jobs come from more than one host (a store
  // shared by hosts), last, so the other columns stay where they were.
  const hostOf = (job: Job) => (job as { host?: string }).host ?? "";
  const hosts = new Set(jobs.map(hostOf));
  const withHost = hosts.size > 1;
  const rows = [
    [
      "ID",
      "STATUS",
      "COMMAND",
      "STARTED",
      "DURATION",
      ...(withHost ? ["HOST"] : []),
    ],
    ...jobs.map((job) => {
      const d = durationOf(job, options.now);
      return [
        safe(job.id),
        job.status,
        safe(commandLine(job)),
        relativeTime(job.startedAt, options.now),
        d === undefined ? UNKNOWN : humanDuration(d),
        ...(withHost ? [safe(hostOf(job))] : []),
      ];
    }),
  ];
  const widest = (c: number) => Math.max(...rows.map((r) => r[c].length));
  const others = widest(0) + widest(1) + widest(3) + widest(4) + 4 * 2 +
    (withHost ? widest(5) + 2 : 0);
  // On a terminal the command gets what is left of the line; in a pipe a
  // fixed bound keeps rows readable without depending on the reader.
  const room = options.width !== undefined
    ? Math.max(20, options.width - others)
    : 60;
  return formatTable(rows, {
    shrink: { column: COMMAND_COLUMN, width: room },
    style: (text, row, column) =>
      row > 0 && column === 1
        ? paintStatus(options.color, text as JobStatus)
        : text,
  }).map((line) => line + "\n").join("");
}

/** The details of `jobs <id>`, one labelled line per known fact. */
export function renderDetails(
  job: Job,
  options: { now: number; color: boolean },
): string {
  const rows: [string, string][] = [];
  const add = (label: string, value: string | undefined) => {
    if (value !== undefined) rows.push([label, value]);
  };
  const when = (d: Date | undefined) =>
    d === undefined
      ? undefined
      : `${localTime(d)} (${relativeTime(d, options.now)})`;
  add("Status", paintStatus(options.color, job.status) + outcomeDetail(job));
  add("Command", safe(commandLine(job)));
  add("Working dir", job.workingDir && safe(job.workingDir));
  add("PID", job.pid > 0 ? `${job.pid} (supervisor)` : undefined);
  add("Worker PID", job.workerPid?.toString());
  add("Started", when(job.startedAt));
  if (job.status === "lost") {
    // When the loss was recorded is a fact; when the job ended is not.
    add(
      "Completed",
      UNKNOWN +
        (job.completedAt === undefined
          ? ""
          : `; recorded lost ${when(job.completedAt)}`),
    );
  } else {
    add("Completed", when(job.completedAt));
  }
  const d = durationOf(job, options.now);
  add(
    "Duration",
    d === undefined
      ? UNKNOWN
      : humanDuration(d) + (isFinalStatus(job.status) ? "" : " so far"),
  );
  add("Exit code", job.exitCode?.toString());
  add("Signal", job.signal && safe(job.signal));
  add("Error", job.error && safe(job.error));
  add(
    "Timeout",
    job.timeout === undefined
      ? undefined
      : job.timeout === 0
      ? "none"
      : formatDuration(job.timeout),
  );
  add(
    "Kill grace",
    job.grace === undefined ? undefined : formatDuration(job.grace),
  );
  add("Cancel requested", when(job.cancelRequestedAt));
  add("Result", job.result && safe(JSON.stringify(job.result)));
  const host = (job as { host?: string }).host;
  add("Host", host && safe(host));
  add("Log", safe(job.logPath));
  const pad = Math.max(...rows.map(([label]) => label.length)) + 1;
  return `Job ${safe(job.id)}\n` +
    rows.map(([label, value]) => `  ${(label + ":").padEnd(pad)} ${value}\n`)
      .join("");
}

/** " (exit code 3)" and the like, after the status word. */
export function outcomeDetail(job: Job): string {
  if (job.status === "failed" || job.status === "timed_out") {
    if (job.signal !== undefined) return ` (killed by ${safe(job.signal)})`;
    if (job.exitCode !== undefined && job.exitCode !== 0) {
      return ` (exit code ${job.exitCode})`;
    }
  }
  return "";
}

const STATUS_COLORS: Record<JobStatus, number> = {
  waiting: 36, // cyan
  queued: 36, // cyan
  running: 33, // yellow
  paused: 34, // blue
  completed: 32, // green
  failed: 31, // red
  timed_out: 31, // red
  cancelled: 90, // grey
  lost: 35, // magenta
};

/** A status word, in its colour when `color` is on. */
export function paintStatus(color: boolean, status: JobStatus): string {
  return paint(color, STATUS_COLORS[status] ?? 0, status);
}

function commandLine(job: Job): string {
  return shellLine([job.command, ...job.args, ...job.flags]);
}
