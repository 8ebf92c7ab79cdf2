// spawn(): what it checks, records and starts, in named steps. detach.ts
// documents it and re-exports it.

import {
  AmbiguousJobIdError,
  InvalidJobIdError,
  JOB_ID_ENV,
  JobNotFoundError,
  newJobId,
} from "../store/job_id.ts";
import type { Job } from "../store/job.ts";
import type { JobStore } from "../store/contract.ts";
import {
  capabilitiesOf,
  openStore,
  storeName,
  type StoreOption,
} from "../store/open.ts";
import { redact } from "../store/redact.ts";
import {
  checkJobControl,
  DEFAULT_JOB_TIMEOUT,
  DEFAULT_KILL_GRACE,
  type JobControlOptions,
} from "../store/job_options.ts";
import { checkDuration } from "../duration.ts";
import {
  currentRuntime,
  findDetachFlag,
  type RuntimeFacts,
  selfArgv,
  supervisorArgv,
} from "./argv.ts";
import { describeLookupFailure, findExecutable } from "./which.ts";
import { resolve } from "../util/path.ts";
import { assertPosix } from "../process/platform.ts";
import { findWorkingDir } from "../store/open.ts";
import { firstMissing, type PermissionCheck } from "../util/permissions.ts";
import {
  hasFile,
  launchSupervisor,
  LIMIT_FILE,
  SUPERVISE_ARG,
  SUPERVISOR_STORE_ENV,
} from "./launch.ts";
import { DetachRecursionError, SpawnError } from "./errors.ts";

/**
 * Options for {@linkcode spawn}: what to run (exactly one of `command` and
 * `subcommand`), where, and how.
 *
 * @example A pull with a 2-hour timeout, run from a chosen directory
 * ```ts
 * import { buildPullFlags, type SpawnOptions } from "@epack/detach";
 * import { parseDuration } from "@epack/detach/duration";
 *
 * const options: SpawnOptions = {
 *   subcommand: "pull",
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
export interface SpawnOptions extends JobControlOptions, StoreOption {
  /**
   * The program to run, as `Deno.Command` takes it: a name is looked up on
   * the `PATH` of the job's environment; a name holding a `/` is a path,
   * taken from `workingDir`.
   */
  command?: string;
  /**
   * A subcommand of this program (for example `pull`), in place of
   * `command`: the job runs this program again with it, its `args` and
   * its `flags`. The program must call `superviseIfRequested()` first.
   */
  subcommand?: string;
  /**
   * The arguments of the program or the subcommand.
   * @default {[]}
   */
  args?: string[];
  /**
   * Flags of the subcommand, placed after `args` (with `command`, they
   * simply follow `args`).
   * @default {[]}
   */
  flags?: string[];
  /**
   * The directory the job runs in.
   * @default {the nearest directory holding deno.json or deno.jsonc, walking up from the cwd, else the cwd}
   */
  workingDir?: string;
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
   * Environment variables added to the job's environment, which is
   * otherwise the spawning process's.
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
   * `DetachRecursionError` by default, so that a program whose worker path
   * reaches `spawn()` again cannot multiply itself.
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
 * const { jobId, pid, logPath, job } = await spawn({ command: "rsync", args: ["-a", "src/", "dst/"] });
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

let supervisorHookCalled = false;
let runtimeOverride: RuntimeFacts | undefined;

/** Notes that the program calls superviseIfRequested(), as spawn() needs. */
export function markSupervisorHook(): void {
  supervisorHookCalled = true;
}

/**
 * Replaces the runtime facts used to re-execute the program: for tests of
 * the compiled-binary case, which cannot be built here.
 *
 * @param facts The facts, or `undefined` to go back to the real ones.
 */
export function setRuntimeForTesting(facts: RuntimeFacts | undefined): void {
  runtimeOverride = facts;
}

