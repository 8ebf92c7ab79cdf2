// The options that say how a job is run beyond its command line (retries,
// the jobs it runs after, its end hook, its log cap) and a new job's
// record. Each is checked here, once, against the range the record can
// hold: spawn(), the CLI's flags and the store's create() all call these
// checks, so no entry point can write a record the store would refuse to
// read.

import { checkDuration, MAX_DURATION } from "../duration.ts";
import {
  checkJobName,
  isJobReference,
  newJobId,
  validateJobId,
} from "./job_id.ts";
import type { CreateJobOptions, Job, JobControlOptions } from "./job.ts";

/** Default job timeout: 24 hours. */
export const DEFAULT_JOB_TIMEOUT: number = 24 * 60 * 60 * 1000;

/**
 * Default time between SIGTERM and SIGKILL when a job is stopped: 10
 * seconds.
 */
export const DEFAULT_KILL_GRACE: number = 10_000;

/** The most times a failed worker is run again (`retries`). */
export const MAX_RETRIES = 1000;

/** The most jobs one job may run after (`after`). */
export const MAX_AFTER = 1000;

/** The longest end hook command, in UTF-16 code units. */
export const MAX_HOOK_LENGTH = 64 * 1024;

/** The default first pause before a retry: 1 s, doubling each time. */
export const DEFAULT_RETRY_DELAY = 1_000;

/**
 * Checks a retry count.
 *
 * @throws {RangeError} If it is not a whole number from 0 to
 * {@linkcode MAX_RETRIES}.
 */
export function checkRetries(n: number): number {
  if (
    typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > MAX_RETRIES
  ) {
    throw new RangeError(
      `Invalid retries: ${
        typeof n === "number" ? n : JSON.stringify(n)
      } (a whole number from 0 to ${MAX_RETRIES})`,
    );
  }
  return n;
}

/**
 * Checks a list of jobs to run after: references (IDs or names) by
 * default, or what `valid` accepts (a record holds IDs only).
 *
 * @throws {TypeError} If it is not a list of such references.
 * @throws {RangeError} If it holds more than {@linkcode MAX_AFTER} jobs.
 */
export function checkAfter(
  ids: readonly string[],
  valid: (ref: string) => boolean = isJobReference,
): string[] {
  if (!Array.isArray(ids)) {
    throw new TypeError("Invalid after: not a list of jobs");
  }
  const seen = new Set<string>();
  for (const id of ids) {
    if (typeof id !== "string" || !valid(id)) {
      throw new TypeError(
        `Invalid after: ${JSON.stringify(id)} is not a job ID or name`,
      );
    }
    seen.add(id);
  }
  if (seen.size > MAX_AFTER) {
    throw new RangeError(
      `Invalid after: ${seen.size} jobs (at most ${MAX_AFTER})`,
    );
  }
  return [...seen];
}

/**
 * Checks an end hook command.
 *
 * @throws {TypeError} If it is not a non-empty string without NUL.
 * @throws {RangeError} If it is longer than {@linkcode MAX_HOOK_LENGTH}.
 */
export function checkHook(command: string): string {
  if (typeof command !== "string" || command.trim() === "") {
    throw new TypeError("Invalid on-end hook: an empty command");
  }
  if (command.includes("\0")) {
    throw new TypeError("Invalid on-end hook: the command holds a NUL byte");
  }
  if (command.length > MAX_HOOK_LENGTH) {
    throw new RangeError(
      `Invalid on-end hook: ${command.length} characters (at most ${MAX_HOOK_LENGTH})`,
    );
  }
  return command;
}

/**
 * The smallest log cap, 4 KiB: room for the line that says what was
 * dropped and for some output after it. (Trimming the log in place needs
 * eight of the file system's blocks, 32 KiB on most; a smaller cap is kept
 * by the slower pipe writer instead, see _log_cap.ts.)
 */
export const LOG_MAX_MIN = 4096;

