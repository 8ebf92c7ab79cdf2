// The job record on disk: the one table of fields that parses, writes and
// lists the keys of a record, and the reading of record files. The format
// is epack's (its Go `jobs.Job`, whose CLI reads our files) and is frozen:
// epack's keys first, in its order and with its JSON types, then ours, then
// any key we do not know, kept as it was read.

import {
  checkJobName,
  isJobId,
  JobNotFoundError,
  validateJobId,
} from "./job_id.ts";
import { checkDuration } from "../duration.ts";
import {
  checkAfter,
  checkHook,
  checkLogMax,
  checkRetries,
} from "./job_options.ts";
import { InvalidJobFileError, type Job } from "./job.ts";
import { resultDepthProblem } from "./report_rules.ts";
import {
  attempts,
  boolean,
  checked,
  type Field,
  identity,
  integer,
  object,
  progress,
  type Reject,
  required,
  status,
  string,
  stringMap,
  strings,
  time,
  typed,
  withDefault,
} from "./record_fields.ts";

// `host` and `logTail` are what a store keeps beside the record, not in it.
type RecordField = Exclude<keyof Job, "extra" | "host" | "logTail">;

// Every field of Job, in the order written to disk: epack's first (in the
// order of its Go struct), then ours. `satisfies` makes a field of Job
// missing here (or the reverse) a type error.
const FIELDS = {
  id: required(string("id")),
  command: required(string("command")),
  args: withDefault(strings("args"), () => []),
  status: required(status("status")),
  pid: withDefault(integer("pid"), () => 0),
  startedAt: required(time("started_at")),
  completedAt: time("completed_at"),
  exitCode: integer("exit_code"),
  logPath: withDefault(string("log_path"), () => ""),
  // epack's error is `omitempty`: an empty message is not written.
  error: {
    ...string("error"),
    write: (v) => v === "" || v === null ? undefined : v,
  },
  // The same bound as reportResult(): deeper results blow the stack of
  // whoever reads them back (epack's Go reader refuses past 10,000).
  result: checked(object("result"), (value) => {
    const problem = resultDepthProblem(value);
    if (problem !== undefined) throw new RangeError(problem.reason);
  }),
  flags: withDefault(strings("flags"), () => []),
  signal: string("signal"),
  workingDir: string("working_dir"),
  timeout: integer("timeout_ms"),
  workerPid: integer("worker_pid"),
  workerStartTicks: integer("worker_start_ticks"),
  argv: strings("argv"),
  supervisedAt: time("supervised_at"),
  grace: integer("grace_ms"),
  cancelRequestedAt: time("cancel_requested_at"),
  retries: checked(integer("retries"), checkRetries),
  retryDelay: checked(
    integer("retry_delay_ms"),
    (ms) => checkDuration("retry delay", ms),
  ),
  // What a job runs after is resolved to IDs before it is recorded.
  after: checked(strings("after"), (ids) => checkAfter(ids, isJobId)),
  afterOk: boolean("after_ok"),
  onEnd: checked(string("on_end"), checkHook),
  logMax: checked(integer("log_max"), checkLogMax),
  attempts: attempts("attempts"),
  progress: progress("progress"),
  pausedAt: time("paused_at"),
  supervisorArgv: checked(strings("supervisor_argv"), (argv) => {
    if (argv.length === 0) throw new RangeError("empty command line");
  }),
  env: stringMap("env"),
  name: checked(string("name"), checkJobName),
  restartOf: checked(string("restart_of"), validateJobId),
  supervisor: typed<"shim" | "deno">(
    "supervisor",
    '"shim" or "deno"',
    (v) => v === "shim" || v === "deno",
  ),
  onEndStartedAt: time("on_end_started_at"),
} satisfies { [K in RecordField]-?: Field<Job[K]> };

const ENTRIES = Object.entries(FIELDS) as [RecordField, Field<unknown>][];

// Whether a field must read an absent key (required, or defaulted): most
// keys of a record are absent, and a listing parses every record.
const READ_ABSENT = ENTRIES.map(([, field]) => {
  try {
    return field.read(undefined, () => {
      throw new Error();
    }) !== undefined;
  } catch {
    return true;
  }
});

/** Each field that has a key on disk, with its key: for table tests. */
export const FIELD_KEYS: readonly (readonly [RecordField, string])[] = ENTRIES
  .map(([name, field]) => [name, field.key] as const);

