/**
 * The job store: one JSON record and one log file per job, kept in a jobs
 * directory, written atomically and updated under a cross-process lock.
 *
 * The records use the key names and types of epack's Go `jobs.Job`, so the Go
 * CLI can read our files and we can read its files.
 *
 * @example Create a job, record its end, read it back
 * ```ts
 * import { JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const job = await store.create({ command: "pull", args: ["https://example.com/r"], pid: Deno.pid });
 * await store.complete(job.id, { exitCode: 0 });
 * const done = await store.load(job.id);
 * console.log(done.status); // "completed"
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import { identifyGroup } from "./timeout.ts";

/**
 * Every state a job can be in.
 *
 * - `running`: its supervisor is alive (or still starting).
 * - `completed`: the worker exited with code 0.
 * - `failed`: the worker exited with a non-zero code or was killed by a
 *   signal, or the job could not be started.
 * - `timed_out`: the job ran past its timeout and was stopped.
 * - `cancelled`: the job was cancelled and stopped.
 * - `lost`: the record says running, but no process holds the job's liveness
 *   lock any more: the supervisor crashed, was killed with SIGKILL, or the
 *   machine rebooted.
 *
 * @example One word per status, for a summary line
 * ```ts
 * import type { JobStatus } from "@epack/detach/jobs";
 *
 * function verb(status: JobStatus): string {
 *   return status === "running" ? "is running" : `ended: ${status}`;
 * }
 * console.log(verb("timed_out")); // ended: timed_out
 * ```
 */
export type JobStatus =
  | "running"
  | "completed"
  | "failed"
  | "timed_out"
  | "cancelled"
  | "lost";

/**
 * All job statuses, in the order they are documented.
 *
 * @example Check a status given on the command line
 * ```ts
 * import { JOB_STATUSES, type JobStatus } from "@epack/detach/jobs";
 *
 * const input = "timed_out";
 * if (!(JOB_STATUSES as readonly string[]).includes(input)) {
 *   throw new TypeError(`Unknown status: ${input}`);
 * }
 * const status = input as JobStatus;
 * console.log(status, JOB_STATUSES.length); // timed_out 6
 * ```
 */
export const JOB_STATUSES: readonly JobStatus[] = [
  "running",
  "completed",
  "failed",
  "timed_out",
  "cancelled",
  "lost",
];

/**
 * Statuses that mean the job has ended and will not change again.
 *
 * @example Has the job ended?
 * ```ts
 * import { FINAL_STATUSES } from "@epack/detach/jobs";
 *
 * console.log(FINAL_STATUSES.includes("running")); // false
 * console.log(FINAL_STATUSES.includes("lost")); // true
 * ```
 */
export const FINAL_STATUSES: readonly JobStatus[] = [
  "completed",
  "failed",
  "timed_out",
  "cancelled",
  "lost",
];

/**
 * One job, as the TypeScript API sees it.
 *
 * @example Describe a job's end
 * ```ts
 * import { type Job, JobStore } from "@epack/detach/jobs";
 *
 * function describe(job: Job): string {
 *   if (job.status === "running") return `${job.id} running`;
 *   const how = job.signal ?? `exit code ${job.exitCode ?? "none"}`;
 *   const why = job.error === undefined ? "" : `: ${job.error}`;
 *   return `${job.id} ${job.status} (${how})${why}`;
 * }
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const job = await store.create({ command: "sync", id: "job_1" });
 * console.log(describe(await store.complete(job.id, { exitCode: 3 })));
 * // job_1 failed (exit code 3)
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface Job {
  /** The job ID, a ULID for jobs created by this module. */
  id: string;
  /** The command that runs, for example `pull`. */
  command: string;
  /** The command's positional arguments. */
  args: string[];
  /** The command's flags, after the arguments. */
  flags: string[];
  /** The job's status. */
  status: JobStatus;
  /** The PID of the background process (the job's supervisor). */
  pid: number;
  /** When the job was created. */
  startedAt: Date;
  /** When the job ended, if it has. */
  completedAt?: Date;
  /** The worker's exit code, if it exited normally. */
  exitCode?: number;
  /** The signal that ended the worker, if one did (for example `SIGKILL`). */
  signal?: string;
  /** The absolute path of the job's log file. */
  logPath: string;
  /** The directory the job runs in. */
  workingDir?: string;
  /** The job's timeout in milliseconds. */
  timeout?: number;
  /** What went wrong, for a job that did not complete. */
  error?: string;
  /** Job-specific result data. */
  result?: Record<string, unknown>;
  /** The PID of the worker process, which leads its own process group. */
  workerPid?: number;
  /**
   * The worker's start time in clock ticks since boot (Linux
   * `/proc/<pid>/stat` field 22), which tells a reused PID from the worker.
   */
  workerStartTicks?: number;
  /** The full argument vector the supervisor runs as the worker. */
  argv?: string[];
  /** When the supervisor took the job's liveness lock. */
  supervisedAt?: Date;
  /** How long, in milliseconds, between SIGTERM and SIGKILL when stopping. */
  grace?: number;
  /** When a cancel was requested, if one was. */
  cancelRequestedAt?: Date;
  /** Keys found in the file that this module does not know; kept on rewrite. */
  extra?: Record<string, unknown>;
}

