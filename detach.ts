/**
 * Runs commands as detached background jobs. {@linkcode spawn} starts the
 * current program again, in a session of its own, as the job's supervisor;
 * the supervisor runs the worker, writes its output to the job's log, and
 * records how the job ended, long after the spawning process has exited.
 *
 * The program that calls `spawn()` must let itself be started as a
 * supervisor: one line at the top of its entry module.
 *
 * @example Detach one of the program's own commands
 * ```ts ignore
 * import { spawn, superviseIfRequested } from "@epack/detach";
 *
 * await superviseIfRequested(); // the one line: must run before anything else
 *
 * if (Deno.args[0] === "--detach") {
 *   const { jobId, logPath } = await spawn({ command: "work" });
 *   console.log(`job ${jobId}, log in ${logPath}`);
 * } else if (Deno.args[0] === "work") {
 *   console.log("working in the background");
 * }
 * ```
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import {
  FINAL_STATUSES,
  type Job,
  JOB_ID_ENV,
  JobNotFoundError,
  JobStore,
  newJobId,
  validateJobId,
} from "./jobs.ts";
import {
  currentRuntime,
  findDetachFlag,
  type RuntimeFacts,
  selfArgv,
} from "./_argv.ts";
import {
  DEFAULT_KILL_GRACE,
  identifyGroup,
  scheduleTimeout,
  stopProcessGroup,
} from "./timeout.ts";

export { DEFAULT_KILL_GRACE };

/**
 * Default job timeout: 24 hours.
 *
 * @example Show the default
 * ```ts
 * import { DEFAULT_JOB_TIMEOUT, formatDuration } from "@epack/detach";
 *
 * console.log(formatDuration(DEFAULT_JOB_TIMEOUT)); // 1d
 * ```
 */
export const DEFAULT_JOB_TIMEOUT: number = 24 * 60 * 60 * 1000;

/** The argument that starts the program as a supervisor. Internal. */
export const SUPERVISE_ARG = "__epack_detach_supervise__";

/**
 * Options for {@linkcode spawn}.
 *
 * @example A pull with a 2-hour timeout, run from a chosen directory
 * ```ts
 * import { buildPullFlags, parseDuration, type SpawnOptions } from "@epack/detach";
 *
 * const options: SpawnOptions = {
 *   command: "pull",
 *   args: ["https://registry.example.com/packs"],
 *   flags: buildPullFlags({ env: "prod" }),
 *   workingDir: "/srv/app",
 *   timeout: parseDuration("2h"),
 *   grace: 5_000,
 * };
 * console.log(options.flags); // [ "--env", "prod", "--ci" ]
 * // await spawn(options) would start the job.
 * ```
 */
export interface SpawnOptions {
  /**
   * The command to run: a subcommand of the current program (for example
   * `pull`), or, with `external`, an executable.
   */
  command: string;
  /**
   * Positional arguments of the command.
   * @default {[]}
   */
  args?: string[];
  /**
   * Flags of the command, placed after the arguments.
   * @default {[]}
   */
  flags?: string[];
  /**
   * The directory the job runs in.
   * @default {the nearest directory holding deno.json or deno.jsonc, walking up from the cwd, else the cwd}
   */
  workingDir?: string;
  /**
   * The jobs directory; a relative path is taken from the cwd.
   * @default {"<workingDir>/.epack/jobs"}
   */
  jobsDir?: string;
  /**
   * The job's timeout in milliseconds; `0` or `Infinity` for none.
   * @default {DEFAULT_JOB_TIMEOUT}
   */
  timeout?: number;
  /**
   * Milliseconds between SIGTERM and SIGKILL when the job times out or is
   * cancelled.
   * @default {DEFAULT_KILL_GRACE}
   */
  grace?: number;
  /**
   * Environment variables added to the job's environment, which is otherwise
   * the spawning process's.
   */
  env?: Record<string, string>;
  /**
   * Run `command` as an executable (found on `PATH` unless it holds a `/`)
   * instead of as a subcommand of the current program.
   * @default {false}
   */
  external?: boolean;
  /**
   * Permission flags for the re-executed program under `deno run`, in place
   * of the ones detected. Needed for scoped grants (`--allow-read=/data`),
   * which cannot be detected.
   * @default {an `--allow-X` flag for each permission granted unscoped}
   */
  permissionFlags?: string[];
  /**
   * Other `deno run` flags for the re-executed program, such as
   * `["--config", "deno.json"]`.
   * @default {[]}
   */
  denoFlags?: string[];
}

