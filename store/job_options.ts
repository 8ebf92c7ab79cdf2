// A job's options beyond its command line, and a new job's record: each is
// checked here, once, against what the record can hold, for spawn(), the
// CLI and create() alike.

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

/** Default time between SIGTERM and SIGKILL when a job is stopped: 10 s. */
export const DEFAULT_KILL_GRACE: number = 10_000;

/** The most times a failed worker is run again (`retries`). */
export const MAX_RETRIES = 1000;

/** The most jobs one job may run after (`after`). */
export const MAX_AFTER = 1000;

/** The longest end hook command, in UTF-16 code units. */
export const MAX_HOOK_LENGTH = 64 * 1024;

/** The default first pause before a retry: 1 s, doubling each time. */
export const DEFAULT_RETRY_DELAY = 1_000;

/** Checks a retry count: a whole number from 0 to {@linkcode MAX_RETRIES}. */
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
 * Checks a list of jobs to run after (what `valid` accepts; a record holds
 * IDs only), without repeats.
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

/** Checks an end hook command: not empty, no NUL, not too long. */
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

/** The smallest log cap: room for the line saying what was dropped. */
export const LOG_MAX_MIN = 4096;

/** Checks a log cap: a whole number of bytes from {@linkcode LOG_MAX_MIN}. */
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
 * Checks every job-control option given; returns them as the record holds
 * them. TypeError for a wrong type, RangeError for a value out of range.
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
  if (options.afterOk !== undefined && typeof options.afterOk !== "boolean") {
    throw new TypeError("Invalid afterOk: not a boolean");
  }
  if (options.afterOk && out.after === undefined) {
    throw new TypeError("afterOk needs the jobs to run after (after)");
  }
  if (options.afterOk) out.afterOk = true;
  if (options.onEnd !== undefined) out.onEnd = checkHook(options.onEnd);
  if (options.logMax !== undefined) out.logMax = checkLogMax(options.logMax);
  return out;
}

/**
 * The pause before retry `attempt` (1 for the first): `delay` doubled for
 * each earlier one, capped at an hour (or `delay`), less up to 20 % jitter
 * so that jobs that failed together do not all come back at once.
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

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1 };
["k", "m", "g", "t"].forEach((letter, i) => {
  SIZE_UNITS[letter] = SIZE_UNITS[`${letter}ib`] = 1024 ** (i + 1);
  SIZE_UNITS[`${letter}b`] = 1000 ** (i + 1);
});

/**
 * Parses a size (`512`, `64KiB`, `10MB`, `2G`) into bytes: `KB` is 1000,
 * `KiB` and `K` 1024. RangeError for anything else, or out of range.
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

/** A new job, as every store's `create()` makes it from its options. */
export function newJob(
  options: CreateJobOptions,
  logPath: (id: string) => string,
): Job {
  const id = validateJobId(options.id ?? newJobId());
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
  const { workingDir, timeout, argv, grace, supervisorArgv, env, restartOf } =
    options;
  if (workingDir !== undefined) job.workingDir = workingDir;
  if (timeout !== undefined) job.timeout = timeout;
  if (argv !== undefined) job.argv = [...argv];
  if (grace !== undefined) job.grace = grace;
  Object.assign(job, control);
  if (supervisorArgv !== undefined) job.supervisorArgv = [...supervisorArgv];
  if (env !== undefined) job.env = { ...env };
  if (restartOf !== undefined) job.restartOf = validateJobId(restartOf);
  return job;
}
