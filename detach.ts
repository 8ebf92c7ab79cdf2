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

import {
  AmbiguousJobIdError,
  type CreateJobOptions,
  InvalidJobIdError,
  type Job,
  JOB_ID_ENV,
  JobNotFoundError,
  JobStore,
  newJobId,
} from "./jobs.ts";
import {
  FileJobBackend,
  isPostgresUrl,
  type JobBackend,
  openStore,
} from "./store.ts";
import {
  currentRuntime,
  findDetachFlag,
  type RuntimeFacts,
  selfArgv,
  supervisorArgv,
} from "./spawn/argv.ts";
import { DEFAULT_KILL_GRACE } from "./timeout.ts";
import {
  checkJobControl,
  type JobControlOptions,
} from "./store/job_options.ts";
import { checkDuration } from "./duration.ts";
import { describeLookupFailure, findExecutable } from "./spawn/which.ts";
import { dirname, join, resolve } from "./util/path.ts";
import { assertPosix } from "./process/platform.ts";
import { firstMissing, type PermissionCheck } from "./util/permissions.ts";
import {
  hasFile,
  launchSupervisor,
  LIMIT_FILE,
  needsJobsDir,
  SUPERVISE_ARG,
  SUPERVISOR_STORE_ENV,
} from "./spawn/launch.ts";

/**
 * Default job timeout: 24 hours.
 *
 * @example Show the default
 * ```ts
 * import { DEFAULT_JOB_TIMEOUT } from "@epack/detach";
 * import { formatDuration } from "@epack/detach/duration";
 *
 * console.log(formatDuration(DEFAULT_JOB_TIMEOUT)); // 1d
 * ```
 */
export const DEFAULT_JOB_TIMEOUT: number = 24 * 60 * 60 * 1000;

export { SUPERVISE_ARG };

/**
 * Options for {@linkcode spawn}.
 *
 * @example A pull with a 2-hour timeout, run from a chosen directory
 * ```ts
 * import { buildPullFlags, type SpawnOptions } from "@epack/detach";
 * import { parseDuration } from "@epack/detach/duration";
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
export interface SpawnOptions extends JobControlOptions {
  /**
   * A subcommand of the current program to run (for example `pull`): the
   * job runs this program again with it. Give exactly one of `command` and
   * `program`.
   */
  command?: string;
  /**
   * A program to run instead of a subcommand: a name is looked up on the
   * `PATH` of the job's environment; a name holding a `/` is a path, taken
   * from `workingDir`. Give exactly one of `command` and `program`.
   */
  program?: string;
  /**
   * Positional arguments of the command or program.
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
   * Where to record the job: a `postgres://` URL for a store shared by
   * several hosts (the log stays on this host, in
   * `<workingDir>/.epack/logs` unless the URL's `epack_log_dir` says
   * otherwise), or a jobs directory, as `jobsDir`.
   * @default {jobsDir}
   */
  store?: string;
  /**
   * The job's timeout in milliseconds: a whole number from 1 to
   * `MAX_DURATION` (36500 days), or `0` (or `Infinity`) for no limit.
   * Anything else (a fraction, a negative number, `NaN`, a larger number)
   * is refused with a RangeError before anything is written or started.
   * @default {DEFAULT_JOB_TIMEOUT}
   */
  timeout?: number;
  /**
   * Milliseconds between SIGTERM and SIGKILL when the job times out or is
   * cancelled: a whole number from 0 (SIGKILL at once) to `MAX_DURATION`.
   * @default {DEFAULT_KILL_GRACE}
   */
  grace?: number;
  /**
   * Environment variables added to the job's environment, which is otherwise
   * the spawning process's.
   */
  env?: Record<string, string>;
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
  /**
   * Let a job start jobs. Inside a job (its processes carry
   * `EPACK_DETACH_JOB_ID`), `spawn()` refuses with a
   * {@linkcode DetachRecursionError} by default, so that a program whose
   * worker path reaches `spawn()` again cannot multiply itself. A program
   * that means to start jobs from a job says so here.
   * @default {false}
   */
  allowNested?: boolean;
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
  /**
   * The PID of the job's supervisor, the detached process; `0` for a job
   * that is `waiting` or `queued` (see `job.status`): it has no process yet.
   */
  pid: number;
  /** The job's log file. */
  logPath: string;
  /** The job's record as spawn() left it. */
  job: Job;
}

