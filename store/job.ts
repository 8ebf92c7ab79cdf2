// What a job is, in memory: the Job type and its statuses, how a job ends,
// the error for a record that cannot be read, and what a store's create()
// and delete() take. jobs.ts re-exports it as the store's public vocabulary.
// The lowest module of the store: it imports nothing.

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

/** All job statuses, in the order they are documented. */
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
 * A status as a sentence says it: `timed out` for `timed_out`, the others
 * as they are. Every message for people words statuses through this.
 */
export function statusWord(status: JobStatus): string {
  return status.replace("_", " ");
}

/** A status that means the job has ended and will not change again. */
export type FinalStatus =
  | "completed"
  | "failed"
  | "timed_out"
  | "cancelled"
  | "lost";

/** How a job ended, for a store's `finish()`. */
export interface JobEnd {
  /** The final status. */
  status: FinalStatus;
  /** The worker's exit code, when it exited by itself. */
  exitCode?: number;
  /** The signal that ended the worker, when one did. */
  signal?: string;
  /** What went wrong, for a job that did not complete. */
  error?: string;
  /** Job-specific result data. */
  result?: Record<string, unknown>;
}

/** One job, as the TypeScript API sees it. */
export interface Job extends JobControlOptions {
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
  /** The job this one re-runs (`jobs restart`), if it is a restart. */
  restartOf?: string;
  /**
   * Which process supervised the job: `shim` (the job's small perl process)
   * or `deno` (the Deno supervisor, where perl cannot run).
   */
  supervisor?: "shim" | "deno";
  /** When the job's end hook was started: its claim, so that it runs once. */
  onEndStartedAt?: Date;
  /** Keys found in the file that this module does not know; kept on rewrite. */
  extra?: Record<string, unknown>;
  /**
   * The host that created the job, for a store shared by hosts. Kept by the
   * store beside the record, not in it.
   */
  host?: string;
  /**
   * The end of the job's log, kept by a store shared by hosts when the job
   * ended, for readers on another host than the log. Not in the record.
   */
  logTail?: string;
}

/**
 * One run of a job's worker: a job with `retries` runs its worker again
 * after a failure, and its record keeps each run (`attempts`).
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
 * A progress report: how much is done, of how much, counted in what, and a
 * short note.
 *
 * @example Bytes of a download
 * ```ts
 * import type { ProgressReport } from "@epack/detach/report";
 *
 * const p: ProgressReport = { done: 118 << 20, total: 280 << 20, unit: "B" };
 * console.log(Math.floor((p.done / p.total!) * 100)); // 42
 * ```
 */
export interface ProgressReport {
  /** How much is done: a finite number, 0 or more. */
  done: number;
  /** How much there is in all, when known: finite, at least `done`. */
  total?: number;
  /**
   * What is counted, at most 32 characters, for example `files`. `B` means
   * bytes, which `jobs` shows as `118 MiB`.
   */
  unit?: string;
  /** A note on what is happening, at most 200 characters, one line. */
  message?: string;
}

/**
 * How far a job has got, as its worker reported it: the record's
 * `progress` key, `{done, total?, unit?, message?, updated_at}` on disk.
 */
export interface JobProgress extends ProgressReport {
  /** When the worker reported it. */
  updatedAt: Date;
}

/**
 * Thrown when a job file exists but is not a valid job record.
 *
 * @example A record with an unknown status
 * ```ts
 * import { InvalidJobFileError, FileJobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const text = JSON.stringify({ id: "job_1", command: "sync", status: "exploded" });
 * await Deno.writeTextFile(`${dir}/job_1.json`, text);
 * try {
 *   await new FileJobStore(dir).load("job_1");
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
  /** Makes the error: the job, the file, why, and the underlying error. */
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

/** What {@linkcode JobStore.create} needs to make a new job. */
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
  /** The job this one re-runs (see `Job.restartOf`). */
  restartOf?: string;
}

/** A file in the jobs directory that could not be read as a job. */
export interface InvalidJobFile {
  /** The ID the file name claims, or the file name if it is not a valid ID. */
  id: string;
  /** The file's path. */
  path: string;
  /** Why it was rejected. */
  reason: string;
}

/** Options for {@linkcode JobStore.delete}. */
export interface DeleteOptions {
  /**
   * Remove the job's log file too.
   * @default {true}
   */
  log?: boolean;
}

/** How a job is run beyond its command line; every field is optional. */
export interface JobControlOptions {
  /**
   * A name for the job, usable wherever its ID is (the newest job of a name
   * is the one it names): 1 to 64 letters, digits, `.`, `_` or `-`,
   * starting with a letter.
   */
  name?: string;
  /**
   * How many times a failed worker (a non-zero exit, or killed by a signal
   * that was not the supervisor's) is run again: a whole number from 0 to
   * 1000. A timeout or a cancel is never retried.
   * @default {0}
   */
  retries?: number;
  /**
   * The pause before the first retry, in milliseconds; it doubles for each
   * next one, with jitter, up to an hour. A whole number from 0 to
   * `MAX_DURATION`.
   * @default {1000}
   */
  retryDelay?: number;
  /**
   * Jobs (IDs, at most 1000) that must have ended before this one starts:
   * it waits, with no process, in status `waiting`.
   * @default {[]}
   */
  after?: string[];
  /**
   * With `after`: start only if each of those jobs completed; otherwise the
   * job ends `cancelled`, saying which did not.
   * @default {false}
   */
  afterOk?: boolean;
  /**
   * A shell command (`/bin/sh -c`) run after the job ends, with the job's
   * ID, status, exit code and log path in its environment.
   */
  onEnd?: string;
  /**
   * The most bytes the job's log keeps: its oldest part is dropped beyond
   * it. A whole number from 4096 (4 KiB) to `Number.MAX_SAFE_INTEGER`.
   * @default {unlimited}
   */
  logMax?: number;
}
