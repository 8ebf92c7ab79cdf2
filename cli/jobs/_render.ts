// How jobs look: the table of `jobs`, the details of `jobs <id>`, the JSON
// of a record, and a status in colour.

import { isFinalStatus, type Job, type JobStatus } from "../../jobs.ts";
import type { JobProgress } from "../../store/job.ts";
import { toRecord } from "../../store/record.ts";
import { timeoutClause } from "../../control/timeout_left.ts";
import { formatDuration } from "../../duration.ts";
import {
  formatTable,
  humanDuration,
  localTime,
  out,
  outJson,
  paint,
  relativeTime,
  safe,
  shellLine,
} from "../_output.ts";

/** The record as on disk, plus what a reader would otherwise compute. */
export function jobJson(job: Job, now: number): Record<string, unknown> {
  const record = toRecord(job);
  // The environment a job that waits keeps for its start may hold secrets
  // (a token the spawner had): it stays in its 0600 record, and output that
  // may end up in a CI log names its variables only.
  if (record.env !== undefined) {
    record.env = Object.keys(record.env as Record<string, string>);
  }
  record.duration_ms = durationOf(job, now) ?? null;
  return record;
}

/**
 * Ended jobs: how long they ran. Running jobs: how long so far. A lost job:
 * undefined, whatever its record holds. Its end was not seen, so any end
 * time it has (an older cancel wrote the time it noticed the loss) is not
 * when the job ended, and a duration from it would be invented.
 */
export function durationOf(job: Job, now: number): number | undefined {
  if (job.status === "lost" || notStarted(job)) return undefined;
  const start = job.startedAt.getTime();
  if (job.completedAt !== undefined) {
    return Math.max(0, job.completedAt.getTime() - start);
  }
  if (!isFinalStatus(job.status)) return Math.max(0, now - start);
  return undefined;
}

/**
 * A job that waits for others or for a slot has not run yet: its
 * `startedAt` is when it was made, not a start.
 */
function notStarted(job: Job): boolean {
  return job.status === "waiting" || job.status === "queued";
}

/** A job's duration for people, "not started" or "unknown" if it has none. */
function durationText(job: Job, now: number, soFar = ""): string {
  const d = durationOf(job, now);
  if (d !== undefined) return humanDuration(d) + soFar;
  return notStarted(job) ? "not started" : "unknown";
}

const COMMAND_COLUMN = 2;

