// A job's journal, `<id>.live` (docs/design.md, "The files of a job"): the
// plan its launcher writes (`P` lines; `G` for go), then its supervisor's
// lines (the perl shim's, or the Deno supervisor's): `S` who took the job,
// `W` an attempt's worker, `A` an attempt's end, `E` the job's end. Its
// flock is the job's liveness. Here it is read and folded into the record:
// the one place where a supervisor's evidence becomes a job's record. And
// the control file `<id>.ctl`, which cancels and pauses append to.
//
// A line is a tag and fields separated by spaces, each percent-encoded
// (bytes outside `!`..`~`, and `%`); a supervisor's line ends with a field
// `.` (one cut short is not read), and its first field is its write stamp:
// `u<ms>` on the shim's clock (the uptime), which the file's mtime dates
// (the last line's write set it), or `e<ms>`, a time of day.

import type { FinalStatus, Job, JobAttempt, JobEnd } from "./job.ts";
import { endJob, isSupervisedStatus } from "./rules.ts";
import { formatDuration } from "../duration.ts";
import { signalName } from "../process/signals.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A journal line: a tag and its fields. */
export function journalLine(tag: string, fields: (string | number)[]): string {
  const encode = (v: string | number) =>
    [...encoder.encode(String(v))].map((b) =>
      b > 0x20 && b < 0x7f && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`
    ).join("");
  return [tag, ...fields.map(encode)].join(" ") + "\n";
}

function decode(field: string): string {
  // Outside its escapes a field is ASCII: each char is one byte.
  const raw = field.replace(
    /%([0-9A-Fa-f]{2})/g,
    (_, h) => String.fromCharCode(parseInt(h, 16)),
  );
  return decoder.decode(Uint8Array.from(raw, (c) => c.charCodeAt(0)));
}

/** One attempt: its worker, and its end once it has one. */
interface Attempt {
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
  attempts: Attempt[];
  end?: JournalEnd;
  /** The plan's fields (`P` lines), by name. */
  plan: Map<string, string[]>;
}

/**
 * Opens a job's file (`<id>.live`, `<id>.ctl`) only as the regular file its
 * name holds: never through a symlink (a write would land on its target)
 * and never a FIFO or a device (opening one may block every reader until a
 * writer comes). The name is checked before the open and the open file
 * against the name after it; one replaced in between is refused too.
 *
 * @param path The file.
 * @param options How to open it; `create`: made (mode 0600) if absent,
 * never through a symlink.
 * @returns The open file, or `undefined` if there is none.
 * @throws {Deno.errors.InvalidData} If it is not a regular file.
 */
export function openJobFile(
  path: string,
  options: { write?: boolean; append?: boolean; create?: boolean } = {},
): Deno.FsFile | undefined {
  const { create = false, ...how } = options;
  for (let tries = 0;; tries++) {
    let named: Deno.FileInfo;
    try {
      named = Deno.lstatSync(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      if (!create) return undefined;
      try {
        // O_EXCL: never through a symlink, dangling or not.
        return Deno.openSync(path, {
          ...how,
          read: true,
          createNew: true,
          mode: 0o600,
        });
      } catch (err) {
        if (err instanceof Deno.errors.AlreadyExists && tries < 3) continue;
        throw err;
      }
    }
    if (!named.isFile) {
      throw new Deno.errors.InvalidData(`Not a regular file: ${path}`);
    }
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { ...how, read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound && tries < 3) continue;
      throw err;
    }
    const opened = file.statSync();
    if (opened.isFile && opened.ino === named.ino && opened.dev === named.dev) {
      return file;
    }
    file.close();
    throw new Deno.errors.InvalidData(`Not a regular file: ${path}`);
  }
}

/**
 * {@linkcode openJobFile} for a reader: a file that is not regular (a FIFO,
 * a symlink) is no file of ours, as if it were absent.
 */
export function openIfRegular(path: string): Deno.FsFile | undefined {
  try {
    return openJobFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.InvalidData) return undefined;
    throw err;
  }
}

/**
 * Reads a job's journal: `undefined` if there is none (no such file), or it
 * is not a regular file (see {@linkcode openJobFile}).
 *
 * @param path The job's `<id>.live`.
 */
export function readJournal(path: string): Journal | undefined {
  using file = openIfRegular(path);
  if (file === undefined) return undefined;
  // The mtime dates the last line: read with the text it dates.
  for (let tries = 0;; tries++) {
    const before = file.statSync().mtime?.getTime();
    file.seekSync(0, Deno.SeekMode.Start);
    const bytes = readAll(file);
    const mtime = file.statSync().mtime?.getTime();
    if (tries < 3 && mtime !== before) continue;
    return parseJournal(decoder.decode(bytes), mtime ?? Date.now());
  }
}

function readAll(file: Deno.FsFile): Uint8Array {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const buf = new Uint8Array(65536);
    const n = file.readSync(buf);
    if (n === null || n === 0) break;
    chunks.push(buf.subarray(0, n));
    size += n;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function parseJournal(text: string, mtime: number): Journal {
  // After the last newline: nothing, or a line being written.
  const rows = text.split("\n").slice(0, -1).map((l) => l.split(" "));
  const last = rows.at(-1)?.[1];
  const offset = last?.startsWith("u") ? mtime - Number(last.slice(1)) : 0;
  const time = (stamp = "") =>
    new Date(Number(stamp.slice(1)) + (stamp[0] === "u" ? offset : 0));
  const int = (s: string | undefined) =>
    Number.isSafeInteger(Number(s)) ? Number(s) : undefined;
  const journal: Journal = { attempts: [], plan: new Map() };
  for (const [tag, ...raw] of rows) {
    if ("SWAE".includes(tag) && raw.pop() !== ".") continue;
    const f = raw.map(decode);
    if (tag === "P") journal.plan.set(f[0], f.slice(1));
    else if (tag === "S") {
      const [at, pid, ticks, by = "shim"] = f;
      journal.supervisor = { at: time(at), pid: int(pid) ?? 0, by };
      if (int(ticks) !== undefined) journal.supervisor.ticks = int(ticks);
    } else if (tag === "W") {
      const [at, n, pid, ticks] = f;
      journal.attempts.push({
        startedAt: time(at),
        n: int(n) ?? 0,
        pid: int(pid) ?? 0,
        ...(int(ticks) === undefined ? {} : { ticks: int(ticks) }),
      });
    } else if (tag === "A") {
      const attempt = journal.attempts.find((a) => a.n === int(f[2]));
      if (attempt) attempt.end = { at: time(f[1]), status: f[3] };
    } else if (tag === "E") {
      const [, at, n, status, halt, next, stop] = f;
      journal.end = {
        at: time(at),
        n: int(n) ?? 0,
        status,
        halt,
        beforeNext: next === "1",
        ...(stop === "-" ? {} : { stop }),
      };
    }
  }
  // The last attempt, cut short by the job's end, has no `A` line.
  const { end } = journal;
  const cut = journal.attempts.find((a) => a.n === end?.n && !a.end);
  if (end && cut && end.status !== "-") {
    cut.end = { at: end.at, status: end.status };
  }
  return journal;
}

/** How a worker ended, from a status field; `unstarted` if it never ran. */
function workerEnd(status: string): JobEnd & { unstarted?: true } {
  const body = status.slice(1);
  const code = parseInt(body);
  const failed = "failed" as const;
  switch (status[0]) {
    case "x":
      return code === 0
        ? { status: "completed", exitCode: 0 }
        : { status: failed, exitCode: code, error: `Exited with code ${code}` };
    case "k": {
      const signal = signalName(code) ?? `signal ${code}`;
      const core = body.endsWith("c") ? " (core dumped)" : "";
      return { status: failed, signal, error: `Killed by ${signal}${core}` };
    }
    case "n": // Run, but its program could not be: the shell's codes, why.
      return {
        status: failed,
        exitCode: code,
        error: `Exited with code ${code}: ${body.slice(body.indexOf(":") + 1)}`,
      };
    default:
      return {
        status: failed,
        unstarted: true,
        error: `Cannot start the job's worker: ${body}`,
      };
  }
}

