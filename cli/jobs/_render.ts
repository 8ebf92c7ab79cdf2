// How jobs look: the table of `jobs`, the details of `jobs <id>`, the JSON
// of a record, and a status in colour.

import {
  type Job,
  type JobProgress,
  type JobStatus,
  statusWord,
} from "../../store/job.ts";
import { isFinalStatus } from "../../store/rules.ts";
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
  truncate,
} from "../_output.ts";

/**
 * A job as every `--json` output prints it: the record's keys as on disk,
 * `duration_ms`, `host`, then `extra` (a command's own keys).
 */
export function jobJson(
  job: Job,
  now: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const record = toRecord(job);
  // A waiting job's environment may hold secrets: output that may end up
  // in a CI log names its variables only.
  if (record.env !== undefined) {
    record.env = Object.keys(record.env as Record<string, string>);
  }
  record.duration_ms = durationOf(job, now) ?? null;
  if (job.host !== undefined) record.host = job.host;
  return Object.assign(record, extra);
}

/**
 * How long a job ran, or has run so far; undefined for a lost job, whose
 * end was not seen (an end time it has is when the loss was noticed).
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

// A waiting or queued job's `startedAt` is when it was made, not a start.
function notStarted(job: Job): boolean {
  return job.status === "waiting" || job.status === "queued";
}

/** A job's duration for people, "not started" or "unknown" if it has none. */
function durationText(job: Job, now: number, soFar = ""): string {
  const d = durationOf(job, now);
  if (d !== undefined) return humanDuration(d) + soFar;
  return notStarted(job) ? "not started" : "unknown";
}

/** Options for {@linkcode renderTable}. */
export interface TableOptions {
  now: number;
  color: boolean;
  /** The terminal's columns; undefined in a pipe. */
  width?: number;
  /** Every job of the store, to shorten IDs without making them ambiguous. */
  all?: readonly Job[];
  /** Lost jobs whose processes still run: the PIDs, by job ID. */
  live?: ReadonlyMap<string, number[]>;
}

/** The table of `jobs`, header first, one line per job. */
export function renderTable(jobs: Job[], options: TableOptions): string {
  const { now } = options;
  // NAME, PROGRESS (of jobs not ended) and HOST (of several) only when a
  // job has one.
  const progressOf = (job: Job) =>
    job.progress !== undefined && !isFinalStatus(job.status)
      ? formatProgress(job.progress)
      : "";
  const optional: [string, (job: Job) => string, boolean][] = [
    ["PROGRESS", (j) => progressOf(j) || "-", jobs.some((j) => progressOf(j))],
    [
      "HOST",
      (j) => safe(j.host ?? ""),
      new Set(jobs.map((j) => j.host)).size > 1,
    ],
  ];
  const withName = jobs.some((j) => j.name !== undefined);
  const head = [
    "ID",
    ...(withName ? ["NAME"] : []),
    "STATUS",
    "STARTED",
    "DURATION",
    ...optional.filter(([, , on]) => on).map(([title]) => title),
    "COMMAND",
  ];
  const row = (job: Job, id: string, nameWidth: number) => [
    id,
    ...(withName ? [truncate(safe(job.name ?? "-"), nameWidth)] : []),
    statusText(job, { live: options.live?.get(job.id)?.length }),
    relativeTime(job.startedAt, now),
    notStarted(job) ? "-" : durationText(job, now),
    ...optional.filter(([, , on]) => on).map(([, cell]) => cell(job)),
    safe(commandLine(job)),
  ];
  const others = (rs: string[][]) =>
    head.slice(0, -1).reduce(
      (sum, _, c) => sum + Math.max(...rs.map((r) => r[c].length)) + 2,
      0,
    );
  // On a terminal the command gets what is left of the line; when that is
  // too little, IDs are cut to the end that names them, then names to 10
  // characters. In a pipe a fixed bound keeps rows readable.
  let short: Map<string, string> | undefined;
  let rows: string[][] = [];
  let room = 60;
  for (
    const [cut, nameWidth] of [[false, 16], [true, 16], [true, 10]] as const
  ) {
    if (cut) short ??= shortIds(options.all ?? jobs);
    rows = [
      head,
      ...jobs.map((job) =>
        row(job, cut ? short!.get(job.id)! : safe(job.id), nameWidth)
      ),
    ];
    if (options.width === undefined) break;
    room = options.width - others(rows);
    if (room >= MIN_COMMAND) break;
  }
  return formatTable(rows, {
    shrink: { column: head.length - 1, width: Math.max(10, room) },
    style: (text, r, c) =>
      r > 0 && c === 2 - (withName ? 0 : 1)
        ? paintStatus(options.color, jobs[r - 1].status, text)
        : text,
  }).map((line) => line + "\n").join("");
}

/** The fewest characters of a command the table shows on a terminal. */
const MIN_COMMAND = 20;

/**
 * The shortest end of each ID, of 8 characters or more, that names it by
 * `matchJobId`'s rule: no other ID ends or starts so, no job is named so.
 */
