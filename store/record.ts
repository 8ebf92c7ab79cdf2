// The job record on disk: the one table of fields that parses, writes and
// lists the keys of a record, and the reading and writing of record files.
//
// The on-disk format is epack's (its Go `jobs.Job`, whose CLI reads our
// files) and is frozen: epack's keys first, in its order and with its JSON
// types, then ours, then any key we do not know, kept as it was read.
//
// The Job type itself is in _job.ts.

import { writeFileDurably } from "./durable.ts";
import { JobNotFoundError, newJobId, validateJobId } from "./job_id.ts";
import { checkDuration } from "../duration.ts";
import {
  checkAfter,
  checkHook,
  checkJobControl,
  checkLogMax,
  checkRetries,
  MAX_RETRIES,
} from "./job_options.ts";
import {
  type CreateJobOptions,
  InvalidJobFileError,
  type Job,
  JOB_STATUSES,
  type JobAttempt,
  type JobProgress,
  type JobStatus,
} from "./job.ts";
import { progressProblem, resultDepthProblem } from "./report_rules.ts";

// ---------------------------------------------------------------------------
// The table of fields

/**
 * Rejects the record with a reason; never returns. `kind` says whether the
 * value has the wrong type (`"type"`, the default) or the right type but a
 * value the record cannot hold (`"range"`): the writer throws a TypeError or
 * a RangeError accordingly, the parser an InvalidJobFileError either way.
 */
type Reject = (reason: string, kind?: "type" | "range") => never;

/** How one field of Job is stored: its key on disk, how to read and write it. */
interface Field<T> {
  /** The key in the JSON file. */
  key: string;
  /** Reads the key's raw JSON value (`undefined` if absent). */
  read(raw: unknown, reject: Reject): T;
  /** The JSON value to write; `undefined` leaves the key out. */
  write(value: T): unknown;
}

// Go's encoding/json writes time.Time as RFC 3339 with optional nanoseconds.
const RFC3339 =
  /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

// Go writes a nil slice or map as null, and its omitempty fields not at all:
// every reader takes null and absence alike, unless it says otherwise.

function string(key: string): Field<string | undefined> {
  return {
    key,
    read: (v, reject) => {
      if (v === undefined || v === null) return undefined;
      if (typeof v !== "string") return reject(`"${key}" is not a string`);
      return v;
    },
    write: (v) => v,
  };
}

function integer(key: string): Field<number | undefined> {
  return {
    key,
    read: (v, reject) => {
      if (v === undefined || v === null) return undefined;
      if (typeof v !== "number") return reject(`"${key}" is not an integer`);
      if (!Number.isSafeInteger(v)) {
        return reject(`"${key}" is not an integer`, "range");
      }
      return v;
    },
    write: (v) => v,
  };
}

/** A list of strings; absent is `undefined`, but Go's null is `[]`. */
function strings(key: string): Field<string[] | undefined> {
  return {
    key,
    read: (v, reject) => {
      if (v === undefined) return undefined;
      if (v === null) return [];
      if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
        return reject(`"${key}" is not a list of strings`);
      }
      return v as string[];
    },
    write: (v) => v,
  };
}

function time(key: string): Field<Date | undefined> {
  const text = string(key);
  return {
    key,
    read: (v, reject) => {
      const s = text.read(v, reject);
      if (s === undefined) return undefined;
      const ms = RFC3339.test(s) ? Date.parse(s) : NaN;
      if (Number.isNaN(ms)) {
        return reject(`"${key}" is not an RFC 3339 time`, "range");
      }
      return new Date(ms);
    },
    write: (v) => v?.toISOString(),
  };
}

function object(key: string): Field<Record<string, unknown> | undefined> {
  return {
    key,
    read: (v, reject) => {
      if (v === undefined || v === null) return undefined;
      if (typeof v !== "object" || Array.isArray(v)) {
        return reject(`"${key}" is not an object`);
      }
      return v as Record<string, unknown>;
    },
    write: (v) => v,
  };
}

/**
 * A worker's progress: `{done, total?, unit?, message?, updated_at}`, by the
 * rules report.ts applies when it is reported.
 */