/**
 * What {@linkcode JobStore.create} needs to make a new job.
 *
 * @example Record a job with a chosen ID and a one-hour timeout
 * ```ts
 * import { type CreateJobOptions, JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const options: CreateJobOptions = {
 *   id: "nightly_sync",
 *   command: "sync",
 *   args: ["--all"],
 *   timeout: 60 * 60 * 1000,
 * };
 * const job = await new JobStore(dir).create(options);
 * console.log(job.id, job.status, job.timeout); // nightly_sync running 3600000
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface CreateJobOptions {
  /** The command that runs. */
  command: string;
  /**
   * The command's positional arguments.
   * @default {[]}
   */
  args?: string[];
  /**
   * The command's flags.
   * @default {[]}
   */
  flags?: string[];
  /**
   * The PID of the background process, if it is known yet.
   * @default {0}
   */
  pid?: number;
  /** The directory the job runs in. */
  workingDir?: string;
  /** The job's timeout in milliseconds. */
  timeout?: number;
  /** The full argument vector of the worker. */
  argv?: string[];
  /** Milliseconds between SIGTERM and SIGKILL when the job is stopped. */
  grace?: number;
  /**
   * The job ID; a new ULID when left out. It must pass
   * {@linkcode validateJobId}.
   */
  id?: string;
}

/**
 * Options for {@linkcode JobStore.list}.
 *
 * @example Only the failed jobs
 * ```ts
 * import { JobStore, type ListOptions } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const bad = await store.create({ command: "sync" });
 * await store.fail(bad.id, "Disk full");
 * const ok = await store.create({ command: "sync" });
 * await store.complete(ok.id, { exitCode: 0 });
 * const options: ListOptions = { status: "failed" };
 * const { jobs } = await store.list(options);
 * console.log(jobs.map((job) => job.error)); // [ "Disk full" ]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface ListOptions {
  /** Only jobs with this status (after liveness is taken into account). */
  status?: JobStatus;
}

/**
 * A file in the jobs directory that could not be read as a job.
 *
 * @example A corrupt record is reported, not hidden
 * ```ts
 * import { JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/job_1.json`, "{ not json");
 * const { invalid } = await new JobStore(dir).list();
 * for (const file of invalid) console.log(file.id, file.reason);
 * // job_1 not valid JSON (...)
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface InvalidJobFile {
  /** The ID the file name claims, or the file name if it is not a valid ID. */
  id: string;
  /** The file's path. */
  path: string;
  /** Why it was rejected. */
  reason: string;
}

/**
 * What {@linkcode JobStore.list} returns.
 *
 * @example Count the jobs and the unreadable files
 * ```ts
 * import { JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * await store.create({ command: "sync" });
 * await Deno.writeTextFile(`${dir}/job_x.json`, "");
 * const { jobs, invalid } = await store.list();
 * console.log(`${jobs.length} job(s), ${invalid.length} invalid file(s)`);
 * // 1 job(s), 1 invalid file(s)
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface ListResult {
  /** The valid jobs, newest first. */
  jobs: Job[];
  /** Files that look like job records but failed to load. */
  invalid: InvalidJobFile[];
}

/**
 * How a worker ended, for {@linkcode JobStore.complete}.
 *
 * @example A worker killed by a signal has failed
 * ```ts
 * import { type CompleteOptions, JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const job = await store.create({ command: "sync" });
 * const end: CompleteOptions = { signal: "SIGKILL", result: { synced: 12 } };
 * const done = await store.complete(job.id, end);
 * console.log(done.status, done.signal); // failed SIGKILL
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface CompleteOptions {
  /** The exit code, when the worker exited normally. */
  exitCode?: number;
  /** The signal, when the worker was killed by one. */
  signal?: string;
  /** Job-specific result data. */
  result?: Record<string, unknown>;
}

/**
 * Options for {@linkcode JobStore.delete}.
 *
 * @example Delete a job but keep its log
 * ```ts
 * import { JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const job = await store.create({ command: "sync" });
 * await store.fail(job.id, "Interrupted");
 * await store.delete(job.id, { log: false });
 * console.log((await Deno.stat(job.logPath)).isFile); // true
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface DeleteOptions {
  /**
   * Remove the job's log file too.
   * @default {true}
   */
  log?: boolean;
}

/**
 * What {@linkcode JobStore.holdLiveness} returns: the held lock, released
 * when disposed.
 *
 * @example Hold a job's liveness for a block
 * ```ts
 * import { JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const job = await store.create({ command: "work" });
 * {
 *   await using lease = await store.holdLiveness(job.id);
 *   console.log(lease.previous.supervisedAt); // undefined: first holder
 *   console.log(await store.isHeld(job.id)); // true
 * }
 * console.log(await store.isHeld(job.id)); // false
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface LivenessLease extends AsyncDisposable {
  /** The record as it was when the lock was taken, before it was stamped. */
  readonly previous: Job;
}

/**
 * An update function: gets the current record, returns the new one.
 *
 * @example Add result data to a job
 * ```ts
 * import { JobStore, type JobUpdater } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const job = await store.create({ command: "sync" });
 * const addProgress: JobUpdater = (current) => {
 *   current.result = { ...current.result, done: 40, total: 100 };
 *   return current;
 * };
 * const updated = await store.update(job.id, addProgress);
 * console.log(updated.result); // { done: 40, total: 100 }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export type JobUpdater = (job: Job) => Job | Promise<Job>;

/**
 * The environment variable that holds a job's ID in its worker and every
 * process the worker starts. A job can read it to know itself; cancel() and
 * clean() use it to recognise a lost job's processes once the worker that
 * led their group is gone.
 *
 * @example Inside a job
 * ```ts
 * import { JOB_ID_ENV } from "@epack/detach/jobs";
 *
 * console.log(JOB_ID_ENV); // "EPACK_DETACH_JOB_ID"
 * ```
 */