/** "exit code 3" or "killed by SIGKILL": how one attempt's worker ended. */
function said(ended: { exitCode?: number; signal?: string }): string {
  return ended.signal !== undefined
    ? `killed by ${ended.signal}`
    : `exit code ${ended.exitCode}`;
}

/** What a stop of the worker's group did, as the record says it. */
function describeStop(stop: string): string {
  if (stop.startsWith("!")) return `; stopping it failed: ${stop.slice(1)}`;
  const [at, killAt, killed, escaped, pids = ""] = stop.split(",");
  const left = pids.split(".").filter((p) => p !== "");
  // The record says what was seen to survive, never more than that.
  return (killed === "1"
    ? `; still running ${
      formatDuration(Math.max(0, Number(killAt) - Number(at)))
    } after SIGTERM, so killed with SIGKILL`
    : "; sent SIGTERM") +
    (escaped === "-"
      ? "; processes that left its group could not be looked for"
      : Number(escaped) > 0
      ? `; ${escaped} process(es) that had left its group were stopped too`
      : "") +
    (left.length > 0
      ? `; still running after SIGKILL: PID ${left.join(", ")}`
      : "");
}

function haltOf(
  halt: string,
  job: Job,
): { status: FinalStatus; error: string } {
  if (halt === "t") {
    const limit = formatDuration(job.timeout ?? 0);
    return {
      status: "timed_out",
      error: `Timed out: ran past its timeout of ${limit}`,
    };
  }
  const signal = `SIG${halt.slice(1).replace(/^SIG/, "")}`;
  return {
    status: "cancelled",
    error: halt === "c"
      ? "Cancelled"
      : `Cancelled: the supervisor received ${signal}`,
  };
}