export function shortIds(jobs: readonly Job[]): Map<string, string> {
  const names = new Set(jobs.map((j) => j.name));
  const reversed = jobs.map((j) => [...j.id].reverse().join("")).sort();
  const shared = (a = "", b = "") => {
    let n = 0;
    while (n < a.length && a[n] === b[n]) n++;
    return n;
  };
  // The starts of every ID, by length: a reference names those first.
  const starts = new Map<number, Set<string>>();
  const clashes = (s: string) => {
    let set = starts.get(s.length);
    if (set === undefined) {
      set = new Set(jobs.map((j) => j.id.slice(0, s.length)));
      starts.set(s.length, set);
    }
    return names.has(s) || set.has(s) || set.has(s.toUpperCase());
  };
  const out = new Map<string, string>();
  reversed.forEach((r, i) => {
    const id = [...r].reverse().join("");
    let n = Math.max(
      8,
      shared(r, reversed[i - 1]) + 1,
      shared(r, reversed[i + 1]) + 1,
    );
    while (n < id.length && clashes(id.slice(-n))) n++;
    out.set(id, n < id.length ? id.slice(-n) : id);
  });
  return out;
}

/**
 * The details of `jobs <id>`, one labelled line per known fact; `live`, a
 * lost job's processes that still run, and `stop`, what stops them.
 */
export function renderDetails(
  job: Job,
  options: { now: number; color: boolean; live?: number[]; stop?: string },
): string {
  const rows: [string, string][] = [];
  const add = (label: string, value: string | undefined) => {
    if (value !== undefined) rows.push([label, value]);
  };
  const when = (d: Date | undefined) =>
    d === undefined
      ? undefined
      : `${localTime(d)} (${relativeTime(d, options.now)})`;
  add(
    "Status",
    paintStatus(options.color, job.status, statusText(job, { long: true })),
  );
  const live = options.live ?? [];
  add(
    "Processes",
    live.length === 0
      ? undefined
      : `${live.length === 1 ? "PID" : "PIDs"} ${
        live.join(", ")
      } still run; stop them with: ${options.stop}`,
  );
  add("Name", job.name);
  add("Restart of", job.restartOf);
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
  const duration = (ms?: number) =>
    ms === undefined ? undefined : formatDuration(ms);
  add("Timeout", job.timeout === 0 ? "none" : duration(job.timeout));
  add("Kill grace", duration(job.grace));
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

/** The "Paused" line of a paused job's details: since when, and its timeout. */
export function pausedDetail(job: Job, now: number): string | undefined {
  if (job.status !== "paused") return undefined;
  const since = job.pausedAt === undefined
    ? "since a time not recorded"
    : `since ${localTime(job.pausedAt)} (${relativeTime(job.pausedAt, now)})`;
  return `${since}; ${timeoutClause(job, now)}`;
}

/** A job's progress in a few words: `42% 118 MiB/280 MiB`, `1200 files`. */
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

/** A result for people: its JSON, indented when long, escaped. */
export function renderResult(result: Record<string, unknown>): string {
  const flat = JSON.stringify(result);
  const text = flat.length <= 72 ? flat : JSON.stringify(result, null, 2);
  return text.split("\n").map(safe).join("\n");
}

/**
 * A job's status for people: `failed (7)`, `failed (SIGKILL)` (with `long`,
 * `failed (exit code 7)`, `failed (killed by SIGKILL)`), `lost (2 running)`.
 */
export function statusText(
  job: Job,
  options: { long?: boolean; live?: number } = {},
): string {
  let detail: string | undefined;
  // A timeout's signal is the supervisor's own: worth a word in details only.
  if (job.status === "failed" || (job.status === "timed_out" && options.long)) {
    if (job.signal !== undefined) {
      detail = (options.long ? "killed by " : "") + job.signal;
    } else if (job.exitCode !== undefined && job.exitCode !== 0) {
      detail = (options.long ? "exit code " : "") + job.exitCode;
    }
  } else if (job.status === "lost" && options.live) {
    detail = `${options.live} running`;
  }
  const word = statusWord(job.status);
  return detail === undefined ? word : `${word} (${safe(detail)})`;
}

// Cyan, yellow, blue, green, red, grey, magenta.
const STATUS_COLORS: Record<JobStatus, number> = {
  waiting: 36,
  queued: 36,
  running: 33,
  paused: 34,
  completed: 32,
  failed: 31,
  timed_out: 31,
  cancelled: 90,
  lost: 35,
};

/** A status's text, in the status's colour when `color` is on. */
export function paintStatus(
  color: boolean,
  status: JobStatus,
  text: string = statusWord(status),
): string {
  return paint(color, STATUS_COLORS[status] ?? 0, text);
}

function commandLine(job: Job): string {
  return shellLine([job.command, ...job.args, ...job.flags]);
}

/** What cancel, pause, resume and rm did: the message, or the job as JSON. */
export async function outOutcome(
  json: boolean,
  result: { outcome: string; message: string; job: Job },
  extra: Record<string, unknown> = {},
): Promise<void> {
  if (!json) return await out(`${safe(result.message)}\n`);
  const { outcome, message, job } = result;
  await outJson(jobJson(job, Date.now(), { outcome, message, ...extra }));
}