/** Every key a record may have that this module knows. */
export const KNOWN_KEYS: ReadonlySet<string> = new Set(
  ENTRIES.map(([, field]) => field.key),
);

/**
 * Parses and validates the text of a job record; unknown keys go in
 * `extra`. `id` is the one the file is named for, `path` is for messages.
 *
 * @throws {InvalidJobFileError} If the record is not valid.
 */
export function parseJobRecord(text: string, id: string, path: string): Job {
  const reject: Reject = (reason) => {
    throw new InvalidJobFileError(id, path, reason);
  };
  // A row of a shared store names its own ID: one that is not an ID is
  // not a job (paths and commands are made from IDs).
  if (!isJobId(id)) reject("its ID is not a valid job ID");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // Only once parsing failed: trimming every record made a copy of each.
    if (text.trim() === "") reject("empty file");
    const why = `not valid JSON (${(err as Error).message})`;
    throw new InvalidJobFileError(id, path, why, { cause: err });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return reject("not a JSON object");
  }
  const r = raw as Record<string, unknown>;
  // The ID first: a record that names another job is foreign, whatever else
  // is wrong with it.
  const recordId = FIELDS.id.read(r.id, reject);
  if (recordId !== id) {
    reject(
      `"id" is ${JSON.stringify(recordId)}, but the file is named for ${id}`,
    );
  }
  const job: Record<string, unknown> = {};
  for (let i = 0; i < ENTRIES.length; i++) {
    const [name, field] = ENTRIES[i];
    const raw = r[field.key];
    if (raw === undefined && !READ_ABSENT[i]) continue;
    const value = field.read(raw, reject);
    if (value !== undefined) job[name] = value;
  }
  let extra: Record<string, unknown> | undefined;
  for (const key in r) {
    if (KNOWN_KEYS.has(key)) continue;
    // Kept and written back on every update: as deep as a result may be,
    // or the record could be read but never written again.
    const problem = resultDepthProblem(r[key]);
    if (problem !== undefined) reject(`"${key}" is ${problem.reason}`);
    (extra ??= {})[key] = r[key];
  }
  if (extra !== undefined) job.extra = extra;
  return job as unknown as Job;
}

/**
 * The JSON object of a job as written to disk: epack's keys first, in its
 * order and with its types, then ours, then the unknown keys that were
 * read. With `check`, each value is read back through its field's reader,
 * and a TypeError or RangeError naming the key refuses what the parser
 * would refuse.
 */
