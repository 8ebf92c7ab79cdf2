// What a job is, in memory: the Job type, its statuses, how it ends, and
// what a store's create() and delete() take. It imports nothing.

/**
 * Every state a job can be in: `waiting` (for the jobs of `after`) and
 * `queued` (for a slot under the parallel limit) have no process yet;
 * `running`, and `paused` (its processes stopped by SIGSTOP, its timeout
 * still counting), have a live supervisor; `completed` (exit 0), `failed`,
 * `timed_out`, `cancelled` and `lost` (no process holds its liveness any
 * more: a crash, SIGKILL, a reboot) are final.
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

/** A status as a sentence says it: `timed out` for `timed_out`. */
export function statusWord(status: JobStatus): string {
  return status.replace("_", " ");
}

/** A status that means the job has ended and will not change again. */
export type FinalStatus = Exclude<
  JobStatus,
  "waiting" | "queued" | "running" | "paused"
>;

/** How a job ended, for a store's `finish()`; the fields are {@linkcode Job}'s. */
export interface JobEnd
  extends Pick<Job, "exitCode" | "signal" | "error" | "result"> {
  /** The final status. */
  status: FinalStatus;
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
  /** How far the job has got, as its worker last reported it. */
  progress?: JobProgress;
  /** The PID of the worker process, which leads its own process group. */
  workerPid?: number;
  /** The worker's start time in clock ticks since boot (tells a reused PID). */
  workerStartTicks?: number;
  /** The full argument vector the supervisor runs as the worker. */
  argv?: string[];
  /** When the supervisor took the job's liveness lock. */
  supervisedAt?: Date;
  /** How long, in milliseconds, between SIGTERM and SIGKILL when stopping. */
  grace?: number;
  /** When a cancel was requested, if one was. */
  cancelRequestedAt?: Date;
  /** Each run of the worker of a job with `retries`, oldest first. */
  attempts?: JobAttempt[];
  /** When the job was paused, while its status is `paused`. */
  pausedAt?: Date;
  /** How to start the supervisor of a job that starts later. */
  supervisorArgv?: string[];
  /** The environment of the supervisor of a job that starts later. */
  env?: Record<string, string>;
  /** The job this one re-runs (`jobs restart`), if it is a restart. */
  restartOf?: string;
  /** Which supervisor ran the job: the perl `shim`, or `deno`. */
  supervisor?: "shim" | "deno";
  /** When the job's end hook was started: its claim, so that it runs once. */
  onEndStartedAt?: Date;
  /** Keys found in the file that this module does not know; kept on rewrite. */
  extra?: Record<string, unknown>;
  /** The host that created the job, in a store shared by hosts. */
  host?: string;
  /** The end of the log, kept by a store shared by hosts. */
  logTail?: string;
}

/** One run of a job's worker (see `Job.attempts`); the fields are `Job`'s. */
export interface JobAttempt
  extends Pick<Job, "startedAt" | "exitCode" | "signal" | "error"> {
  /** When it ended; absent while it runs (or if its end was never seen). */
  endedAt?: Date;
}

/** A progress report: how much is done, of how much, of what, and a note. */
export interface ProgressReport {
  /** How much is done: a finite number, 0 or more. */
  done: number;
  /** How much there is in all, when known: finite, at least `done`. */
  total?: number;
  /** What is counted (at most 32 characters): `files`; `B` for bytes. */
  unit?: string;
  /** A note on what is happening, at most 200 characters, one line. */
  message?: string;
}

/** How far a job has got, as its worker reported it. */
export interface JobProgress extends ProgressReport {
  /** When the worker reported it. */
  updatedAt: Date;
}

/** Thrown when a job file exists but is not a valid job record. */
export class InvalidJobFileError extends Error {
  /** The job ID. */
  readonly id: string;
  /** The path of the file. */
  readonly path: string;
  /** Why the record is invalid. */
  readonly reason: string;
  /**
   * Makes the error.
   * @param id The job ID.
   * @param path The file.
   * @param reason Why it is invalid.
   * @param options The underlying error.
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
 * What {@linkcode JobStore.create} needs to make a new job: the fields are
 * {@linkcode Job}'s; `args` and `flags` default to `[]`, `pid` to 0, `id`
 * to a new ULID.
 */
export interface CreateJobOptions extends
  JobControlOptions,
  Partial<
    Pick<
      Job,
      | "args"
      | "flags"
      | "pid"
      | "workingDir"
      | "timeout"
      | "argv"
      | "grace"
      | "id"
      | "supervisorArgv"
      | "env"
      | "restartOf"
    >
  > {
  /** The command that runs. */
  command: string;
  /**
   * `running` (its supervisor is starting), else `waiting` or `queued`.
   * @default {"running"}
   */
  status?: "running" | "waiting" | "queued";
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
   * A name usable wherever the ID is (for the newest job of that name): 1 to
   * 64 letters, digits, `.`, `_` or `-`, starting with a letter.
   */
  name?: string;
  /**
   * How many times (0 to 1000) a failed worker is run again; a timeout or a
   * cancel is never retried.
   * @default {0}
   */
  retries?: number;
  /**
   * The pause in ms before the first retry; it doubles for each next one,
   * with jitter, up to an hour.
   * @default {1000}
   */
  retryDelay?: number;
  /**
   * Jobs (at most 1000) that must end before this one starts; it waits, with
   * no process, as `waiting`.
   * @default {[]}
   */
  after?: string[];
  /**
   * With `after`: start only if each of them completed, else end `cancelled`.
   * @default {false}
   */
  afterOk?: boolean;
  /** A shell command run after the job ends (`/bin/sh -c`). */
  onEnd?: string;
  /**
   * The most bytes (4096 or more) the log keeps; its oldest part is dropped.
   * @default {unlimited}
   */
  logMax?: number;
}