/** What spawn() has decided from its options, before it touches anything. */
interface Plan {
  /** The record's `command`: the subcommand, or the program as given. */
  name: string;
  args: string[];
  flags: string[];
  timeout: number;
  grace: number;
  control: JobControlOptions;
  workingDir: string;
  facts: RuntimeFacts;
  /** How the program starts again (its supervisor, a subcommand's worker). */
  self: string[];
  /** How the job's supervisor is started. */
  supervisor: string[];
  /** Whether the worker's program is looked up on this process's PATH. */
  searchPath: boolean;
}

/**
 * Starts a job and returns at once: a program of your choice (`command`,
 * looked up on `PATH` as `Deno.Command` does), or a subcommand of this
 * program (`subcommand`).
 *
 * The job's supervisor is this program started again (a `deno compile`
 * binary runs itself; under `deno run`, the same entry module with the same
 * unscoped permissions). It runs in its own session, so a hangup or Ctrl-C
 * in this terminal does not reach it, with stdin closed. It runs the
 * worker, sends the worker's stdout and stderr to the job's log, stops it
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
 * @throws {TypeError} Unless exactly one of `command` and `subcommand` is
 * given.
 * @throws {RangeError} If `timeout` or `grace` is out of range (see
 * `SpawnOptions`).
 * @throws {DetachRecursionError} If a subcommand's command line holds
 * `--detach` or `-d`, or this process runs in a job and `allowNested` is
 * not set.
 * @throws {SpawnError} If a permission is missing (the message names the
 * flag; the cause is a `Deno.errors.NotCapable`), the program is not found
 * or cannot be executed (with `exitCode` 127 or 126), or the job could not
 * be recorded or started. Nothing is left behind then.
 *
 * @example Back up a directory in the background
 * ```ts ignore
 * import { spawn, superviseIfRequested } from "@epack/detach";
 *
 * await superviseIfRequested();
 * const { jobId } = await spawn({ command: "rsync", args: ["-a", "src/", "/backup/"] });
 * console.log(jobId);
 * ```
 */
export async function spawn(options: SpawnOptions): Promise<SpawnResult> {
  assertPosix("spawn()");
  const plan = planSpawn(options);
  guard(plan, options);
  // What the store cannot do is refused before it is opened (a database
  // need not be reached to know it cannot schedule).
  const spec = options.store;
  const can = typeof spec === "object"
    ? spec.capabilities
    : capabilitiesOf(storeName(spec));
  if ((plan.control.after?.length ?? 0) > 0 && !can.scheduling) {
    throw noScheduling(spec);
  }
  const store = await open(options);
  try {
    checkPermissions(store, plan, options);
    const argv = workerArgv(plan, options);
    const id = newJobId();
    if (isScheduled(store, plan.control)) {
      return await recordScheduled(store, plan, argv, id, options);
    }
    const job = await record(store, plan, argv, id);
    return await launch(store, job, plan, options);
  } finally {
    if (typeof options.store !== "object") await store[Symbol.asyncDispose]();
  }
}

/** Checks the options; nothing is read or written. */
function planSpawn(options: SpawnOptions): Plan {
  const { command, subcommand } = options ?? {};
  if ((command === undefined) === (subcommand === undefined)) {
    throw new TypeError(
      "spawn() needs exactly one of `command` (a program to run) and `subcommand` (a subcommand of this program)",
    );
  }
  const name = command ?? subcommand;
  if (typeof name !== "string" || name === "") {
    throw new TypeError(
      `spawn() needs a non-empty ${
        command !== undefined ? "command" : "subcommand"
      }`,
    );
  }
  // Where durations enter: the range a record holds, so no option can make
  // a job the store refuses to read. Infinity is "none", as 0 is.
  const timeout = options.timeout === Infinity
    ? 0
    : checkDuration("timeout", options.timeout ?? DEFAULT_JOB_TIMEOUT);
  const grace = checkDuration("grace", options.grace ?? DEFAULT_KILL_GRACE);
  const control = checkJobControl(options);
  const facts = runtimeOverride ?? currentRuntime();
  return {
    name,
    args: [...(options.args ?? [])],
    flags: [...(options.flags ?? [])],
    timeout,
    grace,
    control,
    workingDir: resolve(options.workingDir ?? findWorkingDir()),
    facts,
    self: selfArgv(facts, options),
    supervisor: supervisorArgv(facts, options),
    searchPath: command !== undefined && !command.includes("/") &&
      options.env?.PATH === undefined,
  };
}

