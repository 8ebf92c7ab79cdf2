// spawn(): what it checks, records and starts, in named steps. detach.ts
// documents it and re-exports it.

import {
  AmbiguousJobIdError,
  InvalidJobIdError,
  JobNotFoundError,
  newJobId,
} from "../store/job_id.ts";
import type { CreateJobOptions, Job } from "../store/job.ts";
import type { JobStore } from "../store/contract.ts";
import { openStore, storeName } from "../store/open.ts";
import { capabilitiesOf } from "../store/capabilities.ts";
import { redact } from "../store/redact.ts";
import { assertPosix } from "../process/platform.ts";
import { hasFile, launchSupervisor, LIMIT_FILE } from "./launch.ts";
import { describe, SpawnError } from "./errors.ts";
import {
  checkPermissions,
  needs,
  type Plan,
  planSpawn,
  type SpawnOptions,
  workerArgv,
} from "./plan.ts";

/** What {@linkcode spawn} returns. */
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
 * Starts a job and returns at once: a program (`command`, looked up on
 * `PATH` as `Deno.Command` does), or a subcommand of this program.
 *
 * The job's supervisor is this program started again (a `deno compile`
 * binary runs itself; under `deno run`, the same entry module with the same
 * unscoped permissions), in its own session with stdin closed, so a hangup
 * or Ctrl-C here does not reach it. It runs the worker, sends its output to
 * the job's log, stops it at the timeout, and records how it ended.
 *
 * Everything is checked before anything is written or started (options,
 * permissions, whether this process is a job, the program); a spawn that
 * fails after that removes what it made.
 *
 * Requires `--allow-read` and `--allow-write` (the jobs directory),
 * `--allow-env` and `--allow-run`, unscoped unless `permissionFlags` says
 * otherwise. The program must call {@linkcode superviseIfRequested} first.
 *
 * @param options What to run and where.
 * @returns The job's ID, the supervisor's PID, the log path and the record.
 * @throws {TypeError} Unless exactly one of `command` and `subcommand` is
 * given.
 * @throws {RangeError} If `timeout` or `grace` is out of range.
 * @throws {DetachRecursionError} If a subcommand's command line holds
 * `--detach` or `-d`, or this process runs in a job and `allowNested` is
 * not set.
 * @throws {SpawnError} If a permission is missing (the message names the
 * flag), the program is not found or cannot be executed (`exitCode` 127
 * or 126), or the job could not be recorded or started.
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
  // What the store cannot do is refused before it is opened (a database
  // need not be reached to know it cannot schedule).
  const spec = options.store;
  const can = typeof spec === "object"
    ? spec.capabilities
    : capabilitiesOf(storeName(spec));
  if (plan.job.after !== undefined && !can.scheduling) {
    const where = typeof spec === "object"
      ? spec.location
      : redact(storeName(spec));
    throw new SpawnError(
      `Running a job after others (after) needs a store that can schedule (a jobs directory); ${where} cannot`,
    );
  }
  const store = await openStore(spec).catch((err) => {
    throw failed("Cannot open the job store", err);
  });
  try {
    checkPermissions(store, plan, options);
    const create = {
      ...plan.job,
      id: newJobId(),
      argv: workerArgv(plan, options),
    };
    if (isScheduled(store, plan)) {
      const job = await recordScheduled(store, {
        ...create,
        supervisorArgv: plan.supervisor,
        env: jobEnvironment(options.env),
      });
      return { jobId: job.id, pid: job.pid, logPath: job.logPath, job };
    }
    // The store checks the record, and on failure removes what it made.
    const job = await store.create(create).catch((err) => {
      throw failed(`Cannot record the job in ${store.location}`, err);
    });
    return await launch(store, job, plan, options.env);
  } finally {
    if (typeof spec !== "object") await store[Symbol.asyncDispose]();
  }
}

/**
 * Whether the job must wait (for other jobs, or for a slot under a
 * parallel limit), and so is the scheduler's to start: one lstat.
 */
function isScheduled(store: JobStore, plan: Plan): boolean {
  if (!store.capabilities.scheduling) return false;
  if (plan.job.after !== undefined) return true;
  try {
    return hasFile(store.localDir, LIMIT_FILE);
  } catch (err) {
    throw failed(`Cannot read the jobs directory ${store.localDir}`, err);
  }
}

/** Records a job that starts later, and lets the scheduler start it. */
async function recordScheduled(
  store: JobStore,
  create: CreateJobOptions,
): Promise<Job> {
  // Not a literal import(): Deno would read the scheduler's modules at
  // every start of every program that spawns (detach.ts names it).
  const scheduler = new URL("../schedule/schedule.ts", import.meta.url).href;
  const { createScheduled, DependencyCycleError } =
    (await import(scheduler)) as typeof import("../schedule/schedule.ts");
  try {
    return await createScheduled(store, create);
  } catch (err) {
    // The lookup's own words, as `jobs <ref>` says them (a reference too
    // short, a name that matches nothing).
    if (
      err instanceof JobNotFoundError ||
      err instanceof AmbiguousJobIdError || err instanceof InvalidJobIdError ||
      err instanceof DependencyCycleError
    ) {
      throw new SpawnError(`Cannot run after it: ${err.message}`, {
        cause: err,
      });
    }
    throw failed(`Cannot record the job in ${store.location}`, err);
  }
}

function failed(what: string, err: unknown): SpawnError {
  return new SpawnError(`${what}: ${describe(err)}`, { cause: err });
}

/**
 * Starts the job's supervisor; its PID reaches the record through its
 * journal (a second write here would double spawn()'s cost). If it cannot
 * start, the job is taken back.
 */
async function launch(
  store: JobStore,
  job: Job,
  plan: Plan,
  env: Record<string, string> | undefined,
): Promise<SpawnResult> {
  let child: Deno.ChildProcess;
  try {
    child = launchSupervisor(plan.supervisor, store, job, {
      cwd: plan.workingDir,
      env,
    });
  } catch (err) {
    const error = failed(`Cannot start the supervisor ${plan.self[0]}`, err);
    // Should taking the job back fail too, the record at least says why it
    // never ran, rather than look like a job starting.
    await store.delete(job.id).catch(() =>
      store.finish(job.id, { status: "failed", error: error.message })
    ).catch(() => {});
    throw error;
  }
  job.pid = child.pid;
  return { jobId: job.id, pid: child.pid, logPath: job.logPath, job };
}

/** The environment of a job that another process may start, kept now. */
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
