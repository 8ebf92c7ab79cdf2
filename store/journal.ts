// A job's journal, `<id>.live` (docs/design.md, "The files of a job"): the
// plan its launcher writes, then the lines of its supervisor (the perl shim,
// or the Deno supervisor): `S` who took the job, `W` an attempt's worker,
// `A` an attempt's end, `E` the job's end. Its flock is the job's liveness.
// Here: reading it, and folding it into the record, the one place where a
// supervisor's evidence becomes a job's record. Also the control file
// `<id>.ctl` that cancels and pauses append to.
//
// A line is a tag and fields separated by spaces, each field
// percent-encoded (bytes outside `!`..`~`, and `%`). The first field of a
// supervisor's line is its write stamp: `u<ms>` on the shim's clock (the
// uptime), dated by the file's mtime, which the last line's write set;
// `e<ms>` a time of day.

import type { FinalStatus, Job, JobAttempt, JobEnd } from "./job.ts";
import { endJob, isSupervisedStatus } from "./rules.ts";
import { formatDuration } from "../duration.ts";
import { signalName } from "../process/signals.ts";

/** A journal is read up to this size; a plan holds a command line. */
const MAX_JOURNAL = 8 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A field as a journal line holds it. */
export function encodeField(value: string | number): string {
  let out = "";
  for (const b of encoder.encode(String(value))) {
    out += b > 0x20 && b < 0x7f && b !== 0x25
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** A field as it was written. */
export function decodeField(field: string): string {
  if (!field.includes("%")) return field;
  const bytes: number[] = [];
  for (let i = 0; i < field.length; i++) {
    const hex = field.slice(i + 1, i + 3);
    if (field[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...encoder.encode(field[i]));
  }
  return decoder.decode(new Uint8Array(bytes));
}

/** A journal line: a tag and its fields. */
export function journalLine(tag: string, fields: (string | number)[]): string {
  return [tag, ...fields.map(encodeField)].join(" ") + "\n";
}

/** One attempt of the journal: its worker, and its end once it has one. */
export interface JournalAttempt {
  n: number;
  pid: number;
  ticks?: number;
  startedAt: Date;
  end?: { at: Date; status: string };
}

/** The job's end, as its supervisor wrote it (the `E` line). */
export interface JournalEnd {
  at: Date;
  /** The last attempt (0: none started). */
  n: number;
  /** How it ended: `x<code>`, `k<signal>[c]`, `n<code>:<why>`, `f<why>`, `-`. */
  status: string;
  /** What halted the job: `-`, `t`, `c`, `s<SIG>`, `late`, `pre`, `x<why>`. */
  halt: string;
  /** Halted before attempt n + 1 could start. */
  beforeNext: boolean;
  /** The stop, if one was made: `<at>,<kill at>,<killed>,<escaped|->,<pids>`. */
  stop?: string;
}

/** What a job's journal says. */
export interface Journal {
  /** The `S` line: who took the job, and when. */
  supervisor?: { pid: number; ticks?: number; by: string; at: Date };
  attempts: JournalAttempt[];
  end?: JournalEnd;
  /** The plan's fields (`P` lines), by name. */
  plan: Map<string, string[]>;
  /** The starter of a job that waited said go (`G`). */
  go: boolean;
}

/**
 * Reads a job's journal: `undefined` if there is none (no such file), or it
 * is not a regular file.
 *
 * @param path The job's `<id>.live`.
 */
export function readJournal(path: string): Journal | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  try {
    // The mtime dates the last line: read it with the text it dates.
    for (let tries = 0;; tries++) {
      const before = file.statSync();
      if (!before.isFile) return undefined;
      const size = Math.min(before.size, MAX_JOURNAL);
      const buf = new Uint8Array(size);
      let got = 0;
      file.seekSync(0, Deno.SeekMode.Start);
      while (got < size) {
        const n = file.readSync(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      const after = file.statSync();
      if (
        tries < 3 && (after.size !== before.size ||
          after.mtime?.getTime() !== before.mtime?.getTime())
      ) continue;
      return parseJournal(
        decoder.decode(buf.subarray(0, got)),
        after.mtime?.getTime() ?? Date.now(),
      );
    }
  } finally {
    file.close();
  }
}

/**
 * Parses a journal's text; `mtime` is the file's (epoch ms), which dates
 * the last complete line.
 */
export function parseJournal(text: string, mtime: number): Journal {
  const lines = text.split("\n");
  // After the last newline: nothing, or a line being written.
  lines.pop();
  const rows = lines.map((l) => l.split(" "));
  // The last line's write stamp on the shim's clock is the file's mtime.
  const last = rows.at(-1)?.[1];
  const offset = last?.startsWith("u") ? mtime - Number(last.slice(1)) : 0;
  const time = (stamp: string | undefined): Date => {
    const ms = Number(stamp?.slice(1));
    if (!Number.isFinite(ms)) return new Date(mtime);
    return new Date(stamp![0] === "u" ? ms + offset : ms);
  };
  const journal: Journal = { attempts: [], plan: new Map(), go: false };
  for (const [tag, ...raw] of rows) {
    // A supervisor's line ends with ".": one cut short is not read.
    if ("SWAE".includes(tag) && raw.pop() !== ".") continue;
    const f = raw.map(decodeField);
    const int = (s: string | undefined) => {
      const n = Number(s);
      return Number.isSafeInteger(n) ? n : undefined;
    };
    switch (tag) {
      case "P":
        journal.plan.set(f[0], f.slice(1));
        break;
      case "G":
        journal.go = true;
        break;
      case "S":
        journal.supervisor = {
          at: time(f[0]),
          pid: int(f[1]) ?? 0,
          ticks: int(f[2]),
          by: f[3] ?? "shim",
        };
        break;
      case "W":
        journal.attempts.push({
          startedAt: time(f[0]),
          n: int(f[1]) ?? journal.attempts.length + 1,
          pid: int(f[2]) ?? 0,
          ticks: int(f[3]),
        });
        break;
      case "A": {
        const n = int(f[2]);
        const attempt = journal.attempts.find((a) => a.n === n);
        if (attempt) attempt.end = { at: time(f[1]), status: f[3] ?? "-" };
        break;
      }
      case "E":
        journal.end = {
          at: time(f[1]),
          n: int(f[2]) ?? 0,
          status: f[3] ?? "-",
          halt: f[4] ?? "-",
          beforeNext: f[5] === "1",
          ...(f[6] !== undefined && f[6] !== "-" ? { stop: f[6] } : {}),
        };
        break;
    }
  }
  // An attempt cut short by the job's end (no `A` line of its own).
  const { end } = journal;
  const cut = journal.attempts.find((a) => a.n === end?.n);
  if (end && cut && cut.end === undefined && end.status !== "-") {
    cut.end = { at: end.at, status: end.status };
  }
  return journal;
}

/** How a worker ended, from a status field. */
interface WorkerEnd {
  exitCode?: number;
  signal?: string;
  /** "Exited with code 3", "Killed by SIGKILL", or why it did not start. */
  error?: string;
  /** It could not be started at all (no exit code: a fork failed). */
  unstarted?: boolean;
}

function workerEnd(status: string): WorkerEnd {
  const body = status.slice(1);
  switch (status[0]) {
    case "x": {
      const code = Number(body);
      return code === 0
        ? { exitCode: 0 }
        : { exitCode: code, error: `Exited with code ${code}` };
    }
    case "k": {
      const n = parseInt(body);
      const signal = signalName(n) ?? `signal ${n}`;
      const core = body.endsWith("c") ? " (core dumped)" : "";
      return { signal, error: `Killed by ${signal}${core}` };
    }
    case "n": {
      // Run, but not runnable: the shell's codes, with why.
      const colon = body.indexOf(":");
      const code = Number(body.slice(0, colon));
      return {
        exitCode: code,
        error: `Exited with code ${code}: ${body.slice(colon + 1)}`,
      };
    }
    case "f":
      return {
        unstarted: true,
        error: `Cannot start the job's worker: ${body}`,
      };
    default:
      return {};
  }
}

/** "exit code 3" or "killed by SIGKILL": how one attempt's worker ended. */
export function describeWorkerEnd(
  ended: { exitCode?: number; signal?: string },
): string {
  return ended.signal !== undefined
    ? `killed by ${ended.signal}`
    : `exit code ${ended.exitCode}`;
}

/** What a stop of the worker's group did, as the record says it. */
function describeStop(stop: string): string {
  if (stop.startsWith("!")) return `; stopping it failed: ${stop.slice(1)}`;
  const [at, killAt, killed, escaped, pids] = stop.split(",");
  const remaining = (pids ?? "").split(".").filter((p) => p !== "");
  // The record says what was seen to survive, never more than that.
  return (killed === "1"
    ? `; still running ${
      formatDuration(Math.max(0, Number(killAt) - Number(at)))
    } after SIGTERM, so killed with SIGKILL`
    : "; sent SIGTERM") +
    (escaped === "-" || escaped === undefined
      ? "; processes that left its group could not be looked for"
      : Number(escaped) > 0
      ? `; ${escaped} process(es) that had left its group were stopped too`
      : "") +
    (remaining.length > 0
      ? `; still running after SIGKILL: PID ${remaining.join(", ")}`
      : "");
}

function haltOf(
  halt: string,
  job: Job,
): { status: FinalStatus; error: string } {
  if (halt === "t") {
    return {
      status: "timed_out",
      error: `Timed out: ran past its timeout of ${
        formatDuration(job.timeout ?? 0)
      }`,
    };
  }
  if (halt === "c") return { status: "cancelled", error: "Cancelled" };
  const signal = `SIG${halt.slice(1).replace(/^SIG/, "")}`;
  return {
    status: "cancelled",
    error: `Cancelled: the supervisor received ${signal}`,
  };
}

/**
 * The job's end as its journal's `E` line says it, in the record's words.
 *
 * @param job The record (its timeout and retries word the end).
 * @param end The `E` line.
 */
export function journalEnd(job: Job, end: JournalEnd): JobEnd {
  const { halt, n } = end;
  if (halt === "late") {
    return {
      status: "lost",
      error: "The job's supervisor started more than 30s late; it was not run",
    };
  }
  if (halt === "pre") {
    return { status: "cancelled", error: "Cancelled before it started" };
  }
  if (halt.startsWith("x")) {
    return { status: "failed", error: `Supervisor error: ${halt.slice(1)}` };
  }
  const { error, unstarted, ...how } = workerEnd(end.status);
  const total = (job.retries ?? 0) + 1;
  if (end.beforeNext && halt !== "-") {
    const stopped = haltOf(halt, job);
    return {
      ...how,
      status: stopped.status,
      error: `${stopped.error}; attempt ${n} of ${total} had failed (${
        describeWorkerEnd(how)
      }), and attempt ${n + 1} was not started`,
    };
  }
  const of = (job.retries ?? 0) > 0 && !unstarted
    ? ` (attempt ${n} of ${total})`
    : "";
  if (end.stop !== undefined && halt !== "-") {
    const stopped = haltOf(halt, job);
    const said = how.signal !== undefined
      ? `, and the worker ended by ${how.signal}`
      : `, and the worker exited with code ${how.exitCode}`;
    return {
      ...how,
      status: stopped.status,
      error: stopped.error + describeStop(end.stop) + said + of,
    };
  }
  if (how.exitCode === 0 && error === undefined) {
    return { status: "completed", exitCode: 0 };
  }
  return { ...how, status: "failed", error: (error ?? "Failed") + of };
}

/**
 * The record's list of attempts, from the journal's: each worker's start
 * and end; the last one's end in the words of the job's (without "attempt
 * n of m"), unless the job was halted before the next attempt.
 */
function foldAttempts(job: Job, journal: Journal): JobAttempt[] {
  return journal.attempts.map((a) => {
    const out: JobAttempt = { startedAt: a.startedAt };
    if (a.end === undefined) return out;
    out.endedAt = a.end.at;
    const { unstarted: _, ...how } = workerEnd(a.end.status);
    const { end } = journal;
    if (end !== undefined && end.n === a.n && !end.beforeNext) {
      const { status: _, ...said } = journalEnd({ ...job, retries: 0 }, end);
      return Object.assign(out, said);
    }
    return Object.assign(out, how);
  });
}

/**
 * Folds a job's journal into its record (pure: the same journal gives the
 * same record, and folding twice changes nothing). Only a job whose record
 * says it is supervised (`running`, `paused`) is folded; the end goes
 * through `endJob` (the first end wins).
 *
 * @param job The record as read; a copy is returned.
 * @param journal What its journal says.
 * @returns The job as the journal says it is.
 */
export function foldJournal(job: Job, journal: Journal | undefined): Job {
  if (journal === undefined || !isSupervisedStatus(job.status)) return job;
  const out = structuredClone(job);
  const s = journal.supervisor;
  if (s !== undefined) {
    out.supervisedAt = s.at;
    if (s.pid > 0) out.pid = s.pid;
    out.supervisor = s.by === "deno" ? "deno" : "shim";
  }
  const worker = journal.attempts.at(-1);
  if (worker !== undefined) {
    out.workerPid = worker.pid;
    if (worker.ticks !== undefined) out.workerStartTicks = worker.ticks;
    else delete out.workerStartTicks;
  }
  if ((job.retries ?? 0) > 0 && journal.attempts.length > 0) {
    const attempts = foldAttempts(job, journal);
    // A new attempt starts without what the one before reported.
    if (attempts.length > Math.max(1, job.attempts?.length ?? 0)) {
      const at = attempts.at(-1)!.startedAt.getTime();
      if ((out.progress?.updatedAt.getTime() ?? Infinity) < at) {
        delete out.progress;
      }
      delete out.result;
    }
    out.attempts = attempts;
  }
  if (journal.end !== undefined) {
    return endJob(journalEnd(out, journal.end), journal.end.at)(out);
  }
  return out;
}

/** The control file of a job: `<id>.ctl` beside its `<id>.live`. */
export function controlPath(livePath: string): string {
  return livePath.replace(/\.live$/, ".ctl");
}

/**
 * Appends a request to the job's control file (made, mode 0600, if it is
 * not there): `C <grace left in ms>`, `P` or `R`. Read by its supervisor.
 */
export function appendControl(livePath: string, line: string): void {
  Deno.writeTextFileSync(controlPath(livePath), `${line}\n`, {
    append: true,
    mode: 0o600,
  });
}

/**
 * Appends a supervisor's line, stamped now (epoch ms), to the journal: the
 * Deno supervisor's side of the protocol the shim writes.
 */
export function appendJournal(
  livePath: string,
  tag: string,
  fields: (string | number)[],
  sync = false,
): void {
  using file = Deno.openSync(livePath, { append: true, read: true });
  const size = file.statSync().size;
  const last = new Uint8Array(1);
  if (size > 0) {
    file.seekSync(size - 1, Deno.SeekMode.Start);
    file.readSync(last);
  }
  // After a line cut short (a full disk), a newline first.
  const lead = size > 0 && last[0] !== 0x0a ? "\n" : "";
  const bytes = encoder.encode(
    lead + journalLine(tag, [`e${Date.now()}`, ...fields, "."]),
  );
  for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
  if (sync) file.syncDataSync();
}