export const JOB_ID_ENV = "EPACK_DETACH_JOB_ID";

/**
 * How long after creation a running job whose supervisor has not yet taken
 * its liveness lock is still presumed to be starting. After that it is lost.
 *
 * @example Show the grace period
 * ```ts
 * import { SUPERVISOR_START_GRACE_MS } from "@epack/detach/jobs";
 * import { formatDuration } from "@epack/detach/duration";
 *
 * console.log(formatDuration(SUPERVISOR_START_GRACE_MS)); // 30s
 * ```
 */
export const SUPERVISOR_START_GRACE_MS = 30_000;

const ID_PATTERN = /^[0-9A-Za-z_]{1,64}$/;
// Go's encoding/json writes time.Time as RFC 3339 with optional nanoseconds.
const RFC3339 =
  /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Thrown when a job ID from outside is not a valid ID. Nothing on disk is
 * touched for such an ID.
 *
 * @example Refuse an ID that would name a path
 * ```ts
 * import { InvalidJobIdError, JobStore } from "@epack/detach/jobs";
 *
 * try {
 *   new JobStore(".epack/jobs").logPath("../../etc/passwd");
 * } catch (err) {
 *   if (!(err instanceof InvalidJobIdError)) throw err;
 *   console.log(err.id); // ../../etc/passwd
 * }
 * ```
 */
export class InvalidJobIdError extends Error {
  /** The rejected ID. */
  readonly id: string;
  /**
   * Makes the error for a rejected ID.
   * @param id The rejected ID.
   * @param reason Why it was rejected.
   */
  constructor(id: string, reason: string) {
    super(`Invalid job ID ${JSON.stringify(id)}: ${reason}`);
    this.id = id;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "InvalidJobIdError";
  }
}

/**
 * Thrown when no job has the given ID (or ID prefix).
 *
 * @example Look up a job that does not exist
 * ```ts
 * import { JobNotFoundError, JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await new JobStore(dir).load("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * } catch (err) {
 *   if (!(err instanceof JobNotFoundError)) throw err;
 *   console.log(err.message); // Job not found: 01JD0Q2V3K5W8Y9Z0A1B2C3D4E
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class JobNotFoundError extends Error {
  /** The ID that was looked up. */
  readonly id: string;
  /**
   * Makes the error for a missing job.
   * @param id The ID that was looked up.
   * @param options The underlying error, if any.
   */
  constructor(id: string, options?: ErrorOptions) {
    super(`Job not found: ${id}`, options);
    this.id = id;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "JobNotFoundError";
  }
}

/**
 * Thrown when an ID prefix matches more than one job.
 *
 * @example Ask the user to type more of the ID
 * ```ts
 * import { AmbiguousJobIdError, JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * await store.create({ command: "sync", id: "job_a1" });
 * await store.create({ command: "sync", id: "job_a2" });
 * try {
 *   await store.resolveId("job_a");
 * } catch (err) {
 *   if (!(err instanceof AmbiguousJobIdError)) throw err;
 *   console.log(err.candidates); // [ "job_a1", "job_a2" ]
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class AmbiguousJobIdError extends Error {
  /** The prefix that was looked up. */
  readonly prefix: string;
  /** Every job ID the prefix matches (the message shows the first 10). */
  readonly candidates: string[];
  /**
   * Makes the error for an ambiguous prefix.
   * @param prefix The prefix that was looked up.
   * @param candidates The IDs it matches.
   */
  constructor(prefix: string, candidates: string[]) {
    const shown = candidates.slice(0, 10).join(", ");
    const more = candidates.length > 10
      ? ` and ${candidates.length - 10} more`
      : "";
    super(`Ambiguous job ID prefix ${prefix}: matches ${shown}${more}`);
    this.prefix = prefix;
    this.candidates = candidates;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "AmbiguousJobIdError";
  }
}

/**
 * Thrown when a job file exists but is not a valid job record.
 *
 * @example A record with an unknown status
 * ```ts
 * import { InvalidJobFileError, parseJobRecord } from "@epack/detach/jobs";
 *
 * const text = JSON.stringify({ id: "job_1", command: "sync", status: "paused" });
 * try {
 *   parseJobRecord(text, "job_1", ".epack/jobs/job_1.json");
 * } catch (err) {
 *   if (!(err instanceof InvalidJobFileError)) throw err;
 *   console.log(err.reason); // unknown status "paused"
 * }
 * ```
 */
export class InvalidJobFileError extends Error {
  /** The job ID. */
  readonly id: string;
  /** The path of the file. */
  readonly path: string;
  /** Why the record is invalid. */
  readonly reason: string;
  /**
   * Makes the error for an unreadable record.
   * @param id The job ID.
   * @param path The file's path.
   * @param reason Why it is invalid.
   * @param options The underlying error, if any.
   */
  constructor(
    id: string,
    path: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`Invalid job file ${path}: ${reason}`, options);
    this.id = id;
    this.path = path;
    this.reason = reason;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "InvalidJobFileError";
  }
}