/** Refuses a job that would detach again; nothing is touched. */
function guard(plan: Plan, options: SpawnOptions): void {
  if (options.subcommand !== undefined) {
    const flag = findDetachFlag([plan.name, ...plan.args, ...plan.flags]);
    if (flag !== undefined) throw new DetachRecursionError(flag);
  }
  if (!supervisorHookCalled) {
    throw new SpawnError(
      "spawn() starts this program again as the job's supervisor: call `await superviseIfRequested()` at the start of the program",
    );
  }
}

async function open(options: SpawnOptions): Promise<JobStore> {
  try {
    return await openStore(options.store);
  } catch (err) {
    throw new SpawnError(`Cannot open the job store: ${describe(err)}`, {
      cause: err,
    });
  }
}

// Asked before anything is written, so a missing permission is named as
// such rather than surfacing later as something else: without --allow-env,
// PATH reads as empty and every program as "not found".
function checkPermissions(
  store: JobStore,
  plan: Plan,
  options: SpawnOptions,
): void {
  const dir = store.localDir;
  const checks: PermissionCheck[] = [
    [
      { name: "read", path: dir },
      "--allow-read",
      `to read the jobs directory ${dir}`,
    ],
    [
      { name: "write", path: dir },
      "--allow-write",
      `to record the job in ${dir}`,
    ],
    [
      { name: "env", variable: JOB_ID_ENV },
      "--allow-env",
      `to read ${JOB_ID_ENV}, which tells whether this process is a job already`,
    ],
    [
      { name: "run", command: plan.self[0] },
      "--allow-run",
      `to start the job's supervisor ${plan.self[0]}`,
    ],
  ];
  if (plan.searchPath) {
    checks.push([
      { name: "env", variable: "PATH" },
      "--allow-env",
      "to read PATH and find the program",
    ]);
  }
  const missing = firstMissing(checks);
  if (missing !== undefined) throw needs(missing.flag, missing.why);
  const outer = Deno.env.get(JOB_ID_ENV);
  if (outer !== undefined && outer !== "" && options.allowNested !== true) {
    throw new DetachRecursionError({ jobId: outer });
  }
  // A compiled binary has its permissions built in; under `deno run` the
  // supervisor gets the unscoped grants, or the flags the caller states.
  if (plan.facts.standalone || options.permissionFlags !== undefined) return;
  for (const name of ["read", "write", "run"]) {
    const flag = `--allow-${name}`;
    if (!plan.facts.permissionFlags.includes(flag)) {
      throw new SpawnError(
        `spawn() needs ${flag} granted without a list: the job's supervisor gets only unscoped grants (or pass permissionFlags to state them)`,
        { cause: new Deno.errors.NotCapable(`${flag} is scoped or missing`) },
      );
    }
  }
}

/**
 * The worker's command line. A program is looked up now, as the job will
 * see it, so one that cannot run fails here rather than in the job's log,
 * with the messages of the CLI's `run`.
 */
function workerArgv(plan: Plan, options: SpawnOptions): string[] {
  if (options.command === undefined) {
    return [...plan.self, plan.name, ...plan.args, ...plan.flags];
  }
  const program = options.command;
  const path = options.env?.PATH ??
    (plan.searchPath ? Deno.env.get("PATH") : "");
  let found;
  try {
    found = findExecutable(program, {
      cwd: plan.workingDir,
      path: path ?? "",
    });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    throw needs("--allow-read", `to find ${program}`, err);
  }
  if (!found.ok) {
    const { message, exitCode } = describeLookupFailure(program, found);
    throw new SpawnError(message, { exitCode });
  }
  return [found.path, ...plan.args, ...plan.flags];
}

/**
 * Whether the job must wait (for the jobs it runs after, or for a slot
 * under a parallel limit) and so is the scheduler's to start. A job with
 * neither takes the direct path, at the cost of one lstat for the limit.
 */