/**
 * Thrown when a job would detach again: its command line holds `--detach`
 * (`flag` says which), or `spawn()` was called inside a job without
 * `allowNested` (`jobId` says which job). Nothing is written or started.
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
  /** The offending flag, when the command line would detach again. */
  readonly flag: string | undefined;
  /** The job this process runs in, when spawn() was called inside a job. */
  readonly jobId: string | undefined;
  /**
   * Makes the error.
   * @param what The flag that would detach again, or the job inside which
   * spawn() was called.
   */
  constructor(what: string | { jobId: string }) {
    super(
      typeof what === "string"
        ? `A detached job cannot detach again: remove ${
          JSON.stringify(what)
        } from its arguments`
        : `A detached job cannot detach again: this process runs in job ${what.jobId} (${JOB_ID_ENV} is set); pass allowNested: true to spawn() to start jobs from a job`,
    );
    this.flag = typeof what === "string" ? what : undefined;
    this.jobId = typeof what === "string" ? undefined : what.jobId;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "DetachRecursionError";
  }
}

/**
 * Thrown when a job could not be started. Nothing is left running, and
 * nothing is left in the jobs directory.
 *
 * @example Report a program that is not installed
 * ```ts ignore
 * import { spawn, SpawnError } from "@epack/detach";
 *
 * try {
 *   await spawn({ program: "no-such-program" });
 * } catch (err) {
 *   if (!(err instanceof SpawnError)) throw err;
 *   console.error(err.message); // Command not found: no-such-program
 *   Deno.exitCode = err.exitCode ?? 1; // 127, as a shell would
 * }
 * ```
 */