/**
 * Checks a job ID that came from outside. It must be 1 to 64 characters of
 * `A-Z`, `a-z`, `0-9` or `_` (epack's rule), so it can never name a path
 * outside the jobs directory.
 *
 * @param id The ID to check.
 * @returns The same ID.
 * @throws {InvalidJobIdError} If the ID is not valid.
 *
 * @example Reject a path traversal
 * ```ts
 * import { validateJobId } from "@epack/detach/jobs";
 *
 * validateJobId("01JD0Q2V3K5W8Y9Z0A1B2C3D4E"); // ok
 * try {
 *   validateJobId("../etc/passwd");
 * } catch (err) {
 *   console.log((err as Error).message);
 * }
 * ```
 */
export function validateJobId(id: string): string {
  if (typeof id !== "string") {
    throw new InvalidJobIdError(String(id), "not a string");
  }
  if (id.length === 0) throw new InvalidJobIdError(id, "empty");
  if (id.length > 64) {
    throw new InvalidJobIdError(id, "longer than 64 characters");
  }
  if (!ID_PATTERN.test(id)) {
    throw new InvalidJobIdError(
      id,
      "only letters, digits and underscores are allowed",
    );
  }
  return id;
}

/**
 * Makes a new job ID: a ULID, which sorts by creation time (strictly, for
 * IDs made by one process) and is unique across processes (80 random bits
 * per millisecond).
 *
 * It is async because the ULID library is loaded on first use: a job's
 * supervisor imports this module for its whole life but never makes an ID,
 * and loading an npm package costs a Deno process about 7 MiB.
 *
 * @returns A 26-character ULID.
 *
 * @example New ID
 * ```ts
 * import { newJobId } from "@epack/detach/jobs";
 *
 * console.log((await newJobId()).length); // 26
 * ```
 */
export async function newJobId(): Promise<string> {
  if (nextUlid === undefined) {
    // Plain ulid() is random within a millisecond, so IDs made in the same
    // millisecond would not sort in creation order; the monotonic factory
    // increments the random part instead.
    const { monotonicFactory } = await import("ulid");
    nextUlid ??= monotonicFactory();
  }
  return nextUlid();
}

let nextUlid: (() => string) | undefined;

/**
 * The job store over one jobs directory.
 *
 * Requires `--allow-read` and `--allow-write` for the directory.
 *
 * @example List the running jobs
 * ```ts ignore
 * import { JobStore } from "@epack/detach/jobs";
 *
 * const store = new JobStore(".epack/jobs");
 * const { jobs, invalid } = await store.list({ status: "running" });
 * for (const job of jobs) console.log(job.id, job.command);
 * for (const bad of invalid) console.error(`${bad.id}: ${bad.reason}`);
 * ```
 */
export class JobStore {
  readonly #dir: string;

  /**
   * Opens a store over a jobs directory. Nothing is read or created until a
   * method needs it.
   *
   * @param dir The jobs directory; made absolute against the cwd.
   */
  constructor(dir: string) {
    this.#dir = resolve(dir);
  }

  /** The absolute path of the jobs directory. */
  get dir(): string {
    return this.#dir;
  }