function progress(key: string): Field<JobProgress | undefined> {
  const at = time("updated_at");
  return {
    key,
    read: (v, reject) => {
      if (v === undefined || v === null) return undefined;
      const problem = progressProblem(v);
      if (problem !== undefined) {
        return reject(`"${key}": ${problem.reason}`, problem.kind);
      }
      const raw = v as Record<string, unknown>;
      const updatedAt = at.read(
        raw.updated_at,
        (reason, kind) => reject(`"${key}": ${reason}`, kind),
      ) ??
        reject(`"${key}": missing "updated_at"`);
      const out: JobProgress = { done: raw.done as number, updatedAt };
      if (raw.total !== undefined) out.total = raw.total as number;
      if (raw.unit !== undefined) out.unit = raw.unit as string;
      if (raw.message !== undefined) out.message = raw.message as string;
      return out;
    },
    write: (v) =>
      v === undefined ? undefined : {
        done: v.done,
        total: v.total,
        unit: v.unit,
        message: v.message,
        updated_at: v.updatedAt?.toISOString(),
      },
  };
}

/** An object whose values are all strings (an environment). */
function stringMap(key: string): Field<Record<string, string> | undefined> {
  const obj = object(key);
  return {
    key,
    read: (v, reject) => {
      const value = obj.read(v, reject);
      if (value === undefined) return undefined;
      if (Object.values(value).some((s) => typeof s !== "string")) {
        return reject(`"${key}" is not an object of strings`);
      }
      return value as Record<string, string>;
    },
    write: (v) => v,
  };
}

function status(key: string): Field<JobStatus | undefined> {
  const text = string(key);
  return {
    key,
    read: (v, reject) => {
      const s = text.read(v, reject);
      if (s !== undefined && !(JOB_STATUSES as readonly string[]).includes(s)) {
        return reject(`unknown status ${JSON.stringify(s)}`, "range");
      }
      return s as JobStatus | undefined;
    },
    write: (v) => v,
  };
}

function boolean(key: string): Field<boolean | undefined> {
  return {
    key,
    read: (v, reject) => {
      if (v === undefined || v === null) return undefined;
      if (typeof v !== "boolean") return reject(`"${key}" is not a boolean`);
      return v;
    },
    write: (v) => v,
  };
}

/**
 * The attempts of a retried job: a list of objects, each with its own keys
 * (`started_at`, and once it ended `ended_at`, `exit_code`, `signal`,
 * `error`). Keys an attempt has that are not known here are not kept: an
 * attempt is the supervisor's account, written whole each time.
 */
function attempts(key: string): Field<JobAttempt[] | undefined> {
  const at = (i: number, name: string) => `${key}[${i}].${name}`;
  return {
    key,
    read: (v, reject) => {
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v)) return reject(`"${key}" is not a list`);
      // One more than the most retries: the first run and every retry.
      if (v.length > MAX_RETRIES + 1) {
        return reject(
          `"${key}" holds ${v.length} attempts (at most ${MAX_RETRIES + 1})`,
          "range",
        );
      }
      return v.map((raw: unknown, i) => {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
          return reject(`"${key}[${i}]" is not an object`);
        }
        const r = raw as Record<string, unknown>;
        const a: JobAttempt = {
          startedAt: required(time(at(i, "started_at"))).read(
            r.started_at,
            reject,
          ),
        };
        const endedAt = time(at(i, "ended_at")).read(r.ended_at, reject);
        const exitCode = integer(at(i, "exit_code")).read(r.exit_code, reject);
        const signal = string(at(i, "signal")).read(r.signal, reject);
        const error = string(at(i, "error")).read(r.error, reject);
        if (endedAt !== undefined) a.endedAt = endedAt;
        if (exitCode !== undefined) a.exitCode = exitCode;
        if (signal !== undefined) a.signal = signal;
        if (error !== undefined) a.error = error;
        return a;
      });
    },
    write: (v) =>
      v?.map((a) => {
        const out: Record<string, unknown> = {
          started_at: a.startedAt.toISOString(),
        };
        if (a.endedAt !== undefined) out.ended_at = a.endedAt.toISOString();
        if (a.exitCode !== undefined) out.exit_code = a.exitCode;
        if (a.signal !== undefined) out.signal = a.signal;
        if (a.error !== undefined) out.error = a.error;
        return out;
      }),
  };
}

/**
 * The field's value must also pass `check` (one of the checks of the
 * option it comes from), or the record is refused as out of range.
 */
function checked<T>(
  field: Field<T | undefined>,
  check: (value: T) => unknown,
): Field<T | undefined> {
  return {
    ...field,
    read: (v, reject) => {
      const value = field.read(v, reject);
      if (value === undefined) return undefined;
      try {
        check(value);
      } catch (err) {
        return reject(`"${field.key}": ${(err as Error).message}`, "range");
      }
      return value;
    },
  };
}

