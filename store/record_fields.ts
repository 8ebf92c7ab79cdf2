// The kinds of field a job record holds, each read from and written to its
// JSON as epack's Go code writes it: record.ts makes its table of fields
// from them.

import { MAX_RETRIES } from "./job_options.ts";
import {
  JOB_STATUSES,
  type JobAttempt,
  type JobProgress,
  type JobStatus,
} from "./job.ts";
import { progressProblem } from "./report_rules.ts";

/**
 * Rejects the record with a reason. `kind`: the wrong type (the default) or
 * a value the record cannot hold; the writer throws a TypeError or a
 * RangeError accordingly, the parser an InvalidJobFileError either way.
 */
export type Reject = (reason: string, kind?: "type" | "range") => never;

/**
 * How one field of Job is stored: its key on disk, the reader of the key's
 * raw JSON value (`undefined` if absent), and the writer of its JSON value
 * (`undefined` leaves the key out).
 */
export interface Field<T> {
  key: string;
  read(raw: unknown, reject: Reject): T;
  write(value: T): unknown;
}

/** The writer of a value written as it is (record.ts skips calling it). */
export const identity = <T>(v: T): T => v;

// Go's encoding/json writes time.Time as RFC 3339 with optional nanoseconds.
const RFC3339 =
  /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

// Go writes a nil slice or map as null, and its omitempty fields not at all:
// every reader takes null and absence alike, unless it says otherwise.

/** A JSON value that `is` and `inRange` accept, written as it is. */
export function typed<T>(
  key: string,
  what: string,
  is: (v: unknown) => boolean,
  inRange: (v: T) => boolean = () => true,
): Field<T | undefined> {
  return {
    key,
    read: (v, reject) => {
      if (v === undefined || v === null) return undefined;
      if (!is(v)) return reject(`"${key}" is not ${what}`);
      if (!inRange(v as T)) return reject(`"${key}" is not ${what}`, "range");
      return v as T;
    },
    write: identity,
  };
}

export const isObject = (v: unknown) =>
  typeof v === "object" && !Array.isArray(v);
export const string = (key: string) =>
  typed<string>(key, "a string", (v) => typeof v === "string");
export const integer = (key: string) =>
  typed<number>(
    key,
    "an integer",
    (v) => typeof v === "number",
    (v) => Number.isSafeInteger(v),
  );
export const boolean = (key: string) =>
  typed<boolean>(key, "a boolean", (v) => typeof v === "boolean");
export const object = (key: string) =>
  typed<Record<string, unknown>>(key, "an object", isObject);
/** An object whose values are all strings (an environment). */
export const stringMap = (key: string) =>
  typed<Record<string, string>>(
    key,
    "an object of strings",
    (v) =>
      isObject(v) &&
      Object.values(v as object).every((s) => typeof s === "string"),
  );
/** A list of strings; absent is `undefined`, but Go's null is `[]`. */
export function strings(key: string): Field<string[] | undefined> {
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
    write: identity,
  };
}

/** A string that `parse` turns into the field's value, or rejects. */
function fromString<T>(
  key: string,
  parse: (s: string, reject: Reject) => T,
  write: (v: T | undefined) => unknown,
): Field<T | undefined> {
  const text = string(key);
  return {
    key,
    read: (v, reject) => {
      const s = text.read(v, reject);
      return s === undefined ? undefined : parse(s, reject);
    },
    write,
  };
}

export const time = (key: string): Field<Date | undefined> =>
  fromString(key, (s, reject) => {
    const ms = RFC3339.test(s) ? Date.parse(s) : NaN;
    if (Number.isNaN(ms)) {
      return reject(`"${key}" is not an RFC 3339 time`, "range");
    }
    return new Date(ms);
  }, (v) => v?.toISOString());

export const status = (key: string): Field<JobStatus | undefined> =>
  fromString(key, (s, reject) => {
    if ((JOB_STATUSES as readonly string[]).includes(s)) return s as JobStatus;
    return reject(`unknown status ${JSON.stringify(s)}`, "range");
  }, identity);

/**
 * A worker's progress: `{done, total?, unit?, message?, updated_at}`, by the
 * rules report.ts applies when it is reported.
 */
export function progress(key: string): Field<JobProgress | undefined> {
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
      ) ?? reject(`"${key}": missing "updated_at"`);
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

/**
 * The attempts of a retried job: a list of objects with `started_at`, and
 * once ended `ended_at`, `exit_code`, `signal`, `error`. Other keys are not
 * kept: an attempt is the supervisor's account, written whole each time.
 */
export function attempts(key: string): Field<JobAttempt[] | undefined> {
  const keys = [
    ["endedAt", time, "ended_at"],
    ["exitCode", integer, "exit_code"],
    ["signal", string, "signal"],
    ["error", string, "error"],
  ] as const;
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
        const started = required(time(`${key}[${i}].started_at`));
        const a: Record<string, unknown> = {
          startedAt: started.read(r.started_at, reject),
        };
        for (const [name, kind, k] of keys) {
          const value = kind(`${key}[${i}].${k}`).read(r[k], reject);
          if (value !== undefined) a[name] = value;
        }
        return a as unknown as JobAttempt;
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

/** The value must also pass `check` (its option's), else it is out of range. */
export function checked<T>(
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
export function required<T>(field: Field<T | undefined>): Field<T> {
  return {
    ...field,
    read: (v, reject) =>
      field.read(v, reject) ?? reject(`missing "${field.key}"`),
  };
}

/** The field takes a value when absent (as Go's zero value). */
export function withDefault<T>(
  field: Field<T | undefined>,
  value: () => T,
): Field<T> {
  return { ...field, read: (v, reject) => field.read(v, reject) ?? value() };
}