export function toRecord(job: Job, check = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, field] of ENTRIES) {
    const value = job[name];
    if (!check) {
      // Every writer leaves an absent value out.
      if (value === undefined) continue;
      const written = field.write === identity
        ? value
        : field.write(value as never);
      if (written !== undefined) out[field.key] = written;
      continue;
    }
    const reject: Reject = (reason, kind = "type") => {
      throw badField(job.id, field.key, reason, value, kind);
    };
    let written: unknown;
    try {
      written = field.write(value as never);
    } catch (err) {
      // toISOString() of an invalid date, or of something not a date.
      return reject(
        `"${field.key}" cannot be written (${(err as Error).message})`,
        err instanceof RangeError ? "range" : "type",
      );
    }
    field.read(written, reject);
    if (written !== undefined) out[field.key] = written;
  }
  const extra = job.extra;
  for (const key in extra) {
    const value = extra[key];
    if (!KNOWN_KEYS.has(key) && value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * The ID of the newest job named `name` (by start time, then ID) among the
 * records `read` gives (`undefined` if gone). Only a record whose text
 * holds the name is parsed.
 */
export function newestNamed(
  name: string,
  ids: readonly string[],
  read: (id: string) => string | undefined,
): string | undefined {
  const holds = new RegExp(`"name"\\s*:\\s*"${name.replaceAll(".", "\\.")}"`);
  let best: Job | undefined;
  for (const id of ids) {
    const text = read(id);
    if (text === undefined || !holds.test(text)) continue;
    let job: Job;
    try {
      job = parseJobRecord(text, id, id);
    } catch (err) {
      if (err instanceof InvalidJobFileError) continue;
      throw err;
    }
    if (job.name !== name) continue;
    const later = best && job.startedAt.getTime() - best.startedAt.getTime();
    if (!best || later! > 0 || (later === 0 && job.id > best.id)) best = job;
  }
  return best?.id;
}

/**
 * Reads and parses a job's record file, synchronously (for listings and
 * reads under a lock: an asynchronous read, a trip through Deno's thread
 * pool, cost more than the parsing).
 *
 * @throws {JobNotFoundError} If there is no such file.
 * @throws {InvalidJobFileError} If it is not a valid record.
 */
export function readJobFileSync(path: string, id: string): Job {
  let text: string;
  try {
    checkRecordFile(Deno.lstatSync(path), path, id);
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw readError(err, path, id);
  }
  return parseJobRecord(text, id, path);
}

/** {@linkcode readJobFileSync}, read asynchronously. */
export async function readJobFile(path: string, id: string): Promise<Job> {
  let text: string;
  try {
    checkRecordFile(await Deno.lstat(path), path, id);
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw readError(err, path, id);
  }
  return parseJobRecord(text, id, path);
}

/** The most bytes a record holds: more than ARG_MAX (2 MiB) can make. */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

// Looked at before the record is opened: a FIFO would block the open, and
// a huge file would be read whole on every listing.
function checkRecordFile(info: Deno.FileInfo, path: string, id: string): void {
  const why = !info.isFile
    ? "not a regular file"
    : info.size > MAX_RECORD_BYTES
    ? `${info.size} bytes, more than a record holds (${MAX_RECORD_BYTES})`
    : undefined;
  if (why !== undefined) throw new InvalidJobFileError(id, path, why);
}

/** What a failed read of a record means for the store. */
function readError(err: unknown, path: string, id: string): unknown {
  if (err instanceof Deno.errors.NotFound) {
    return new JobNotFoundError(id, { cause: err });
  }
  const why = err instanceof Deno.errors.IsADirectory
    ? "not a regular file"
    : err instanceof TypeError || err instanceof SyntaxError
    ? "not valid UTF-8 text"
    : undefined;
  return why === undefined
    ? err
    : new InvalidJobFileError(id, path, why, { cause: err });
}

/**
 * The text of a job's record, checked by the rule the parser applies (the
 * store never writes a record it would refuse to read): each field through
 * its own reader (see {@linkcode toRecord}), then the whole text parsed
 * again, which catches what JSON makes of a value (a `toJSON`, say).
 *
 * @throws {TypeError} If a field has a type the record cannot hold, or a
 * value cannot be written as JSON; the message names the field's key.
 * @throws {RangeError} If a field has the right type but a value the record
 * cannot hold (a fractional integer, an invalid date, an unknown status).
 */
export function serializeJobRecord(job: Job): string {
  const out = toRecord(job, true);
  let text: string;
  try {
    text = JSON.stringify(out, null, 2) + "\n";
  } catch (err) {
    // A BigInt or a cycle somewhere: name the key that holds it.
    const key = Object.keys(out).find((k) => {
      try {
        JSON.stringify(out[k]);
        return false;
      } catch {
        return true;
      }
    });
    const why = `"${key}" cannot be written as JSON`;
    throw new TypeError(
      `Invalid job record ${job.id}: ${why} (${(err as Error).message})`,
      { cause: err },
    );
  }
  try {
    parseJobRecord(text, job.id, `${job.id}.json`);
  } catch (err) {
    if (!(err instanceof InvalidJobFileError)) throw err;
    throw new TypeError(`Invalid job record ${job.id}: ${err.reason}`, {
      cause: err,
    });
  }
  // A UTF-16 unit is at most 4 bytes of UTF-8: what is written can be read.
  if (text.length > MAX_RECORD_BYTES / 4) {
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > MAX_RECORD_BYTES) {
      throw new RangeError(
        `Invalid job record ${job.id}: ${bytes} bytes, more than a record holds (${MAX_RECORD_BYTES})`,
      );
    }
  }
  return text;
}

function badField(
  id: string,
  key: string,
  reason: string,
  value: unknown,
  kind: "type" | "range",
): Error {
  const named = reason.includes(`"${key}"`) ? reason : `"${key}": ${reason}`;
  const message = `Invalid job record ${id}: ${named} (${show(value)})`;
  return kind === "range" ? new RangeError(message) : new TypeError(message);
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Date) {
    return Number.isNaN(value.getTime())
      ? "an invalid date"
      : value.toISOString();
  }
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "object" && value !== null) {
    return Array.isArray(value) ? "an array" : "an object";
  }
  return String(value);
}