/** The field must be in the file. */
function required<T>(field: Field<T | undefined>): Field<T> {
  return {
    ...field,
    read: (v, reject) =>
      field.read(v, reject) ?? reject(`missing "${field.key}"`),
  };
}

/** The field takes a value when absent (as Go's zero value). */
function withDefault<T>(field: Field<T | undefined>, value: () => T): Field<T> {
  return { ...field, read: (v, reject) => field.read(v, reject) ?? value() };
}

/** The fields that have a key on disk: all but `extra`. */
// `host` and `logTail` are what a store keeps beside the record, not in it.
type RecordField = Exclude<keyof Job, "extra" | "host" | "logTail">;

/**
 * Every field of Job, in the order written to disk: epack's first (in the
 * order of its Go struct), then ours. The `satisfies` clause makes adding a
 * field to Job without adding it here (or the reverse) a type error.
 */
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
  after: checked(strings("after"), checkAfter),
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
} satisfies { [K in RecordField]-?: Field<Job[K]> };

const ENTRIES = Object.entries(FIELDS) as [RecordField, Field<unknown>][];

/**
 * Each field of Job that has a key on disk, with its key, in the order
 * written. For tests that go over the whole table.
 */
export const FIELD_KEYS: readonly (readonly [RecordField, string])[] = ENTRIES
  .map(([name, field]) => [name, field.key] as const);

/** Every key a record may have that this module knows. */
export const KNOWN_KEYS: ReadonlySet<string> = new Set(
  ENTRIES.map(([, field]) => field.key),
);

/**
 * Parses and validates the text of a job record.
 *
 * @param text The file's contents.
 * @param id The ID the file name gives; the record's `id` must match it.
 * @param path The file's path, for error messages.
 * @returns The job, with unknown keys in `extra`.
 * @throws {InvalidJobFileError} If the record is not valid.
 */
export function parseJobRecord(text: string, id: string, path: string): Job {
  const reject: Reject = (reason) => {
    throw new InvalidJobFileError(id, path, reason);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // Only looked for once parsing failed: a listing parses every record,
    // and trimming each one first made a copy of each.
    if (text.trim() === "") reject("empty file");
    throw new InvalidJobFileError(
      id,
      path,
      `not valid JSON (${(err as Error).message})`,
      { cause: err },
    );
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
  for (const [name, field] of ENTRIES) {
    const value = field.read(r[field.key], reject);
    if (value !== undefined) job[name] = value;
  }
  let extra: Record<string, unknown> | undefined;
  for (const key in r) {
    if (!KNOWN_KEYS.has(key)) (extra ??= {})[key] = r[key];
  }
  if (extra !== undefined) job.extra = extra;
  return job as unknown as Job;
}

/**
 * Turns a job into the JSON object written to disk: epack's keys first, in
 * epack's order and with its types, then ours, then the unknown keys that
 * were read from the file.
 *
 * @param job The job.
 * @returns A plain object ready for `JSON.stringify`.
 */
export function toRecord(job: Job): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, field] of ENTRIES) {
    const value = field.write(job[name]);
    if (value !== undefined) out[field.key] = value;
  }
  for (const [key, value] of Object.entries(job.extra ?? {})) {
    if (!KNOWN_KEYS.has(key) && value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Reads and parses a job's record file.
 *
 * @param path The record's path.
 * @param id The job ID the path is named for.
 * @returns The job as recorded.
 * @throws {JobNotFoundError} If there is no such file.
 * @throws {InvalidJobFileError} If it is not a valid record.
 */
export async function readJobFile(path: string, id: string): Promise<Job> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw readError(err, path, id);
  }
  return parseJobRecord(text, id, path);
}

/**
 * {@linkcode readJobFile} with a synchronous read: for listings, where an
 * asynchronous read per record (a trip through Deno's thread pool each) cost
 * more than the parsing.
 *
 * @param path The record's path.
 * @param id The job ID the path is named for.
 * @returns The job as recorded.
 * @throws {JobNotFoundError} If there is no such file.
 * @throws {InvalidJobFileError} If it is not a valid record.
 */
export function readJobFileSync(path: string, id: string): Job {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw readError(err, path, id);
  }
  return parseJobRecord(text, id, path);
}

