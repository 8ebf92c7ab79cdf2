// spawn()'s first step: what it takes, and every check it makes before
// anything is written or started (the options, the permissions, whether
// this process is a job already, the program).

import { JOB_ID_ENV, validateJobId } from "../store/job_id.ts";
import type { CreateJobOptions, JobControlOptions } from "../store/job.ts";
import type { JobStore } from "../store/contract.ts";
import { findWorkingDir, type StoreOption } from "../store/open.ts";
import {
  checkJobControl,
  DEFAULT_JOB_TIMEOUT,
  DEFAULT_KILL_GRACE,
} from "../store/job_options.ts";
import { checkDuration } from "../duration.ts";
import {
  currentRuntime,
  findDetachFlag,
  type RuntimeFacts,
  selfArgv,
  supervisorArgv,
  supervisorHookMarked,
} from "./argv.ts";
import { describeLookupFailure, findExecutable } from "./which.ts";
import { resolve } from "../util/path.ts";
import { firstMissing, type PermissionCheck } from "../util/permissions.ts";
import { DetachRecursionError, SpawnError } from "./errors.ts";

/**
 * Options for {@linkcode spawn}: what to run (exactly one of `command` and
 * `subcommand`), where, and how.
 *
 * @example A pull with a 2-hour timeout, run from a chosen directory
 * ```ts ignore
 * import { buildPullFlags, spawn } from "@epack/detach";
 *
 * await spawn({
 *   subcommand: "pull",
 *   args: ["https://registry.example.com/packs"],
 *   flags: buildPullFlags({ env: "prod" }),
 *   workingDir: "/srv/app",
 *   timeout: 2 * 60 * 60 * 1000,
 * });
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
  /**
   * The ID of the job this one re-runs, recorded as `restart_of` (the CLI's
   * `jobs restart` sets it).
   */
  restartOf?: string;
}

let runtimeOverride: RuntimeFacts | undefined;

export { markSupervisorHook } from "./argv.ts";

/** For tests of a compiled binary, which cannot be built here. */
export function setRuntimeForTesting(facts: RuntimeFacts | undefined): void {
  runtimeOverride = facts;
}

/** What spawn() has decided from its options, before it touches anything. */
export interface Plan {
  /** The record, but for its ID and the worker's argv. */
  job: CreateJobOptions & { args: string[]; flags: string[] };
  workingDir: string;
  facts: RuntimeFacts;
  /** How the program starts again (its supervisor, a subcommand's worker). */
  self: string[];
  /** How the job's supervisor is started. */
  supervisor: string[];
  /** Whether the worker's program is looked up on this process's PATH. */
  searchPath: boolean;
}

/** Checks the options; nothing is read or written. */
export function planSpawn(options: SpawnOptions): Plan {
  const { command, subcommand } = options ?? {};
  const name = command ?? subcommand;
  if ((command === undefined) === (subcommand === undefined)) {
    throw new TypeError(
      "spawn() needs exactly one of `command` (a program to run) and `subcommand` (a subcommand of this program)",
    );
  } else if (typeof name !== "string" || name === "") {
    const what = command !== undefined ? "command" : "subcommand";
    throw new TypeError(`spawn() needs a non-empty ${what}`);
  }
  // Where durations enter: the range a record holds, so no option can make
  // a job the store refuses to read. Infinity is "none", as 0 is.
  const timeout = options.timeout === Infinity
    ? 0
    : checkDuration("timeout", options.timeout ?? DEFAULT_JOB_TIMEOUT);
  const grace = checkDuration("grace", options.grace ?? DEFAULT_KILL_GRACE);
  const workingDir = resolve(options.workingDir ?? findWorkingDir());
  const job = {
    command: name,
    args: [...(options.args ?? [])],
    flags: [...(options.flags ?? [])],
    workingDir,
    timeout,
    grace,
    ...checkJobControl(options),
    ...(options.restartOf === undefined
      ? {}
      : { restartOf: validateJobId(options.restartOf) }),
  };
  if (subcommand !== undefined) {
    const flag = findDetachFlag([name, ...job.args, ...job.flags]);
    if (flag !== undefined) throw new DetachRecursionError(flag);
  }
  if (!supervisorHookMarked()) {
    throw new SpawnError(
      "spawn() starts this program again as the job's supervisor: call `await superviseIfRequested()` at the start of the program",
    );
  }
  const facts = runtimeOverride ?? currentRuntime();
  return {
    job,
    workingDir,
    facts,
    self: selfArgv(facts, options),
    supervisor: supervisorArgv(facts, options),
    searchPath: command !== undefined && !command.includes("/") &&
      options.env?.PATH === undefined,
  };
}

// Asked before anything is written, so a missing permission is named as
// such rather than surfacing later as something else: without --allow-env,
// PATH reads as empty and every program as "not found".
export function checkPermissions(
  store: JobStore,
  plan: Plan,
  options: SpawnOptions,
): void {
  const dir = store.localDir;
  const supervisor = plan.self[0];
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
      { name: "run", command: supervisor },
      "--allow-run",
      `to start the job's supervisor ${supervisor}`,
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
  // Said now: a supervisor started in no directory fails as "not found".
  let isDir: boolean | undefined;
  try {
    isDir = Deno.statSync(plan.workingDir).isDirectory;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) isDir = false;
  }
  if (isDir === false) {
    throw new SpawnError(
      `The working directory ${plan.workingDir} is missing or not a directory`,
    );
  }
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
 * see it, so one that cannot run fails here, as the CLI's `run` says it.
 */
export function workerArgv(plan: Plan, options: SpawnOptions): string[] {
  const { command, args, flags } = plan.job;
  if (options.command === undefined) {
    return [...plan.self, command, ...args, ...flags];
  }
  const path = options.env?.PATH ??
    (plan.searchPath ? Deno.env.get("PATH") : "");
  let found;
  try {
    found = findExecutable(command, { cwd: plan.workingDir, path: path ?? "" });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    throw needs("--allow-read", `to find ${command}`, err);
  }
  if (!found.ok) {
    const { message, exitCode } = describeLookupFailure(command, found);
    throw new SpawnError(message, { exitCode });
  }
  return [found.path, ...args, ...flags];
}

export function needs(flag: string, why: string, cause?: unknown): SpawnError {
  const message = `spawn() needs ${flag} (${why})`;
  return new SpawnError(message, {
    cause: cause ?? new Deno.errors.NotCapable(message),
  });
}