/** The table of `jobs`, header first, one line per job. */
export function renderTable(
  jobs: Job[],
  options: { now: number; color: boolean; width?: number },
): string {
  // A HOST column only when the jobs come from more than one host (a store
  // shared by hosts), last, so the other columns stay where they were.
  const hostOf = (job: Job) => job.host ?? "";
  const hosts = new Set(jobs.map(hostOf));
  const withHost = hosts.size > 1;
  // A PROGRESS column only when a job that has not ended reported some: an
  // ended job's last report is history, shown by `jobs <id>`.
  const progressOf = (job: Job) =>
    job.progress !== undefined && !isFinalStatus(job.status)
      ? formatProgress(job.progress)
      : "";
  const withProgress = jobs.some((job) => progressOf(job) !== "");
  const rows = [
    [
      "ID",
      "STATUS",
      "COMMAND",
      "STARTED",
      "DURATION",
      ...(withProgress ? ["PROGRESS"] : []),
      ...(withHost ? ["HOST"] : []),
    ],
    ...jobs.map((job) => [
      safe(job.id),
      job.status,
      safe(commandLine(job)),
      relativeTime(job.startedAt, options.now),
      durationText(job, options.now),
      ...(withProgress ? [progressOf(job) || "-"] : []),
      ...(withHost ? [safe(hostOf(job))] : []),
    ]),
  ];
  const widest = (c: number) => Math.max(...rows.map((r) => r[c].length));
  let others = widest(0) + widest(1) + widest(3) + widest(4) + 4 * 2;
  for (let c = 5; c < rows[0].length; c++) others += widest(c) + 2;
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
  add("Paused", pausedDetail(job, options.now));
  add(
    "Runs after",
    job.after && safe(
      job.after.join(", ") +
        (job.afterOk ? " (each must complete)" : " (once each has ended)"),
    ),
  );
  add("Retries", job.retries ? `up to ${job.retries}` : undefined);
  add("On end", job.onEnd && safe(job.onEnd));
  add("Log cap", job.logMax ? humanBytes(job.logMax) : undefined);
  add("Command", safe(commandLine(job)));
  add("Working dir", job.workingDir && safe(job.workingDir));
  const by = job.supervisor === undefined ? "" : `: ${job.supervisor}`;
  add("PID", job.pid > 0 ? `${job.pid} (supervisor${by})` : undefined);
  add("Worker PID", job.workerPid?.toString());
  add(notStarted(job) ? "Created" : "Started", when(job.startedAt));
  // A lost job: when the loss was recorded is a fact, when it ended is not.
  const lost = job.status === "lost";
  const recorded = job.completedAt &&
    `; recorded lost ${when(job.completedAt)}`;
  add("Completed", lost ? `unknown${recorded ?? ""}` : when(job.completedAt));
  add(
    "Duration",
    durationText(job, options.now, isFinalStatus(job.status) ? "" : " so far"),
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
  if (job.progress !== undefined) {
    const p = job.progress;
    add(
      "Progress",
      formatProgress(p) +
        (p.message === undefined ? "" : `, ${safe(p.message)}`) +
        ` (reported ${relativeTime(p.updatedAt, options.now)})`,
    );
  }
  add("Result", job.result && renderResult(job.result));
  add("Host", job.host && safe(job.host));
  add("Log", safe(job.logPath));
  const pad = Math.max(...rows.map(([label]) => label.length)) + 1;
  // A value of several lines (a result) goes on under its first line.
  const indent = "\n" + " ".repeat(pad + 3);
  return `Job ${safe(job.id)}\n` +
    rows.map(([label, value]) =>
      `  ${(label + ":").padEnd(pad)} ${value.replaceAll("\n", indent)}\n`
    ).join("");
}

/**
 * The "Paused" line of a job's details: since when, and what is left of its
 * timeout (`since 2026-11-24 21:55:01 (3 minutes ago); its timeout keeps
 * counting: 23m left`); `undefined` for a job that is not paused.
 */
export function pausedDetail(job: Job, now: number): string | undefined {
  if (job.status !== "paused") return undefined;
  const since = job.pausedAt === undefined
    ? "since a time not recorded"
    : `since ${localTime(job.pausedAt)} (${relativeTime(job.pausedAt, now)})`;
  return `${since}; ${timeoutClause(job, now)}`;
}

/**
 * A job's progress in a few words: `42% 118 MiB/280 MiB` with a total,
 * `1200 files` without; bytes (unit `B`) in binary units.
 */
export function formatProgress(p: Omit<JobProgress, "updatedAt">): string {
  const bytes = p.unit === "B";
  const amount = (n: number) => bytes ? humanBytes(n) : humanNumber(n);
  const unit = bytes || p.unit === undefined ? "" : ` ${safe(p.unit)}`;
  if (p.total === undefined) return `${amount(p.done)}${unit}`;
  // Floored, so 100 % means done: 99.9 % of a download is not finished.
  const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100;
  return `${pct}% ${amount(p.done)}/${amount(p.total)}${unit}`;
}

/** `512 B`, `3.4 KiB`, `118 MiB`: one decimal below 10, none above. */
export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${humanNumber(value)} B`;
  const shown = value < 10 ? value.toFixed(1) : String(Math.round(value));
  return `${shown} ${units[unit]}`;
}

/** A count as written: whole numbers as they are, others to 2 decimals. */
function humanNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  if (n >= 1e21) return n.toExponential(2);
  return String(Number(n.toFixed(2)));
}

/**
 * A result for people: its JSON, on one line when short, else indented over
 * several; escaped for a terminal like every text a job gives.
 */
export function renderResult(result: Record<string, unknown>): string {
  const flat = JSON.stringify(result);
  const text = flat.length <= 72 ? flat : JSON.stringify(result, null, 2);
  return text.split("\n").map(safe).join("\n");
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

/** What cancel, pause and resume did: JSON (with `extra`), or a sentence. */
export async function outOutcome(
  json: boolean,
  result: { outcome: string; message: string; job: Job },
  extra: Record<string, unknown> = {},
): Promise<void> {
  if (!json) return await out(`${safe(result.message)}\n`);
  const { outcome, message, job } = result;
  await outJson({ outcome, message, ...extra, job: jobJson(job, Date.now()) });
}