/** What a failed read of a record means for the store. */
function readError(err: unknown, path: string, id: string): unknown {
  if (err instanceof Deno.errors.NotFound) {
    return new JobNotFoundError(id, { cause: err });
  }
  if (err instanceof Deno.errors.IsADirectory) {
    return new InvalidJobFileError(id, path, "not a regular file", {
      cause: err,
    });
  }
  if (err instanceof TypeError || err instanceof SyntaxError) {
    return new InvalidJobFileError(id, path, "not valid UTF-8 text", {
      cause: err,
    });
  }
  return err;
}

/**
 * The text of a job's record file, checked by the rule the parser applies:
 * the store never writes a record it would refuse to read. Each field's
 * value is read back through its own reader, then the whole text is parsed
 * again (which catches what JSON makes of a value, such as a `result` with a
 * `toJSON`). Nothing is written here.
 *
 * @param job The job; its `id` must be the one the file is named for.
 * @returns The JSON text, ending in a newline.
 * @throws {TypeError} If a field has a type the record cannot hold (a
 * string where a time belongs, a missing `command`), or a value cannot be
 * written as JSON; the message names the field's key.
 * @throws {RangeError} If a field has the right type but a value the record
 * cannot hold (a fractional or unsafe integer, an invalid or out-of-range
 * date, an unknown status); the message names the field's key.
 */
export function serializeJobRecord(job: Job): string {
  const out: Record<string, unknown> = {};
  for (const [name, field] of ENTRIES) {
    const value = job[name];
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
  for (const [key, value] of Object.entries(job.extra ?? {})) {
    if (!KNOWN_KEYS.has(key) && value !== undefined) out[key] = value;
  }
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
    throw new TypeError(
      `Invalid job record ${job.id}: "${key}" cannot be written as JSON (${
        (err as Error).message
      })`,
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

/**
 * Writes a record's text, already checked by {@linkcode serializeJobRecord}:
 * atomically, and durably unless `sync` is `false` (see `writeFileDurably`).
 *
 * @param path The record's path.
 * @param text The record's text.
 * @param options `createNew`: fail if the record exists; `sync`: flush it.
 * @throws {Deno.errors.AlreadyExists} With `createNew`, if the record exists.
 */
export function writeRecordText(
  path: string,
  text: string,
  options: { createNew?: boolean; sync?: boolean } = {},
): void {
  writeFileDurably(path, new TextEncoder().encode(text), options);
}

/**
 * A new job, as a store's `create()` makes it from its options: the one
 * place where they are checked and turned into a record, for every store.
 *
 * @param options What to record.
 * @param logPath The job's log file, given the job's ID.
 * @returns The job (status `running` unless `options.status` says
 * otherwise, started now); nothing is written.
 * @throws {InvalidJobIdError} If `options.id` is given and not valid.
 * @throws {RangeError} If a duration or another option is out of range.
 * @throws {TypeError} If an option has a type the record cannot hold.
 */
export function newJob(
  options: CreateJobOptions,
  logPath: (id: string) => string,
): Job {
  const id = validateJobId(options.id ?? newJobId());
  // Durations enter the store here: the same bound as everywhere else, so a
  // record never holds a timeout no caller could have asked for.
  if (options.timeout !== undefined) {
    checkDuration("timeout", options.timeout);
  }
  if (options.grace !== undefined) checkDuration("grace", options.grace);
  const control = checkJobControl(options);
  const status = options.status ?? "running";
  if (!["running", "waiting", "queued"].includes(status)) {
    throw new RangeError(
      `Invalid status for a new job: ${
        JSON.stringify(status)
      } (running, waiting or queued)`,
    );
  }
  const job: Job = {
    id,
    command: options.command,
    args: [...(options.args ?? [])],
    flags: [...(options.flags ?? [])],
    status,
    pid: options.pid ?? 0,
    startedAt: new Date(),
    logPath: logPath(id),
  };
  if (options.workingDir !== undefined) job.workingDir = options.workingDir;
  if (options.timeout !== undefined) job.timeout = options.timeout;
  if (options.argv !== undefined) job.argv = [...options.argv];
  if (options.grace !== undefined) job.grace = options.grace;
  Object.assign(job, control);
  if (options.supervisorArgv !== undefined) {
    job.supervisorArgv = [...options.supervisorArgv];
  }
  if (options.env !== undefined) job.env = { ...options.env };
  return job;
}