/**
 * Checks a log cap.
 *
 * @throws {RangeError} If it is not a whole number from
 * {@linkcode LOG_MAX_MIN} (4096) to `Number.MAX_SAFE_INTEGER`.
 */
export function checkLogMax(bytes: number): number {
  if (
    typeof bytes !== "number" || !Number.isSafeInteger(bytes) ||
    bytes < LOG_MAX_MIN
  ) {
    throw new RangeError(
      `Invalid log cap: ${
        typeof bytes === "number" ? bytes : JSON.stringify(bytes)
      } (a whole number of bytes from ${LOG_MAX_MIN} (4KiB) to ${Number.MAX_SAFE_INTEGER})`,
    );
  }
  return bytes;
}

/**
 * Checks every job-control option given, and returns them as the record
 * holds them (unset ones left out, `after` without repeats).
 *
 * @throws {TypeError} If an option has the wrong type.
 * @throws {RangeError} If an option is out of range.
 */
export function checkJobControl(
  options: JobControlOptions,
): JobControlOptions {
  const out: JobControlOptions = {};
  if (options.name !== undefined) out.name = checkJobName(options.name);
  if (options.retries !== undefined) {
    out.retries = checkRetries(options.retries);
  }
  if (options.retryDelay !== undefined) {
    out.retryDelay = checkDuration("retry delay", options.retryDelay);
  }
  if (options.after !== undefined) {
    const after = checkAfter(options.after);
    if (after.length > 0) out.after = after;
  }
  if (options.afterOk !== undefined) {
    if (typeof options.afterOk !== "boolean") {
      throw new TypeError("Invalid afterOk: not a boolean");
    }
    if (options.afterOk) {
      if (out.after === undefined) {
        throw new TypeError("afterOk needs the jobs to run after (after)");
      }
      out.afterOk = true;
    }
  }
  if (options.onEnd !== undefined) out.onEnd = checkHook(options.onEnd);
  if (options.logMax !== undefined) out.logMax = checkLogMax(options.logMax);
  return out;
}

/**
 * The pause before retry number `attempt` (1 for the first): `delay`
 * doubled for each earlier retry, capped at one hour (or at `delay`, if
 * that is longer), then with up to 20 % jitter taken off, so that jobs that
 * failed together do not all come back at once.
 */
export function retryPause(
  delay: number,
  attempt: number,
  random: number = Math.random(),
): number {
  const cap = Math.max(delay, 60 * 60 * 1000);
  const doubled = delay * 2 ** Math.min(Math.max(attempt - 1, 0), 60);
  const pause = Math.min(doubled, cap, MAX_DURATION);
  return Math.round(pause * (1 - 0.2 * random));
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a size such as `512`, `64KiB`, `10MB`, `1.5GiB` or `2G` into
 * bytes: `KB`, `MB`, ... are powers of 1000, `KiB`, `MiB`, ... and the bare
 * letters `K`, `M`, `G`, `T` powers of 1024; a bare number is bytes.
 *
 * @throws {RangeError} If it is not a size, is not a whole number of bytes,
 * or is out of range.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m === null ? undefined : SIZE_UNITS[m[2].toLowerCase()];
  if (m === null || unit === undefined) {
    throw new RangeError(
      `Invalid size ${
        JSON.stringify(text)
      }: use a number of bytes, or one with a unit such as 64KiB, 10MB, 1GiB`,
    );
  }
  const bytes = Number(m[1]) * unit;
  if (!Number.isInteger(bytes)) {
    throw new RangeError(
      `Invalid size ${JSON.stringify(text)}: not a whole number of bytes`,
    );
  }
  return checkLogMax(bytes);
}

/**
 * A new job, as a store's `create()` makes it from its options: the one
 * place where they are checked and turned into a record, for every store.
 *
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
  if (options.restartOf !== undefined) {
    job.restartOf = validateJobId(options.restartOf);
  }
  return job;
}