export class SpawnError extends Error {
  /**
   * A shell's exit code for a program that could not be run: 127 if it was
   * not found, 126 if it was found but cannot be executed (a directory, no
   * execute permission, a bad `#!` interpreter). `undefined` for any other
   * failure.
   */
  readonly exitCode: 126 | 127 | undefined;
  /**
   * Makes the error.
   * @param message What went wrong.
   * @param options The underlying error (`cause`), and the shell's exit
   * code (`exitCode`) for a program that could not be run.
   */
  constructor(
    message: string,
    options?: ErrorOptions & { exitCode?: 126 | 127 },
  ) {
    super(message, options);
    this.exitCode = options?.exitCode;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "SpawnError";
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
  // The same supervisor as the one this package's CLI starts directly; not
  // imported statically (see _supervise.ts).
  const { supervise } = await import("./_supervise.ts");
  await supervise(Deno.args);
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
 * import { findWorkingDir } from "./detach.ts";
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
 * Everything is checked before anything is written or started: the
 * options, the permissions, whether this process is itself a job, and the
 * program. A spawn that fails after that removes what it made: it either
 * starts a job or leaves nothing.
 *
 * Requires `--allow-read` and `--allow-write` (the jobs directory),
 * `--allow-env` (`EPACK_DETACH_JOB_ID`, and `PATH` to find a program) and
 * `--allow-run`; under `deno run` the supervisor gets only the unscoped
 * grants, so `read`, `write` and `run` must be unscoped unless
 * `permissionFlags` says otherwise. The program must call
 * {@linkcode superviseIfRequested} at its start.
 *
 * @param options What to run and where.
 * @returns The job's ID, the supervisor's PID, the log path and the record.
 * @throws {TypeError} Unless exactly one of `command` and `program` is given.
 * @throws {RangeError} If `timeout` or `grace` is out of range (see
 * {@linkcode SpawnOptions}).
 * @throws {DetachRecursionError} If a subcommand's command line holds
 * `--detach` or `-d`, or this process runs in a job and `allowNested` is not
 * set.
 * @throws {SpawnError} If a permission is missing (the message names the
 * flag; the cause is a `Deno.errors.NotCapable`), the program is not found
 * or cannot be executed (with `exitCode` 127 or 126), or the job could not
 * be recorded or started. Nothing is left behind then.
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
  assertPosix("spawn()");
  const { command, program } = options ?? {};
  if ((command === undefined) === (program === undefined)) {
    throw new TypeError(
      "spawn() needs exactly one of `command` (a subcommand of this program) and `program` (a program to run)",
    );
  }
  const name = command ?? program;
  if (typeof name !== "string" || name === "") {
    throw new TypeError(
      `spawn() needs a non-empty ${
        command !== undefined ? "command" : "program"
      }`,
    );
  }
  const args = [...(options.args ?? [])];
  const flags = [...(options.flags ?? [])];
  // Where durations enter: the range a record holds, so no option can make
  // a job the store refuses to read. Infinity is "none", as 0 is.
  const timeout = options.timeout === Infinity
    ? 0
    : checkDuration("timeout", options.timeout ?? DEFAULT_JOB_TIMEOUT);
  const grace = checkDuration("grace", options.grace ?? DEFAULT_KILL_GRACE);
  const control = checkJobControl(options);
  if (command !== undefined) {
    const flag = findDetachFlag([command, ...args, ...flags]);
    if (flag !== undefined) throw new DetachRecursionError(flag);
  }
  if (!supervisorHookCalled) {
    throw new SpawnError(
      "spawn() starts this program again as the job's supervisor: call `await superviseIfRequested()` at the start of the program",
    );
  }

  const workingDir = resolve(options.workingDir ?? findWorkingDir());
  // A database keeps the record; the log (and the supervisor's liveness
  // file) stay on this host, in a directory named in the URL.
  const pgUrl = options.store !== undefined && isPostgresUrl(options.store)
    ? withLogDir(options.store, join(workingDir, ".epack", "logs"))
    : undefined;
  // A relative jobsDir is taken from the cwd, like any path option.
  const jobsDir = resolve(
    pgUrl !== undefined
      ? new URL(pgUrl).searchParams.get("epack_log_dir")!
      : options.store ?? options.jobsDir ?? defaultJobsDir(workingDir),
  );
  const facts = runtimeOverride ?? currentRuntime();
  const self = selfArgv(facts, options);
  // The worker of a `command` job runs the program itself; its supervisor,
  // when the program is this package's CLI, a module of its own.
  const supervisor = supervisorArgv(facts, options);
  const searchPath = program !== undefined && !program.includes("/") &&
    options.env?.PATH === undefined;
  checkPermissions({
    jobsDir,
    supervisor: self[0],
    searchPath,
    // A compiled binary has its permissions built in; under `deno run` the
    // supervisor gets the unscoped grants, or the flags the caller states.
    passedOn: facts.standalone || options.permissionFlags !== undefined
      ? undefined
      : facts.permissionFlags,
  });
  const outer = Deno.env.get(JOB_ID_ENV);
  if (outer !== undefined && outer !== "" && options.allowNested !== true) {
    throw new DetachRecursionError({ jobId: outer });
  }

  let argv: string[];
  if (program !== undefined) {
    // Looked up now, as the job will see it, so a program that cannot run
    // fails here rather than in the job's log; messages as the CLI's `run`.
    const path = options.env?.PATH ?? (searchPath ? Deno.env.get("PATH") : "");
    let found;
    try {
      found = findExecutable(program, { cwd: workingDir, path: path ?? "" });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotCapable)) throw err;
      throw needs("--allow-read", `to find ${program}`, err);
    }
    if (!found.ok) {
      const { message, exitCode } = describeLookupFailure(program, found);
      throw new SpawnError(message, { exitCode });
    }
    argv = [found.path, ...args, ...flags];
  } else {
    argv = [...self, name, ...args, ...flags];
  }

  const id = newJobId();
  // A job that must wait for others, or for a slot, is a record only, and
  // the scheduler starts it; any other job starts here, as it always has,
  // at the cost of one lstat for the limit.
  if (control.after !== undefined && control.after.length > 0 && pgUrl) {
    throw new SpawnError(needsJobsDir("Running a job after others (after)"));
  }
  const scheduled = pgUrl === undefined &&
    ((control.after?.length ?? 0) > 0 || hasLimitFile(jobsDir));
  if (scheduled) {
    return await spawnScheduled(jobsDir, {
      id,
      command: name,
      args,
      flags,
      workingDir,
      timeout,
      grace,
      argv,
      ...control,
      supervisorArgv: supervisor,
      env: jobEnvironment(options.env),
    });
  }
  let job: Job;
  let store: JobBackend;
  try {
    store = pgUrl !== undefined
      ? await openStore(pgUrl)
      : new FileJobBackend(jobsDir);
  } catch (err) {
    throw new SpawnError(`Cannot open the job store: ${describe(err)}`, {
      cause: err,
    });
  }
  await using _store = store;
  try {
    // create() checks the record before it writes, and on failure removes
    // whatever it made.
    job = await store.create({
      id,
      command: name,
      args,
      flags,
      workingDir,
      timeout,
      grace,
      argv,
      ...control,
    });
  } catch (err) {
    throw new SpawnError(
      `Cannot record the job in ${store.location}: ${describe(err)}`,
      { cause: err },
    );
  }

  let child: Deno.ChildProcess;
  try {
    child = launchSupervisor(supervisor, pgUrl ? "" : jobsDir, id, {
      cwd: workingDir,
      env: pgUrl !== undefined
        ? { ...options.env, [SUPERVISOR_STORE_ENV]: pgUrl }
        : options.env,
    });
  } catch (err) {
    const message = `Cannot start the supervisor ${self[0]}: ${describe(err)}`;
    // Nothing ran: the job is taken back. Should that fail too, the record
    // at least says why it never ran, rather than look like a job starting.
    await store.delete(id).catch(() =>
      store.finish(id, { status: "failed", error: message })
    ).catch(() => {});
    throw new SpawnError(message, { cause: err });
  }
  // The supervisor writes its PID into the record itself when it takes the
  // liveness lock; a second write here would double spawn()'s cost.
  job.pid = child.pid;
  return { jobId: id, pid: child.pid, logPath: job.logPath, job };
}