/**
 * What {@linkcode spawn} returns.
 *
 * @example Tell the user where the job's output goes
 * ```ts ignore
 * import { spawn } from "@epack/detach";
 *
 * const { jobId, pid, logPath, job } = await spawn({ command: "sync" });
 * console.log(`job ${jobId} (supervisor ${pid}) started at ${job.startedAt}`);
 * console.log(`follow it with: tail -f ${logPath}`);
 * ```
 */
export interface SpawnResult {
  /** The new job's ID. */
  jobId: string;
  /** The PID of the job's supervisor, the detached process. */
  pid: number;
  /** The job's log file. */
  logPath: string;
  /** The job's record as spawn() left it. */
  job: Job;
}

/**
 * Thrown when a job's command line would detach it again.
 *
 * @example A job cannot be started with `--detach` among its flags
 * ```ts
 * import { DetachRecursionError, spawn } from "@epack/detach";
 *
 * try {
 *   await spawn({ command: "pull", flags: ["--detach"] });
 * } catch (err) {
 *   if (!(err instanceof DetachRecursionError)) throw err;
 *   console.log(err.flag); // --detach
 * }
 * ```
 */
export class DetachRecursionError extends Error {
  /** The offending flag. */
  readonly flag: string;
  /**
   * Makes the error for a flag that would detach again.
   * @param flag The offending flag.
   */
  constructor(flag: string) {
    super(
      `A detached job cannot detach again: remove ${
        JSON.stringify(flag)
      } from its arguments`,
    );
    this.flag = flag;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "DetachRecursionError";
  }
}

/**
 * Thrown when a job could not be started. Nothing is left running.
 *
 * @example Report a program that is not installed
 * ```ts ignore
 * import { spawn, SpawnError } from "@epack/detach";
 *
 * try {
 *   await spawn({ command: "no-such-program", external: true });
 * } catch (err) {
 *   if (!(err instanceof SpawnError)) throw err;
 *   console.error(err.message); // Command not found: no-such-program
 * }
 * ```
 */