  /**
   * The path of a job's log file.
   *
   * @param id The job ID.
   * @returns `<dir>/<id>.log`.
   * @throws {InvalidJobIdError} If the ID is not valid.
   */
  logPath(id: string): string {
    return join(this.#dir, `${validateJobId(id)}.log`);
  }

  /**
   * The path of a job's record.
   *
   * @param id The job ID.
   * @returns `<dir>/<id>.json`.
   * @throws {InvalidJobIdError} If the ID is not valid.
   */
  recordPath(id: string): string {
    return join(this.#dir, `${validateJobId(id)}.json`);
  }

  /**
   * The path of the file whose lock the supervisor holds while it lives.
   *
   * @param id The job ID.
   * @returns `<dir>/<id>.live`.
   * @throws {InvalidJobIdError} If the ID is not valid.
   */
  livenessPath(id: string): string {
    return join(this.#dir, `${validateJobId(id)}.live`);
  }

  /**
   * Creates the jobs directory (mode 0700) if it does not exist.
   *
   * @throws {Deno.errors.PermissionDenied} If it cannot be created.
   */
  async ensureDir(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
  }

  /**
   * Creates a job record with status `running`, an empty log file and the
   * job's liveness file (all mode 0600).
   *
   * @param options What to record.
   * @returns The new job.
   * @throws {InvalidJobIdError} If `options.id` is given and not valid.
   * @throws {Deno.errors.AlreadyExists} If a job with that ID exists.
   */
  async create(options: CreateJobOptions): Promise<Job> {
    const id = validateJobId(options.id ?? await newJobId());
    await this.ensureDir();
    const job: Job = {
      id,
      command: options.command,
      args: [...(options.args ?? [])],
      flags: [...(options.flags ?? [])],
      status: "running",
      pid: options.pid ?? 0,
      startedAt: new Date(),
      logPath: this.logPath(id),
    };
    if (options.workingDir !== undefined) job.workingDir = options.workingDir;
    if (options.timeout !== undefined) job.timeout = options.timeout;
    if (options.argv !== undefined) job.argv = [...options.argv];
    if (options.grace !== undefined) job.grace = options.grace;
    // No lock: the record is created by a hard link, which fails if the
    // name exists, so two creators of one ID cannot both succeed. spawn()
    // waits on this call, so it uses few, synchronous system calls.
    for (const path of [job.logPath, this.livenessPath(id)]) {
      // The liveness file exists from the start, so a supervisor that never
      // takes its lock (it failed to start) is told apart from an epack
      // record, which has none, and is reported lost after the grace period.
      Deno.openSync(path, { write: true, create: true, mode: 0o600 }).close();
    }
    this.#write(job, { exclusive: true });
    return job;
  }

  /**
   * Loads one job. A running job whose supervisor is gone is reported
   * `lost`; the file is not changed by reading it.
   *
   * @param id The job ID.
   * @returns The job.
   * @throws {InvalidJobIdError} If the ID is not valid.
   * @throws {JobNotFoundError} If there is no such job.
   * @throws {InvalidJobFileError} If the record is corrupt or foreign.
   */
  async load(id: string): Promise<Job> {
    const job = await this.#read(validateJobId(id));
    return await this.#withLiveness(job);
  }

  /**
   * Loads the record as it is on disk, without the liveness check.
   *
   * @param id The job ID.
   * @returns The job as recorded.
   * @throws {InvalidJobIdError} If the ID is not valid.
   * @throws {JobNotFoundError} If there is no such job.
   * @throws {InvalidJobFileError} If the record is corrupt or foreign.
   */
  async loadRecorded(id: string): Promise<Job> {
    return await this.#read(validateJobId(id));
  }

  /**
   * Lists the jobs, newest first. Log files are never read. A file that fails
   * to load is returned in `invalid` with its reason; it never hides the
   * valid jobs.
   *
   * @param options An optional status filter.
   * @returns The jobs and the invalid files.
   */
  async list(options: ListOptions = {}): Promise<ListResult> {
    const ids: string[] = [];
    const invalid: InvalidJobFile[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        const name = entry.name;
        if (!name.endsWith(".json") || name.startsWith(".")) continue;
        const id = name.slice(0, -".json".length);
        const path = join(this.#dir, name);
        if (!ID_PATTERN.test(id)) {
          invalid.push({
            id: name,
            path,
            reason: "file name is not a valid job ID",
          });
          continue;
        }
        if (!entry.isFile) {
          invalid.push({ id, path, reason: "not a regular file" });
          continue;
        }
        ids.push(id);
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { jobs: [], invalid };
      throw err;
    }
    const jobs: Job[] = [];
    // Reads run a few at a time: enough to overlap I/O without opening
    // thousands of files at once.
    const loaded = await mapLimit(ids, 32, async (id) => {
      try {
        return await this.#withLiveness(await this.#read(id));
      } catch (err) {
        if (err instanceof InvalidJobFileError) {
          invalid.push({ id, path: err.path, reason: err.reason });
          return undefined;
        }
        // Removed between readDir and read: it is simply gone.
        if (err instanceof JobNotFoundError) return undefined;
        throw err;
      }
    });
    for (const job of loaded) {
      if (job === undefined) continue;
      if (options.status !== undefined && job.status !== options.status) {
        continue;
      }
      jobs.push(job);
    }
    jobs.sort(newestFirst);
    invalid.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    return { jobs, invalid };
  }

  /**
   * Finds the one job an abbreviated ID names. An exact ID always wins; then
   * a unique prefix; then, only if no ID has that prefix, a unique suffix.
   * ULIDs made close together share their first characters (they encode the
   * time), so the end of an ID, its random part, is often the shorter way to
   * name it. Only file names are read.
   *
   * @param prefix An ID, an ID prefix, or an ID suffix (letters, digits,
   * underscores).
   * @returns The full job ID.
   * @throws {InvalidJobIdError} If the prefix is not valid.
   * @throws {JobNotFoundError} If no job matches.
   * @throws {AmbiguousJobIdError} If more than one job matches.
   */
  async resolveId(prefix: string): Promise<string> {
    validateJobId(prefix);
    const starts: string[] = [];
    const ends: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        const name = entry.name;
        if (!name.endsWith(".json") || name.startsWith(".")) continue;
        const id = name.slice(0, -".json".length);
        if (id === prefix) return id;
        if (!ID_PATTERN.test(id)) continue;
        if (id.startsWith(prefix)) starts.push(id);
        else if (id.endsWith(prefix)) ends.push(id);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const matches = starts.length > 0 ? starts : ends;
    if (matches.length === 0) throw new JobNotFoundError(prefix);
    if (matches.length > 1) {
      throw new AmbiguousJobIdError(prefix, matches.sort());
    }
    return matches[0];
  }

  /**
   * Read-modify-write of one job under the job's cross-process lock, so
   * concurrent updates from several processes never lose each other. The new
   * record replaces the old one atomically.
   *
   * @param id The job ID.
   * @param fn Gets the current record (as recorded, without the liveness
   * check) and returns the new one. Its `id` cannot change.
   * @returns The record as written.
   * @throws {InvalidJobIdError} If the ID is not valid.
   * @throws {JobNotFoundError} If there is no such job.
   * @throws {InvalidJobFileError} If the record is corrupt or foreign.
   */
  async update(id: string, fn: JobUpdater): Promise<Job> {
    validateJobId(id);
    return await this.#withLock(id, async () => {
      const current = await this.#read(id);
      const next = await fn(structuredClone(current));
      next.id = id;
      this.#write(next);
      return next;
    });
  }

  /**
   * Records the end of a job: `completed` for exit code 0, otherwise
   * `failed`. A job that has already ended keeps its first end.
   *
   * @param id The job ID.
   * @param options The exit code or the signal, and optional result data.
   * @returns The record as written.
   * @throws {JobNotFoundError} If there is no such job.
   */
  async complete(id: string, options: CompleteOptions): Promise<Job> {
    return await this.finish(id, {
      status: options.exitCode === 0 && options.signal === undefined
        ? "completed"
        : "failed",
      ...options,
    });
  }

  /**
   * Records that a job failed with a message.
   *
   * @param id The job ID.
   * @param message What went wrong.
   * @returns The record as written.
   * @throws {JobNotFoundError} If there is no such job.
   */
  async fail(id: string, message: string): Promise<Job> {
    return await this.finish(id, { status: "failed", error: message });
  }

  /**
   * Records any final status. It is a no-op on a job that has already ended,
   * so the first recorded end wins.
   *
   * @param id The job ID.
   * @param end The final status and what goes with it.
   * @returns The record as written (or as it was, if it had already ended).
   * @throws {JobNotFoundError} If there is no such job.
   */
  async finish(
    id: string,
    end: CompleteOptions & { status: JobStatus; error?: string },
  ): Promise<Job> {
    if (end.status === "running") {
      throw new TypeError("Cannot finish a job with status running");
    }
    return await this.update(id, (job) => {
      if (job.status !== "running") return job;
      job.status = end.status;
      job.completedAt = new Date();
      if (end.exitCode !== undefined) job.exitCode = end.exitCode;
      if (end.signal !== undefined) job.signal = end.signal;
      if (end.error !== undefined) job.error = end.error;
      if (end.result !== undefined) job.result = end.result;
      return job;
    });
  }

  /**
   * Deletes a job's record and its lock files, and by default its log.
   *
   * @param id The job ID.
   * @param options Whether to keep the log.
   * @throws {InvalidJobIdError} If the ID is not valid.
   * @throws {JobNotFoundError} If there is no such job.
   */
  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    validateJobId(id);
    await this.#withLock(id, async () => {
      try {
        await Deno.remove(this.recordPath(id));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          throw new JobNotFoundError(id, { cause: err });
        }
        throw err;
      }
      const extra = [this.livenessPath(id)];
      if (options.log ?? true) extra.push(this.logPath(id));
      for (const path of extra) await removeIfPresent(path);
    });
    await removeIfPresent(this.#lockPath(id));
  }

  /**
   * Removes every job that has ended (including lost jobs) and whose end, or
   * start if it has no end, is older than `olderThan`. Running jobs are never
   * removed, nor lost jobs whose worker's processes are still running (on
   * Linux, where they can be identified). Invalid files are left alone. Temp
   * files left by a crash are removed once they are an hour old.
   *
   * @param olderThan Age in milliseconds.
   * @returns The IDs removed.
   */
  async clean(olderThan: number): Promise<string[]> {
    if (!Number.isFinite(olderThan) || olderThan < 0) {
      throw new RangeError(`Invalid age: ${olderThan}`);
    }
    const cutoff = Date.now() - olderThan;
    const { jobs } = await this.list();
    const removed: string[] = [];
    for (const job of jobs) {
      if (job.status === "running") continue;
      const at = (job.completedAt ?? job.startedAt).getTime();
      if (at > cutoff) continue;
      // A lost job whose worker's processes still run is the only handle on
      // them (cancel can still stop them): keep it.
      if (job.status === "lost" && stillRunning(job)) continue;
      // Re-check under the lock: the job may have been touched since listing.
      const fresh = await this.load(job.id).catch(() => undefined);
      if (fresh === undefined || fresh.status === "running") continue;
      try {
        await this.delete(job.id);
        removed.push(job.id);
      } catch (err) {
        if (!(err instanceof JobNotFoundError)) throw err;
      }
    }
    await this.#cleanTemps();
    return removed;
  }

  /**
   * Tells whether some process holds the job's liveness lock.
   *
   * @param id The job ID.
   * @returns `true` if a live process holds it, `false` if nobody does, and
   * `undefined` if there is no liveness file (an epack record, say).
   */
  async isHeld(id: string): Promise<boolean | undefined> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.livenessPath(id), { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    try {
      // A shared probe: it conflicts with the supervisor's exclusive lock but
      // not with other readers probing at the same moment.
      const got = await file.tryLock(false);
      if (got) await file.unlock();
      return !got;
    } finally {
      file.close();
    }
  }

  /**
   * Takes the job's liveness lock and keeps it until the returned lease is
   * disposed or the process dies (even by SIGKILL). The supervisor calls this
   * first; it also stamps `supervisedAt` and its own PID in the record.
   *
   * @param id The job ID.
   * @returns A lease that releases the lock when disposed, with the record
   * as it was when the lock was taken.
   * @throws {JobNotFoundError} If there is no such job.
   */
  async holdLiveness(id: string): Promise<LivenessLease> {
    const file = await openOrNotFound(id, this.livenessPath(id));
    let previous: Job | undefined;
    try {
      await file.lock(true);
      await this.update(id, (job) => {
        previous = structuredClone(job);
        job.supervisedAt = new Date();
        job.pid = Deno.pid;
        return job;
      });
    } catch (err) {
      file.close();
      throw err;
    }
    return {
      previous: previous!,
      async [Symbol.asyncDispose]() {
        await file.unlock().catch(() => {});
        file.close();
      },
    };
  }

  async #withLiveness(job: Job): Promise<Job> {
    if (job.status !== "running") return job;
    // The time is taken before the probe: a supervisor that takes the lock
    // after the probe decides whether it started too late with a later time,
    // so it never runs a job a reader has already called lost.
    const now = Date.now();
    const held = await this.isHeld(job.id);
    if (held !== false) return job;
    // Nobody holds the lock. Re-read: the supervisor writes its final record
    // before it lets go, so a job that just ended shows its real end here.
    const fresh = await this.#read(job.id);
    if (fresh.status !== "running") return fresh;
    const started = fresh.supervisedAt !== undefined;
    const age = now - fresh.startedAt.getTime();
    if (!started && age < SUPERVISOR_START_GRACE_MS) return fresh;
    fresh.status = "lost";
    fresh.error = started
      ? "The job's supervisor is gone: it crashed, was killed, or the machine restarted"
      : "The job's supervisor never started";
    return fresh;
  }

  async #read(id: string): Promise<Job> {
    const path = this.recordPath(id);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new JobNotFoundError(id, { cause: err });
      }
      if (err instanceof Deno.errors.IsADirectory) {
        throw new InvalidJobFileError(id, path, "not a regular file", {
          cause: err,
        });
      }
      if (err instanceof TypeError || err instanceof SyntaxError) {
        throw new InvalidJobFileError(id, path, "not valid UTF-8 text", {
          cause: err,
        });
      }
      throw err;
    }
    return parseJobRecord(text, id, path);
  }

  // Writes are synchronous: a record is a few hundred bytes, and one async
  // operation costs more than the write itself. The temp file is flushed to
  // disk before it takes the record's name, so neither a reader nor a crash
  // can ever see a partial record.
  #write(job: Job, options: { exclusive?: boolean } = {}): void {
    const data = new TextEncoder().encode(
      JSON.stringify(toRecord(job), null, 2) + "\n",
    );
    const target = this.recordPath(job.id);
    const temp = join(
      this.#dir,
      `.${job.id}.${crypto.randomUUID().slice(0, 8)}.tmp`,
    );
    const file = Deno.openSync(temp, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    try {
      try {
        let written = 0;
        while (written < data.length) {
          written += file.writeSync(data.subarray(written));
        }
        file.syncDataSync();
      } finally {
        file.close();
      }
      if (options.exclusive) {
        try {
          Deno.linkSync(temp, target);
        } catch (err) {
          if (err instanceof Deno.errors.AlreadyExists) {
            throw new Deno.errors.AlreadyExists(
              `Job already exists: ${job.id}`,
            );
          }
          throw err;
        }
        Deno.removeSync(temp);
      } else {
        Deno.renameSync(temp, target);
      }
    } catch (err) {
      try {
        Deno.removeSync(temp);
      } catch {
        // Already gone (linked and removed, or never made).
      }
      throw err;
    }
  }

  #lockPath(id: string): string {
    return join(this.#dir, `${validateJobId(id)}.lock`);
  }

  async #withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    // No ensureDir() here: without a jobs dir there is no job, and a late
    // update (a supervisor outliving its removed dir) must not re-create it.
    const file = await openOrNotFound(id, this.#lockPath(id));
    try {
      await file.lock(true);
      return await fn();
    } finally {
      file.close();
    }
  }

  async #cleanTemps(): Promise<void> {
    const cutoff = Date.now() - 60 * 60 * 1000;
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        if (!entry.isFile || !entry.name.startsWith(".")) continue;
        if (!entry.name.endsWith(".tmp")) continue;
        const path = join(this.#dir, entry.name);
        const info = await Deno.lstat(path).catch(() => undefined);
        if (info?.mtime && info.mtime.getTime() < cutoff) {
          await removeIfPresent(path);
        }
      }
    } catch (err) {
      // No jobs directory: nothing to clean, as list() also says.
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}

