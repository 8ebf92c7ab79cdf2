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

import { type Job, JobStore, newJobId } from "./jobs.ts";
import {
  currentRuntime,
  findDetachFlag,
  type RuntimeFacts,
  selfArgv,
} from "./_argv.ts";
import { DEFAULT_KILL_GRACE } from "./timeout.ts";
import { findExecutable } from "./_which.ts";
import { dirname, join, resolve } from "./_path.ts";

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

/** The argument that starts the program as a supervisor. Internal. */
export const SUPERVISE_ARG = "__epack_detach_supervise__";

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
export interface SpawnOptions {
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
 *   await spawn({ program: "no-such-program" });
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
 * Requires `--allow-read`, `--allow-write` and `--allow-run`; the program
 * must call {@linkcode superviseIfRequested} at its start.
 *
 * @param options What to run and where.
 * @returns The job's ID, the supervisor's PID, the log path and the record.
 * @throws {TypeError} Unless exactly one of `command` and `program` is given.
 * @throws {DetachRecursionError} If a subcommand's command line holds
 * `--detach` or `-d`.
 * @throws {SpawnError} If the program is not found or cannot be executed
 * (nothing is recorded then), or the job could not be recorded or started;
 * no record is left running and no process is left behind.
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
  const timeout = options.timeout ?? DEFAULT_JOB_TIMEOUT;
  const grace = options.grace ?? DEFAULT_KILL_GRACE;
  if (!(timeout >= 0)) throw new RangeError(`Invalid timeout: ${timeout}`);
  if (!(grace >= 0 && Number.isFinite(grace))) {
    throw new RangeError(`Invalid grace period: ${grace}`);
  }
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
  // A relative jobsDir is taken from the cwd, like any path option.
  const jobsDir = resolve(options.jobsDir ?? defaultJobsDir(workingDir));
  const facts = runtimeOverride ?? currentRuntime();
  const self = selfArgv(facts, options);
  let argv: string[];
  if (program !== undefined) {
    // Looked up now, as the job will see it, so a program that cannot run
    // fails here rather than in the job's log; messages as the CLI's `run`.
    const path = options.env?.PATH ?? Deno.env.get("PATH") ?? "";
    const found = findExecutable(program, { cwd: workingDir, path });
    if (!found.ok) {
      throw new SpawnError(
        found.reason === "not_found"
          ? `Command not found: ${program}`
          : found.reason === "is_directory"
          ? `Cannot execute ${program}: is a directory`
          : `Cannot execute ${program}: permission denied`,
      );
    }
    argv = [found.path, ...args, ...flags];
  } else {
    argv = [...self, name, ...args, ...flags];
  }

  const store = new JobStore(jobsDir);
  const id = newJobId();
  let job: Job;
  try {
    job = await store.create({
      id,
      command: name,
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

function describe(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotFound) return "not found";
  if (err instanceof Deno.errors.NotCapable) {
    return `Deno permission missing (${(err as Error).message})`;
  }
  return err instanceof Error ? err.message : String(err);
}