export class SpawnError extends Error {
  /**
   * Makes the error.
   * @param message What went wrong.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "SpawnError";
  }
}

/**
 * Thrown by {@linkcode waitForJob} when its timeout passes first.
 *
 * @example Give up on a job that is still running
 * ```ts
 * import { JobStore } from "@epack/detach/jobs";
 * import { waitForJob, WaitTimeoutError } from "@epack/detach";
 *
 * const jobsDir = await Deno.makeTempDir();
 * const job = await new JobStore(jobsDir).create({ command: "sync" });
 * try {
 *   await waitForJob(job.id, { jobsDir, timeout: 50 });
 * } catch (err) {
 *   if (!(err instanceof WaitTimeoutError)) throw err;
 *   console.log(err.jobId === job.id); // true
 * }
 * await Deno.remove(jobsDir, { recursive: true });
 * ```
 */
export class WaitTimeoutError extends Error {
  /** The job waited for. */
  readonly jobId: string;
  /**
   * Makes the error.
   * @param jobId The job waited for.
   * @param ms How long the wait lasted.
   */
  constructor(jobId: string, ms: number) {
    super(`Timed out after ${ms} ms waiting for job ${jobId}`);
    this.jobId = jobId;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "WaitTimeoutError";
  }
}

let supervisorHookCalled = false;
let runtimeOverride: RuntimeFacts | undefined;

/**
 * The one line a program that calls {@linkcode spawn} needs. When the
 * process was started as a job's supervisor, it supervises the job and exits
 * the process; otherwise it returns at once. Call it at the start of the
 * program, before it parses its arguments.
 *
 * Requires `--allow-read`, `--allow-write` (the jobs directory) and
 * `--allow-run` in the supervisor, as the program already has if it spawns.
 *
 * @returns Nothing, when this process is not a supervisor.
 *
 * @example At the top of main.ts
 * ```ts ignore
 * import { superviseIfRequested } from "@epack/detach";
 *
 * await superviseIfRequested();
 * ```
 */
export async function superviseIfRequested(): Promise<void> {
  supervisorHookCalled = true;
  if (Deno.args[0] !== SUPERVISE_ARG) return;
  const [, jobsDir, id] = Deno.args;
  const { runSupervisor } = await import("./_supervisor.ts");
  const code = await runSupervisor(jobsDir ?? "", id ?? "");
  Deno.exit(code);
}

/**
 * Replaces the runtime facts used to re-execute the program. For tests of
 * the compiled-binary case, which cannot be built here. Internal.
 *
 * @param facts The facts, or `undefined` to go back to the real ones.
 */
export function _setRuntimeForTesting(facts: RuntimeFacts | undefined): void {
  runtimeOverride = facts;
}

/**
 * The default working directory: the nearest directory holding `deno.json`
 * or `deno.jsonc`, walking up from `from`, else `from` itself.
 *
 * Requires `--allow-read`.
 *
 * @param from Where to start.
 * @returns An absolute directory.
 *
 * @example The project root
 * ```ts
 * import { findWorkingDir } from "@epack/detach";
 *
 * console.log(findWorkingDir(Deno.cwd())); // the nearest dir with deno.json
 * ```
 */
export function findWorkingDir(from: string = Deno.cwd()): string {
  const start = resolve(from);
  for (let dir = start;; dir = dirname(dir)) {
    for (const name of ["deno.json", "deno.jsonc"]) {
      try {
        if (Deno.statSync(join(dir, name)).isFile) return dir;
      } catch {
        // Not here; keep walking.
      }
    }
    if (dirname(dir) === dir) return start;
  }
}

/**
 * The jobs directory for a working directory: `<workingDir>/.epack/jobs`.
 *
 * @param workingDir The working directory.
 * @returns The jobs directory.
 *
 * @example The jobs directory of a project
 * ```ts
 * import { defaultJobsDir } from "@epack/detach";
 *
 * console.log(defaultJobsDir("/srv/app")); // /srv/app/.epack/jobs
 * ```
 */
export function defaultJobsDir(workingDir: string = findWorkingDir()): string {
  return join(workingDir, ".epack", "jobs");
}

/**
 * Starts a command as a detached background job and returns at once.
 *
 * The job's supervisor is this program started again (a `deno compile`
 * binary runs itself; under `deno run`, the same entry module with the same
 * permissions). It runs in its own session, so a hangup or Ctrl-C in this
 * terminal does not reach it, with stdin closed. It runs the worker (the
 * command), sends the worker's stdout and stderr to the job's log, stops it
 * at the timeout, and records how it ended.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run`; the program
 * must call {@linkcode superviseIfRequested} at its start.
 *
 * @param options What to run and where.
 * @returns The job's ID, the supervisor's PID, the log path and the record.
 * @throws {DetachRecursionError} If the command line holds `--detach` or `-d`.
 * @throws {SpawnError} If the job could not be recorded or started; no
 * record is left running and no process is left behind.
 *
 * @example Detach a pull
 * ```ts ignore
 * import { buildPullFlags, spawn } from "@epack/detach";
 *
 * const { jobId } = await spawn({
 *   command: "pull",
 *   args: ["https://registry.example.com/packs"],
 *   flags: buildPullFlags({ env: "prod" }),
 * });
 * console.log(jobId);
 * ```
 */
export async function spawn(options: SpawnOptions): Promise<SpawnResult> {
  if (typeof options?.command !== "string" || options.command === "") {
    throw new TypeError("spawn() needs a command");
  }
  const args = [...(options.args ?? [])];
  const flags = [...(options.flags ?? [])];
  const timeout = options.timeout ?? DEFAULT_JOB_TIMEOUT;
  const grace = options.grace ?? DEFAULT_KILL_GRACE;
  if (!(timeout >= 0)) throw new RangeError(`Invalid timeout: ${timeout}`);
  if (!(grace >= 0 && Number.isFinite(grace))) {
    throw new RangeError(`Invalid grace period: ${grace}`);
  }
  const external = options.external === true;
  if (!external) {
    const flag = findDetachFlag([options.command, ...args, ...flags]);
    if (flag !== undefined) throw new DetachRecursionError(flag);
  }
  if (!supervisorHookCalled) {
    throw new SpawnError(
      "spawn() starts this program again as the job's supervisor: call `await superviseIfRequested()` at the start of the program",
    );
  }

  const workingDir = resolve(options.workingDir ?? findWorkingDir());
  // A relative jobsDir is taken from the cwd, like any path option.
  const jobsDir = resolve(options.jobsDir ?? defaultJobsDir(workingDir));
  const facts = runtimeOverride ?? currentRuntime();
  const self = selfArgv(facts, options);
  let argv: string[];
  if (external) {
    const env = { ...Deno.env.toObject(), ...options.env };
    const program = findExecutable(options.command, env.PATH ?? "", workingDir);
    if (program === undefined) {
      throw new SpawnError(`Command not found: ${options.command}`);
    }
    argv = [program, ...args, ...flags];
  } else {
    argv = [...self, options.command, ...args, ...flags];
  }

  const store = new JobStore(jobsDir);
  const id = newJobId();
  let job: Job;
  try {
    job = await store.create({
      id,
      command: options.command,
      args,
      flags,
      workingDir,
      timeout: Number.isFinite(timeout) ? timeout : 0,
      grace,
      argv,
    });
  } catch (err) {
    throw new SpawnError(
      `Cannot record the job in ${jobsDir}: ${describe(err)}`,
      { cause: err },
    );
  }

  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(self[0], {
      args: [...self.slice(1), SUPERVISE_ARG, jobsDir, id],
      cwd: workingDir,
      env: options.env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
  } catch (err) {
    const message = `Cannot start the supervisor ${self[0]}: ${describe(err)}`;
    await store.fail(id, message).catch(() => {});
    throw new SpawnError(message, { cause: err });
  }
  child.unref();
  // The supervisor writes its PID into the record itself when it takes the
  // liveness lock; a second write here would double spawn()'s cost.
  job.pid = child.pid;
  return { jobId: id, pid: child.pid, logPath: job.logPath, job };
}

/**
 * Options for {@linkcode cancel}.
 *
 * @example Cancel a job of another project, with a short grace period
 * ```ts ignore
 * import { cancel, type CancelOptions } from "@epack/detach";
 *
 * const options: CancelOptions = { jobsDir: "/srv/app/.epack/jobs", grace: 2_000 };
 * console.log((await cancel("01JD0Q2V3K5W8Y9Z0A1B2C3D4E", options)).message);
 * ```
 */
export interface CancelOptions {
  /**
   * The jobs directory.
   * @default {defaultJobsDir()}
   */
  jobsDir?: string;
  /**
   * Milliseconds between SIGTERM and SIGKILL.
   * @default {the job's own grace period, else DEFAULT_KILL_GRACE}
   */
  grace?: number;
}

/**
 * What {@linkcode cancel} did.
 *
 * @example Act on the outcome
 * ```ts ignore
 * import { cancel } from "@epack/detach";
 *
 * const { outcome, message, job } = await cancel("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * if (outcome === "already-ended") console.log(`nothing to do: ${job.status}`);
 * else console.log(message);
 * ```
 */
export interface CancelResult {
  /**
   * - `cancelled`: the job was running and has been stopped.
   * - `already-ended`: the job had ended; nothing was done.
   * - `lost`: the job's supervisor was gone; whatever was left of its
   *   process group was stopped, where it could be identified safely.
   */
  outcome: "cancelled" | "already-ended" | "lost";
  /** A sentence saying what happened. */
  message: string;
  /** The job's record afterwards. */
  job: Job;
}

/**
 * Cancels a job: SIGTERM to the worker's whole process group, SIGKILL after
 * the grace period, and status `cancelled`. It returns once the job has
 * ended. Cancelling a job that has ended does nothing and says so.
 * Cancelling a lost job still stops what is left of its process group when
 * that group is certainly the job's (Linux: its leader's start time matches
 * the record).
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run`.
 *
 * @param jobId The job's ID.
 * @param options The jobs directory and the grace period.
 * @returns What was done, and the record afterwards.
 * @throws {InvalidJobIdError} If the ID is not valid.
 * @throws {JobNotFoundError} If there is no such job.
 *
 * @example Cancel with a 2 s grace
 * ```ts ignore
 * import { cancel } from "@epack/detach";
 *
 * const { message } = await cancel("01JD0Q2V3K5W8Y9Z0A1B2C3D4E", { grace: 2_000 });
 * console.log(message);
 * ```
 */
export async function cancel(
  jobId: string,
  options: CancelOptions = {},
): Promise<CancelResult> {
  validateJobId(jobId);
  if (options.grace !== undefined && !(options.grace >= 0)) {
    throw new RangeError(`Invalid grace period: ${options.grace}`);
  }
  const store = new JobStore(options.jobsDir ?? defaultJobsDir());
  const job = await store.load(jobId);
  if (job.status === "lost") return await cancelLost(store, job);
  if (job.status !== "running") {
    return {
      outcome: "already-ended",
      message:
        `Job ${jobId} has already ended (${job.status}); nothing to cancel`,
      job,
    };
  }
  if (await store.isHeld(jobId) === undefined) {
    // No liveness file: not one of our jobs (the Go epack writes none), so
    // there is no supervisor to ask and no safe way to find its processes.
    throw new Error(
      `Job ${jobId} was not started by @epack/detach (it has no liveness file), so it cannot be cancelled here`,
    );
  }
  const grace = options.grace ?? job.grace ?? DEFAULT_KILL_GRACE;
  const requested = await store.update(jobId, (j) => {
    if (j.status === "running" && j.cancelRequestedAt === undefined) {
      j.cancelRequestedAt = new Date();
      j.grace = grace;
    }
    return j;
  });
  if (requested.status !== "running") {
    return {
      outcome: "already-ended",
      message:
        `Job ${jobId} has already ended (${requested.status}); nothing to cancel`,
      job: requested,
    };
  }
  // A supervisor that has not started yet finds the request when it does,
  // and ends the job without running it. One that runs gets SIGTERM; it
  // holds the liveness lock, so its PID cannot have been reused.
  if (requested.supervisedAt !== undefined && requested.pid > 1) {
    if (await store.isHeld(jobId)) {
      try {
        Deno.kill(requested.pid, "SIGTERM");
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }
  const ended = await waitForJob(jobId, {
    jobsDir: store.dir,
    timeout: grace + 15_000,
  });
  if (ended.status === "lost") return await cancelLost(store, ended);
  return {
    outcome: ended.status === "cancelled" ? "cancelled" : "already-ended",
    message: ended.status === "cancelled"
      ? `Job ${jobId} cancelled`
      : `Job ${jobId} ended (${ended.status}) before it could be cancelled`,
    job: ended,
  };
}

async function cancelLost(store: JobStore, job: Job): Promise<CancelResult> {
  const pgid = job.workerPid;
  const ticks = job.workerStartTicks;
  let detail: string;
  if (pgid === undefined || pgid <= 1) {
    detail = "its worker never started";
  } else if (ticks === undefined) {
    detail =
      `its worker's start time was not recorded, so group ${pgid} cannot be identified safely; left alone`;
  } else {
    const left = identifyGroup(pgid, ticks, `${JOB_ID_ENV}=${job.id}`);
    if (left === undefined) {
      detail =
        `process group ${pgid} cannot be identified safely as the job's (its PID was reused, or /proc cannot be read); left alone`;
    } else if (left.length === 0) {
      detail = "no process of it was left";
    } else {
      const result = await stopProcessGroup(pgid, {
        grace: job.grace ?? DEFAULT_KILL_GRACE,
      });
      detail = `stopped ${left.length} leftover process(es) of group ${pgid}` +
        (result.killed ? " (SIGKILL needed)" : "");
    }
  }
  const message = `Job ${job.id} was lost (its supervisor is gone); ${detail}`;
  const recorded = await store.update(job.id, (j) => {
    if (j.status === "running") {
      j.status = "lost";
      j.completedAt = new Date();
      j.error = message;
    }
    return j;
  });
  return { outcome: "lost", message, job: recorded };
}

/**
 * Options for {@linkcode waitForJob}.
 *
 * @example Wait at most an hour, or until Ctrl-C
 * ```ts ignore
 * import { waitForJob, type WaitOptions } from "@epack/detach";
 *
 * const stop = new AbortController();
 * Deno.addSignalListener("SIGINT", () => stop.abort());
 * const options: WaitOptions = { timeout: 60 * 60 * 1000, signal: stop.signal };
 * const job = await waitForJob("01JD0Q2V3K5W8Y9Z0A1B2C3D4E", options);
 * console.log(job.status);
 * ```
 */
export interface WaitOptions {
  /**
   * The jobs directory.
   * @default {defaultJobsDir()}
   */
  jobsDir?: string;
  /** Give up after this many milliseconds. */
  timeout?: number;
  /** Give up when this signal aborts. */
  signal?: AbortSignal;
}

/**
 * Waits until a job has ended and returns its final record. It wakes on the
 * change of the job's record, so it returns within milliseconds of the end;
 * a lost job is noticed within a second.
 *
 * Requires `--allow-read`.
 *
 * @param jobId The job's ID.
 * @param options The jobs directory, a timeout, an abort signal.
 * @returns The final record.
 * @throws {JobNotFoundError} If there is no such job, or its record is
 * removed during the wait.
 * @throws {RangeError} If `timeout` is negative or not a number.
 * @throws {WaitTimeoutError} If `timeout` passes first.
 *
 * @example Wait for a job
 * ```ts ignore
 * import { waitForJob } from "@epack/detach";
 *
 * const job = await waitForJob("01JD0Q2V3K5W8Y9Z0A1B2C3D4E", { timeout: 60_000 });
 * console.log(job.status, job.exitCode);
 * ```
 */
export async function waitForJob(
  jobId: string,
  options: WaitOptions = {},
): Promise<Job> {
  if (options.timeout !== undefined && !(options.timeout >= 0)) {
    throw new RangeError(`Invalid timeout: ${options.timeout}`);
  }
  const store = new JobStore(options.jobsDir ?? defaultJobsDir());
  const isFinal = (j: Job) => FINAL_STATUSES.includes(j.status);
  let job = await store.load(jobId);
  if (isFinal(job)) return job;
  options.signal?.throwIfAborted();

  const record = store.recordPath(jobId);
  // `pending` keeps a wake-up that comes while the loop is busy.
  let pending = false;
  let wake: (() => void) | undefined;
  const kick = () => {
    pending = true;
    wake?.();
  };
  const timer = scheduleTimeout(options.timeout ?? Infinity, kick);
  // A zero timeout looks once more, at once.
  if (options.timeout !== undefined && options.timeout <= 0) pending = true;
  const started = Date.now();
  options.signal?.addEventListener("abort", kick);
  try {
    for (;;) {
      // Only the record is watched, not the jobs directory: the logs live
      // there too, and a heavy log would wake us for every write. Each
      // update replaces the record's file, which ends its watch, so a new
      // watch is set before every look.
      let watcher: Deno.FsWatcher;
      try {
        watcher = Deno.watchFs(record, { recursive: false });
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          throw new JobNotFoundError(jobId, { cause: err });
        }
        throw err;
      }
      const pump = (async () => {
        try {
          for await (const _ of watcher) kick();
        } catch {
          // The watcher was closed.
        }
      })();
      try {
        job = await store.load(jobId);
        if (isFinal(job)) return job;
        if (!pending) {
          // The liveness check needs a look now and then: a supervisor
          // killed with SIGKILL writes nothing, so no event comes.
          let tick: ReturnType<typeof setTimeout> | undefined;
          await new Promise<void>((res) => {
            wake = res;
            tick = setTimeout(res, 1_000);
          });
          // Woken early, the timer would keep the process alive for up to a
          // second after the wait has returned.
          clearTimeout(tick);
          wake = undefined;
        }
        pending = false;
      } finally {
        watcher.close();
        await pump;
      }
      options.signal?.throwIfAborted();
      if (
        options.timeout !== undefined && Date.now() - started >= options.timeout
      ) {
        job = await store.load(jobId);
        if (isFinal(job)) return job;
        throw new WaitTimeoutError(jobId, options.timeout);
      }
    }
  } finally {
    timer[Symbol.dispose]();
    options.signal?.removeEventListener("abort", kick);
  }
}

/** Looks a program up the way a shell would. */
function findExecutable(
  command: string,
  path: string,
  cwd: string,
): string | undefined {
  const candidates = command.includes("/")
    ? [resolve(cwd, command)]
    : path.split(":").filter((d) => d !== "").map((d) => join(d, command));
  for (const candidate of candidates) {
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) {
        return candidate;
      }
    } catch {
      // Not there, or not readable: try the next.
    }
  }
  return undefined;
}

function describe(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotFound) return "not found";
  if (err instanceof Deno.errors.NotCapable) {
    return `Deno permission missing (${(err as Error).message})`;
  }
  return err instanceof Error ? err.message : String(err);
}