/**
 * Parses and validates the text of a job record (epack's format, with our
 * extra keys).
 *
 * @param text The file's contents.
 * @param id The ID the file name gives; the record's `id` must match it.
 * @param path The file's path, for error messages.
 * @returns The job.
 * @throws {InvalidJobFileError} If the record is not valid.
 *
 * @example Read an epack record
 * ```ts
 * import { parseJobRecord } from "@epack/detach/jobs";
 *
 * const job = parseJobRecord(
 *   JSON.stringify({
 *     id: "job_1",
 *     command: "pull",
 *     args: null,
 *     status: "completed",
 *     pid: 42,
 *     started_at: "2024-01-01T12:00:00.123456789-07:00",
 *     log_path: "/tmp/job_1.log",
 *   }),
 *   "job_1",
 *   "job_1.json",
 * );
 * console.log(job.args, job.startedAt.toISOString());
 * ```
 */
export function parseJobRecord(text: string, id: string, path: string): Job {
  const bad = (reason: string, cause?: unknown): never => {
    throw new InvalidJobFileError(
      id,
      path,
      reason,
      cause === undefined ? undefined : { cause },
    );
  };
  if (text.trim() === "") bad("empty file");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    bad(`not valid JSON (${(err as Error).message})`, err);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return bad("not a JSON object");
  }
  const r = raw as Record<string, unknown>;
  const str = (key: string, required: boolean): string | undefined => {
    const v = r[key];
    if (v === undefined || v === null) {
      return required ? bad(`missing "${key}"`) : undefined;
    }
    if (typeof v !== "string") return bad(`"${key}" is not a string`);
    return v;
  };
  const int = (key: string, required: boolean): number | undefined => {
    const v = r[key];
    if (v === undefined || v === null) {
      return required ? bad(`missing "${key}"`) : undefined;
    }
    if (typeof v !== "number" || !Number.isSafeInteger(v)) {
      return bad(`"${key}" is not an integer`);
    }
    return v;
  };
  const strings = (key: string): string[] => {
    const v = r[key];
    // Go writes a nil slice as null.
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
      return bad(`"${key}" is not a list of strings`);
    }
    return v as string[];
  };
  const time = (key: string, required: boolean): Date | undefined => {
    const s = str(key, required);
    if (s === undefined) return undefined;
    const ms = RFC3339.test(s) ? Date.parse(s) : NaN;
    if (Number.isNaN(ms)) return bad(`"${key}" is not an RFC 3339 time`);
    return new Date(ms);
  };

  const recordId = str("id", true)!;
  if (recordId !== id) {
    bad(`"id" is ${JSON.stringify(recordId)}, but the file is named for ${id}`);
  }
  const status = str("status", true)!;
  if (!(JOB_STATUSES as readonly string[]).includes(status)) {
    bad(`unknown status ${JSON.stringify(status)}`);
  }
  const result = r.result;
  if (
    result !== undefined && result !== null &&
    (typeof result !== "object" || Array.isArray(result))
  ) {
    bad(`"result" is not an object`);
  }
  const job: Job = {
    id: recordId,
    command: str("command", true)!,
    args: strings("args"),
    flags: strings("flags"),
    status: status as JobStatus,
    pid: int("pid", false) ?? 0,
    startedAt: time("started_at", true)!,
    logPath: str("log_path", false) ?? "",
  };
  const optional = {
    completedAt: time("completed_at", false),
    exitCode: int("exit_code", false),
    signal: str("signal", false),
    workingDir: str("working_dir", false),
    timeout: int("timeout_ms", false),
    error: str("error", false),
    result: (result ?? undefined) as Record<string, unknown> | undefined,
    workerPid: int("worker_pid", false),
    workerStartTicks: int("worker_start_ticks", false),
    argv: r.argv === undefined ? undefined : strings("argv"),
    supervisedAt: time("supervised_at", false),
    grace: int("grace_ms", false),
    cancelRequestedAt: time("cancel_requested_at", false),
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) {
      (job as unknown as Record<string, unknown>)[key] = value;
    }
  }
  const extra: Record<string, unknown> = {};
  for (const key of Object.keys(r)) {
    if (!KNOWN_KEYS.has(key)) extra[key] = r[key];
  }
  if (Object.keys(extra).length > 0) job.extra = extra;
  return job;
}