/**
 * The job's end as its journal's `E` line says it, in the record's words.
 *
 * @param job The record (its timeout and retries word the end).
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
  const { unstarted, ...worker } = workerEnd(end.status);
  const { error: _, status: __, ...how } = worker;
  const total = (job.retries ?? 0) + 1;
  const of = total > 1 && !unstarted ? ` (attempt ${n} of ${total})` : "";
  if (halt === "-") {
    return worker.error === undefined
      ? worker
      : { ...worker, error: worker.error + of };
  }
  const stopped = haltOf(halt, job);
  if (end.beforeNext || end.stop === undefined) {
    return {
      ...how,
      ...stopped,
      error: `${stopped.error}; attempt ${n} of ${total} had failed (${
        said(how)
      }), and attempt ${n + 1} was not started`,
    };
  }
  const worded = how.signal !== undefined
    ? `, and the worker ended by ${how.signal}`
    : `, and the worker exited with code ${how.exitCode}`;
  return {
    ...how,
    ...stopped,
    error: stopped.error + describeStop(end.stop) + worded + of,
  };
}

/**
 * Folds a job's journal into its record (pure: the same journal gives the
 * same record, and folding twice changes nothing). Only a job whose record
 * says it is supervised (`running`, `paused`) is folded; its end goes
 * through `endJob` (the first end wins).
 *
 * @param job The record as read; a copy is returned.
 * @returns The job as its journal says it is.
 */
export function foldJournal(job: Job, journal: Journal | undefined): Job {
  if (journal === undefined) return job;
  if (!isSupervisedStatus(job.status)) {
    // Only the supervisor's evidence makes an end final: an end its
    // journal holds and the record does not say (another host, a forged
    // row) is replaced by the journal's.
    const { end } = journal;
    if (end === undefined || journal.supervisor === undefined) return job;
    const own = journalEnd(job, end);
    if (
      own.status === job.status && own.exitCode === job.exitCode &&
      own.signal === job.signal
    ) return job;
    return foldJournal(reopened(job), journal);
  }
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
    // An attempt started after the pause: the paused worker ended (killed
    // from outside) and its supervisor started the next one running.
    if (
      out.status === "paused" &&
      worker.startedAt.getTime() > (out.pausedAt?.getTime() ?? Infinity)
    ) {
      out.status = "running";
      delete out.pausedAt;
    }
  }
  const { end } = journal;
  if ((job.retries ?? 0) > 0 && journal.attempts.length > 0) {
    out.attempts = journal.attempts.map((a): JobAttempt => {
      if (a.end === undefined) return { startedAt: a.startedAt };
      // The last one ended as the job did, said without "attempt n of m",
      // unless the job was halted before the next.
      const ended = end?.n === a.n && !end.beforeNext
        ? journalEnd({ ...job, retries: 0 }, end)
        : workerEnd(a.end.status);
      const { status: _, unstarted: __, ...how } = ended as ReturnType<
        typeof workerEnd
      >;
      return { startedAt: a.startedAt, endedAt: a.end.at, ...how };
    });
    // A new attempt starts without what the one before reported.
    if (out.attempts.length > Math.max(1, job.attempts?.length ?? 0)) {
      const at = out.attempts.at(-1)!.startedAt.getTime();
      if ((out.progress?.updatedAt.getTime() ?? Infinity) < at) {
        delete out.progress;
      }
      delete out.result;
    }
  }
  return end === undefined ? out : endJob(journalEnd(out, end), end.at)(out);
}

/**
 * The job as it was before an end was recorded: running, with no end.
 * What a supervisor's own evidence (its journal, its lock) says instead
 * of an end it did not write.
 */
export function reopened(job: Job): Job {
  const out = structuredClone(job);
  out.status = "running";
  delete out.completedAt;
  delete out.exitCode;
  delete out.signal;
  delete out.error;
  return out;
}

/**
 * Writes the launcher's text (the plan, or `G`) into the journal: the whole
 * file, or appended.
 */
export function writeJournal(
  livePath: string,
  text: string,
  append = false,
): void {
  using file = openJobFile(livePath, {
    write: !append,
    append,
    create: true,
  })!;
  if (!append) file.truncateSync(0);
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
}

/**
 * Appends a supervisor's line, stamped now (epoch ms), to the journal: the
 * Deno supervisor's side of the protocol the shim writes. After a line cut
 * short (a full disk), a newline first.
 */
export function appendJournal(
  livePath: string,
  tag: string,
  fields: (string | number)[],
  sync = false,
): void {
  using file = openJobFile(livePath, { append: true, create: true })!;
  const size = file.statSync().size;
  const last = new Uint8Array(1);
  if (size > 0) file.seekSync(size - 1, Deno.SeekMode.Start);
  const cut = size > 0 && file.readSync(last) === 1 && last[0] !== 0x0a;
  const bytes = encoder.encode(
    (cut ? "\n" : "") + journalLine(tag, [`e${Date.now()}`, ...fields, "."]),
  );
  for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
  if (sync) file.syncDataSync();
}