function hasLimitFile(jobsDir: string): boolean {
  try {
    return hasFile(jobsDir, LIMIT_FILE);
  } catch (err) {
    throw new SpawnError(
      `Cannot read the jobs directory ${jobsDir}: ${describe(err)}`,
      { cause: err },
    );
  }
}

/**
 * The supervisor's environment for a job that another process may start:
 * this process's, with `extra`, as a supervisor started now would get it.
 */
function jobEnvironment(extra: Record<string, string> | undefined) {
  let env: Record<string, string>;
  try {
    env = Deno.env.toObject();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    throw needs(
      "--allow-env",
      "granted without a list, to keep the environment of a job that starts later",
      err,
    );
  }
  return { ...env, ...extra };
}

/**
 * Records a job that waits (for the jobs it runs after, or for a slot
 * under the parallel limit) and lets the scheduler start it: at once if it
 * can, else whichever process ends the last job it waits for.
 */
async function spawnScheduled(
  jobsDir: string,
  options: CreateJobOptions,
): Promise<SpawnResult> {
  const { createScheduled, DependencyCycleError } = await import(
    "./schedule/schedule.ts"
  );
  const store = new JobStore(jobsDir);
  let job: Job;
  try {
    job = await createScheduled(store, options);
  } catch (err) {
    if (err instanceof JobNotFoundError) {
      throw new SpawnError(
        `Cannot run after job ${err.id}: no such job in ${jobsDir}`,
        { cause: err },
      );
    }
    if (
      err instanceof AmbiguousJobIdError || err instanceof InvalidJobIdError ||
      err instanceof DependencyCycleError
    ) {
      throw new SpawnError(`Cannot run after it: ${err.message}`, {
        cause: err,
      });
    }
    throw new SpawnError(
      `Cannot record the job in ${jobsDir}: ${describe(err)}`,
      { cause: err },
    );
  }
  return { jobId: job.id, pid: job.pid, logPath: job.logPath, job };
}

/** The URL with `epack_log_dir` set, unless it names one already. */
function withLogDir(url: string, dir: string): string {
  const u = new URL(url);
  if (!u.searchParams.has("epack_log_dir")) {
    u.searchParams.set("epack_log_dir", dir);
  }
  return u.href;
}

/** What {@linkcode checkPermissions} checks. */
interface PermissionNeeds {
  jobsDir: string;
  /** The program that becomes the supervisor. */
  supervisor: string;
  /** Whether `PATH` is read to find the program. */
  searchPath: boolean;
  /** The permission flags the supervisor will get, if detected. */
  passedOn: string[] | undefined;
}

// Asked before anything is written, so a missing permission is named as
// such rather than surfacing later as something else: without --allow-env,
// PATH reads as empty and every program as "not found".
function checkPermissions(want: PermissionNeeds): void {
  const checks: PermissionCheck[] = [
    [
      { name: "read", path: want.jobsDir },
      "--allow-read",
      `to read the jobs directory ${want.jobsDir}`,
    ],
    [
      { name: "write", path: want.jobsDir },
      "--allow-write",
      `to record the job in ${want.jobsDir}`,
    ],
    [
      { name: "env", variable: JOB_ID_ENV },
      "--allow-env",
      `to read ${JOB_ID_ENV}, which tells whether this process is a job already`,
    ],
    [
      { name: "run", command: want.supervisor },
      "--allow-run",
      `to start the job's supervisor ${want.supervisor}`,
    ],
  ];
  if (want.searchPath) {
    checks.push([
      { name: "env", variable: "PATH" },
      "--allow-env",
      "to read PATH and find the program",
    ]);
  }
  const missing = firstMissing(checks);
  if (missing !== undefined) throw needs(missing.flag, missing.why);
  if (want.passedOn === undefined) return;
  for (const name of ["read", "write", "run"]) {
    const flag = `--allow-${name}`;
    if (!want.passedOn.includes(flag)) {
      throw new SpawnError(
        `spawn() needs ${flag} granted without a list: the job's supervisor gets only unscoped grants (or pass permissionFlags to state them)`,
        { cause: new Deno.errors.NotCapable(`${flag} is scoped or missing`) },
      );
    }
  }
}

function needs(flag: string, why: string, cause?: unknown): SpawnError {
  const message = `spawn() needs ${flag} (${why})`;
  return new SpawnError(message, {
    cause: cause ?? new Deno.errors.NotCapable(message),
  });
}

function describe(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotFound) return "not found";
  if (err instanceof Deno.errors.NotCapable) {
    return `Deno permission missing (${(err as Error).message})`;
  }
  return err instanceof Error ? err.message : String(err);
}