function isScheduled(store: JobStore, control: JobControlOptions): boolean {
  const after = (control.after?.length ?? 0) > 0;
  if (!store.capabilities.scheduling) {
    if (after) throw noScheduling(store);
    return false;
  }
  if (after) return true;
  try {
    return hasFile(store.localDir, LIMIT_FILE);
  } catch (err) {
    throw new SpawnError(
      `Cannot read the jobs directory ${store.localDir}: ${describe(err)}`,
      { cause: err },
    );
  }
}

/** Records a job that starts later, and lets the scheduler start it. */
async function recordScheduled(
  store: JobStore,
  plan: Plan,
  argv: string[],
  id: string,
  options: SpawnOptions,
): Promise<SpawnResult> {
  const { createScheduled, DependencyCycleError } = await import(
    "../schedule/schedule.ts"
  );
  let job: Job;
  try {
    job = await createScheduled(store, {
      id,
      command: plan.name,
      args: plan.args,
      flags: plan.flags,
      workingDir: plan.workingDir,
      timeout: plan.timeout,
      grace: plan.grace,
      argv,
      ...plan.control,
      supervisorArgv: plan.supervisor,
      env: jobEnvironment(options.env),
    });
  } catch (err) {
    if (err instanceof JobNotFoundError) {
      throw new SpawnError(
        `Cannot run after job ${err.id}: no such job in ${store.location}`,
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
      `Cannot record the job in ${store.location}: ${describe(err)}`,
      { cause: err },
    );
  }
  return { jobId: job.id, pid: job.pid, logPath: job.logPath, job };
}

/**
 * Records a job that starts now. The store checks the record before it
 * writes, and on failure removes whatever it made.
 */
async function record(
  store: JobStore,
  plan: Plan,
  argv: string[],
  id: string,
): Promise<Job> {
  try {
    return await store.create({
      id,
      command: plan.name,
      args: plan.args,
      flags: plan.flags,
      workingDir: plan.workingDir,
      timeout: plan.timeout,
      grace: plan.grace,
      argv,
      ...plan.control,
    });
  } catch (err) {
    throw new SpawnError(
      `Cannot record the job in ${store.location}: ${describe(err)}`,
      { cause: err },
    );
  }
}

/**
 * Starts the job's supervisor. A store of one host is named on its command
 * line; a database's URL (which holds credentials) goes in its environment,
 * never on a command line every user can read. The supervisor writes its
 * PID into the record itself: a second write here would double spawn()'s
 * cost. If it cannot start, the job is taken back.
 */
async function launch(
  store: JobStore,
  job: Job,
  plan: Plan,
  options: SpawnOptions,
): Promise<SpawnResult> {
  const shared = store.capabilities.sharedByHosts;
  let child: Deno.ChildProcess;
  try {
    child = launchSupervisor(
      plan.supervisor,
      shared ? "" : store.location,
      job.id,
      {
        cwd: plan.workingDir,
        env: shared
          ? { ...options.env, [SUPERVISOR_STORE_ENV]: store.reopenSpec() }
          : options.env,
      },
    );
  } catch (err) {
    const message = `Cannot start the supervisor ${plan.self[0]}: ${
      describe(err)
    }`;
    // Nothing ran: the job is taken back. Should that fail too, the record
    // at least says why it never ran, rather than look like a job starting.
    await store.delete(job.id).catch(() =>
      store.finish(job.id, { status: "failed", error: message })
    ).catch(() => {});
    throw new SpawnError(message, { cause: err });
  }
  job.pid = child.pid;
  return { jobId: job.id, pid: child.pid, logPath: job.logPath, job };
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

function noScheduling(spec: SpawnOptions["store"]): SpawnError {
  const where = typeof spec === "object"
    ? spec.location
    : redact(storeName(spec));
  return new SpawnError(
    `Running a job after others (after) needs a store that can schedule (a jobs directory); ${where} cannot`,
  );
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

export { SUPERVISE_ARG };