const KNOWN_KEYS = new Set([
  "id",
  "command",
  "args",
  "flags",
  "status",
  "pid",
  "started_at",
  "completed_at",
  "exit_code",
  "signal",
  "log_path",
  "working_dir",
  "timeout_ms",
  "error",
  "result",
  "worker_pid",
  "worker_start_ticks",
  "argv",
  "supervised_at",
  "grace_ms",
  "cancel_requested_at",
]);

/**
 * Turns a job into the JSON object written to disk: epack's keys first, in
 * epack's order and with its types, then ours, then unknown keys that were
 * read from the file.
 *
 * @param job The job.
 * @returns A plain object ready for `JSON.stringify`.
 *
 * @example The on-disk keys
 * ```ts
 * import { toRecord } from "@epack/detach/jobs";
 *
 * const record = toRecord({
 *   id: "01JD0Q2V3K5W8Y9Z0A1B2C3D4E",
 *   command: "pull",
 *   args: [],
 *   flags: ["--ci"],
 *   status: "running",
 *   pid: 1234,
 *   startedAt: new Date(0),
 *   logPath: "/tmp/x.log",
 * });
 * console.log(Object.keys(record).join(","));
 * ```
 */
export function toRecord(job: Job): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: job.id,
    command: job.command,
    args: job.args,
    status: job.status,
    pid: job.pid,
    started_at: job.startedAt.toISOString(),
    completed_at: job.completedAt?.toISOString(),
    exit_code: job.exitCode,
    log_path: job.logPath,
    error: job.error || undefined,
    result: job.result,
    flags: job.flags,
    signal: job.signal,
    working_dir: job.workingDir,
    timeout_ms: job.timeout,
    worker_pid: job.workerPid,
    worker_start_ticks: job.workerStartTicks,
    argv: job.argv,
    supervised_at: job.supervisedAt?.toISOString(),
    grace_ms: job.grace,
    cancel_requested_at: job.cancelRequestedAt?.toISOString(),
  };
  for (const [key, value] of Object.entries(job.extra ?? {})) {
    if (!KNOWN_KEYS.has(key)) out[key] = value;
  }
  for (const key of Object.keys(out)) {
    if (out[key] === undefined) delete out[key];
  }
  return out;
}

function newestFirst(a: Job, b: Job): number {
  const d = b.startedAt.getTime() - a.startedAt.getTime();
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Opens (creating) a lock file; a missing jobs dir means no such job. */
async function openOrNotFound(id: string, path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new JobNotFoundError(id, { cause: err });
    }
    throw err;
  }
}

function stillRunning(job: Job): boolean {
  if (job.workerPid === undefined || job.workerStartTicks === undefined) {
    return false;
  }
  const left = identifyGroup(
    job.workerPid,
    job.workerStartTicks,
    `${JOB_ID_ENV}=${job.id}`,
  );
  return left !== undefined && left.length > 0;
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  return out;
}
