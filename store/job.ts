// What a job is, in memory: the Job type and its statuses, the error for a
// record that cannot be read, and the options and results of the store's
// methods. jobs.ts re-exports all of it as the store's public vocabulary.
//
// It lives apart from jobs.ts and _record.ts so that the store's files
// import one way (jobs.ts -> _record.ts -> _job.ts), never in a cycle.

import type { JobControlOptions } from "./job_options.ts";

/**
 * Every state a job can be in.
 *
 * - `waiting`: it runs after other jobs (`after`), which have not all ended.
 *   No process waits for it: whatever ends the last of them starts it.
 * - `queued`: the jobs directory's parallel limit is reached; it starts, in
 *   ULID order, when a slot frees. No process waits for it either.
 * - `running`: its supervisor is alive (or still starting).
 * - `paused`: its process group was stopped with SIGSTOP (`jobs pause`); its
 *   supervisor is alive and its timeout keeps counting.
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
  | "waiting"
  | "queued"
  | "running"
  | "paused"
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
 * console.log(status, JOB_STATUSES.length); // timed_out 9
 * ```
 */
export const JOB_STATUSES: readonly JobStatus[] = [
  "waiting",
  "queued",
  "running",
  "paused",
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
 * Whether a status is final: the job has ended and will not change again.
 *
 * @example
 * ```ts
 * import { isFinalStatus } from "@epack/detach/jobs";
 *
 * console.log(isFinalStatus("queued"), isFinalStatus("lost")); // false true
 * ```
 */
export function isFinalStatus(status: JobStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/**
 * Whether a job in this status has a supervisor that holds its liveness
 * (`running` and `paused`): only such a job can turn out `lost`. A
 * `waiting` or `queued` job has no process yet.
 *
 * @example
 * ```ts
 * import { isSupervisedStatus } from "@epack/detach/jobs";
 *
 * console.log(isSupervisedStatus("paused"), isSupervisedStatus("queued")); // true false
 * ```
 */
export function isSupervisedStatus(status: JobStatus): boolean {
  return status === "running" || status === "paused";
}

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
  /**
   * How far the job has got, as its worker last reported it (see
   * `reportProgress` in `@epack/detach/report`).
   */
  progress?: JobProgress;
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
  /** How many times a failed worker is run again (see `JobControlOptions`). */
  retries?: number;
  /** The pause before the first retry, in milliseconds; it then doubles. */
  retryDelay?: number;
  /** The jobs this one runs after. */
  after?: string[];
  /** With `after`: run only if each of those jobs completed. */
  afterOk?: boolean;
  /** The shell command run after the job ends. */
  onEnd?: string;
  /** The most bytes the job's log keeps. */
  logMax?: number;
  /**
   * Each run of the worker, oldest first, for a job that may be retried
   * (`retries` above 0): the current one has no `endedAt` yet. The job's
   * own end (status, exit code, signal) is the last attempt's.
   */
  attempts?: JobAttempt[];
  /**
   * When the job was paused (`jobs pause`), while its status is `paused`;
   * cleared on resume.
   */
  pausedAt?: Date;
  /**
   * How to start the job's supervisor (the program and its arguments, before
   * the supervisor's own), kept for a job that starts later (`waiting` or
   * `queued`), so that whichever process starts it can.
   */
  supervisorArgv?: string[];
  /**
   * The environment the job's supervisor (and so its worker) gets, kept for
   * a job that starts later: the spawner's, as it was at spawn time.
   */
  env?: Record<string, string>;
  /** Keys found in the file that this module does not know; kept on rewrite. */
  extra?: Record<string, unknown>;
}

/**
 * One run of a job's worker: a job with `retries` runs its worker again
 * after a failure, and its record keeps each run (`attempts`).
 *
 * @example Say how each attempt of a job ended
 * ```ts
 * import type { Job } from "@epack/detach/jobs";
 *
 * function attempts(job: Job): string[] {
 *   return (job.attempts ?? []).map((a) =>
 *     a.endedAt === undefined ? "running" : a.signal ?? `exit code ${a.exitCode}`
 *   );
 * }
 * const at = new Date();
 * const job = {
 *   attempts: [
 *     { startedAt: at, endedAt: at, exitCode: 3 },
 *     { startedAt: at },
 *   ],
 * } as Job;
 * console.log(attempts(job)); // [ "exit code 3", "running" ]
 * ```
 */
export interface JobAttempt {
  /** When the worker was started. */
  startedAt: Date;
  /** When it ended; absent while it runs (or if its end was never seen). */
  endedAt?: Date;
  /** Its exit code, if it exited normally. */
  exitCode?: number;
  /** The signal that ended it, if one did. */
  signal?: string;
  /** What went wrong, for an attempt that did not complete. */
  error?: string;
}

/**
 * How far a job has got, as its worker reported it: the record's
 * `progress` key, `{done, total?, unit?, message?, updated_at}` on disk.
 *
 * @example Show a job's progress as a fraction
 * ```ts
 * import type { JobProgress } from "@epack/detach/report";
 *
 * function fraction(p: JobProgress): string {
 *   const of = p.total === undefined ? "" : `/${p.total}`;
 *   return `${p.done}${of} ${p.unit ?? ""}`.trim();
 * }
 * console.log(fraction({ done: 3, total: 10, unit: "files", updatedAt: new Date() }));
 * // 3/10 files
 * ```
 */
export interface JobProgress {
  /** How much is done: a finite number, 0 or more. */
  done: number;
  /** How much there is in all, when known: at least `done`. */
  total?: number;
  /** What `done` and `total` count, for example `B` (bytes) or `files`. */
  unit?: string;
  /** A short note on what the job is doing. */
  message?: string;
  /** When the worker reported it. */
  updatedAt: Date;
}

/**
 * Thrown when a job file exists but is not a valid job record.
 *
 * @example A record with an unknown status
 * ```ts
 * import { InvalidJobFileError, JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const text = JSON.stringify({ id: "job_1", command: "sync", status: "exploded" });
 * await Deno.writeTextFile(`${dir}/job_1.json`, text);
 * try {
 *   await new JobStore(dir).load("job_1");
 * } catch (err) {
 *   if (!(err instanceof InvalidJobFileError)) throw err;
 *   console.log(err.reason); // unknown status "exploded"
 * }
 * await Deno.remove(dir, { recursive: true });
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
export interface CreateJobOptions extends JobControlOptions {
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
  /**
   * The job's timeout in milliseconds, `0` for none: a whole number from 0
   * to `MAX_DURATION` (36500 days).
   */
  timeout?: number;
  /** The full argument vector of the worker. */
  argv?: string[];
  /**
   * Milliseconds between SIGTERM and SIGKILL when the job is stopped: a
   * whole number from 0 to `MAX_DURATION` (36500 days).
   */
  grace?: number;
  /**
   * The job ID; a new ULID when left out. It must pass
   * {@linkcode validateJobId}.
   */
  id?: string;
  /**
   * The status the job starts in: `running` for a job whose supervisor is
   * being started, `waiting` or `queued` for one that starts later.
   * @default {"running"}
   */
  status?: "running" | "waiting" | "queued";
  /** How to start the job's supervisor later (see `Job.supervisorArgv`). */
  supervisorArgv?: string[];
  /** The environment of the job's supervisor (see `Job.env`). */
  env?: Record<string, string>;
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
 * Options for {@linkcode JobStore.clean}.
 *
 * @example Keep the jobs tagged in their result
 * ```ts
 * import { type CleanOptions, JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const pinned = await store.create({ command: "sync" });
 * await store.complete(pinned.id, { exitCode: 0, result: { pinned: true } });
 * const other = await store.create({ command: "sync" });
 * await store.complete(other.id, { exitCode: 0 });
 * const options: CleanOptions = { keep: (job) => job.result?.pinned === true };
 * console.log(await store.clean(0, options)); // [ other.id ]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface CleanOptions {
  /**
   * Asked about each job that would be removed; a job for which it returns
   * `true` is kept. The store knows nothing of processes: this is where a
   * caller keeps, say, a lost job whose processes still run.
   * @default {() => false}
   */
  keep?: (job: Job) => boolean | Promise<boolean>;
}

/**
 * The jobs of a listing that a clean removes, for every backend: ended (lost
 * ones included) more than `olderThan` ms before `now`, and not kept by
 * `keep`, which is asked lazily, one job at a time, as the clean goes.
 * Running jobs are never yielded; each backend re-checks before it deletes.
 *
 * @throws {RangeError} If `olderThan` is negative or not finite (thrown by
 * {@linkcode cleanCutoff}, which a clean calls before it lists).
 */
export async function* cleanable(
  jobs: readonly Job[],
  cutoff: number,
  keep: CleanOptions["keep"],
): AsyncGenerator<Job, void, undefined> {
  for (const job of jobs) {
    if (!isFinalStatus(job.status)) continue;
    const at = (job.completedAt ?? job.startedAt).getTime();
    if (at > cutoff) continue;
    if (await keep?.(job)) continue;
    yield job;
  }
}

/** The time before which a clean removes ended jobs; checks `olderThan`. */
export function cleanCutoff(olderThan: number): number {
  if (!Number.isFinite(olderThan) || olderThan < 0) {
    throw new RangeError(`Invalid age: ${olderThan}`);
  }
  return Date.now() - olderThan;
}
