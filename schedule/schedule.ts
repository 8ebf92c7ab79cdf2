// The scheduler of a store that can schedule: dependencies (`after`) and
// the parallel limit, with no daemon. A job that must wait is a record only
// (`waiting` or `queued`); no process waits for it. A scheduler pass starts
// what can start, and runs in whoever has just changed what can start:
// spawn() after it records such a job, each supervisor once its job's end
// is recorded, `jobs limit`, a cancel of a waiting job, and any `jobs`
// command, which repairs a queue whose starter died. One pass at a time per
// store, under an exclusive flock, so the limit holds across processes.

import { JobNotFoundError } from "../store/job_id.ts";
import type { CreateJobOptions, Job, JobStatus } from "../store/job.ts";
import type { JobStore } from "../store/contract.ts";
import { type StoreOption, withStore } from "../store/open.ts";
import {
  endUnstarted,
  isFinalStatus,
  isSupervisedStatus,
} from "../store/rules.ts";
import * as durable from "../store/durable.ts";
import { livenessPath } from "../store/liveness.ts";
import {
  ensureRenewer,
  finishUnstarted,
  hasFile,
  launchSupervisor,
  LIMIT_FILE,
  openGate,
  PENDING_FILE,
  SCHEDULE_LOCK_FILE,
} from "../spawn/launch.ts";
import { join } from "../util/path.ts";
import { checkLimit, readLimit, schedulingDir } from "./limit.ts";

/**
 * The parallel limit of a jobs directory: how many of its jobs may run (or
 * be paused) at once. Jobs spawned beyond it are `queued` and start in ID
 * (ULID) order as slots free.
 *
 * Requires `--allow-read`.
 *
 * @param options The jobs directory.
 * @returns The limit, or `undefined` if none is set.
 * @throws {TypeError} If the store is a `postgres://` URL.
 * @throws {Error} If the limit file holds something else than a limit.
 *
 * @example
 * ```ts
 * import { getJobLimit, setJobLimit } from "./schedule.ts";
 *
 * const jobsDir = await Deno.makeTempDir();
 * await setJobLimit(2, { store: jobsDir });
 * console.log(await getJobLimit({ store: jobsDir })); // 2
 * await Deno.remove(jobsDir, { recursive: true });
 * ```
 */
export async function getJobLimit(
  options: StoreOption = {},
): Promise<number | undefined> {
  return await withStore(options.store, (store) => {
    return Promise.resolve(readLimit(schedulingDir(store, "A parallel limit")));
  });
}

/**
 * Sets the parallel limit of a jobs directory (see
 * {@linkcode getJobLimit}); 0 removes it. It is kept in a file beside the
 * records, so it holds for every process. A higher limit starts queued
 * jobs at once; a lower one stops nothing that runs, and holds back what
 * would start next.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run` (to start
 * queued jobs).
 *
 * @param n The limit: a whole number from 0 (none) to
 * {@linkcode MAX_JOB_LIMIT}.
 * @param options The jobs directory (made if missing).
 * @returns What the scheduler pass that followed did.
 * @throws {RangeError} If `n` is out of range.
 * @throws {TypeError} If the store is a `postgres://` URL.
 */
export async function setJobLimit(
  n: number,
  options: StoreOption = {},
): Promise<SchedulePass> {
  checkLimit(n);
  return await withStore(options.store, async (store) => {
    const dir = schedulingDir(store, "A parallel limit");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return await withScheduleLock(dir, async () => {
      const path = join(dir, LIMIT_FILE);
      if (n === 0) await durable.removeIfPresent(path);
      else durable.writeFileDurably(path, new TextEncoder().encode(`${n}\n`));
      return await pass(store, dir);
    }) as SchedulePass;
  });
}

/** What one scheduler pass did. */
export interface SchedulePass {
  /** The parallel limit, if one is set. */
  limit: number | undefined;
  /** Jobs running (or paused) after the pass, those it started included. */
  running: number;
  /** The jobs it started, in the order started. */
  started: string[];
  /** The waiting jobs it ended `cancelled` (a dependency did not complete). */
  cancelled: string[];
  /** Jobs still `queued` after the pass. */
  queued: number;
  /** Jobs still `waiting` after the pass. */
  waiting: number;
}

/**
 * A scheduler pass if the pending marker says some job may wait (one
 * `lstat` otherwise), or always with `force` (a listing reads every record
 * anyway; a watch knows its job waits), which puts back a deleted marker.
 * The one entry for whoever may have freed a slot or ended a dependency.
 * Never throws, but returns why a pass failed, in one line (a broken limit
 * file or lock stalls every queued job).
 */
export async function schedulePending(
  store: JobStore,
  force = false,
): Promise<string | undefined> {
  // A renewal pass of a store shared by hosts, if one is due.
  ensureRenewer(store);
  if (!store.capabilities.scheduling) return undefined;
  const dir = store.localDir;
  const marked = hasFile(dir, PENDING_FILE);
  try {
    if (marked || force) await withScheduleLock(dir, () => pass(store, dir));
    return undefined;
  } catch (err) {
    // A listing of a directory this user may not write: nothing waits on it.
    const quiet = !marked && err instanceof Deno.errors.PermissionDenied;
    const why = (err as Error)?.message ?? err;
    return quiet ? undefined : `queued and waiting jobs not started: ${why}`;
  }
}

/**
 * Creates a job that starts later, or at once if it can: its dependencies
 * are resolved (each may be abbreviated, as `jobs` takes IDs) and checked
 * (they exist, and no cycle leads back to the new job), it is recorded
 * `waiting` (with `after`) or `queued`, and a pass runs, all under the
 * scheduler lock. Returns the record after the pass (`running` if it
 * started); throws the store's errors for a dependency that is missing or
 * ambiguous, and a DependencyCycleError for one that leads back.
 */
export async function createScheduled(
  store: JobStore,
  options: CreateJobOptions,
): Promise<Job> {
  // Checked before anything is written, even the lock file. Jobs only ever
  // name jobs made before them, so no lock is needed for a cycle to stay
  // absent.
  const after: string[] = [];
  for (const dep of options.after ?? []) {
    const id = await store.resolve(dep);
    if (!after.includes(id)) after.push(id);
  }
  if (options.id !== undefined && after.length > 0) {
    const cycle = await findCycle(store, options.id, after);
    if (cycle !== undefined) throw new DependencyCycleError(cycle);
  }
  const dir = schedulingDir(store, "Running a job after others");
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  return await withScheduleLock(dir, async () => {
    // Looked for again under the lock that clean takes too (see
    // waitedOnDuring): one removed since is refused, and none is removed
    // between here and the record that names it.
    for (const id of after) await store.loadRecorded(id);
    // Read before anything is written: a limit file that cannot be read
    // would fail the pass after the record, and the caller, told that the
    // spawn failed, would see the job start once someone mends the file.
    readLimit(dir);
    // Before the record: whoever comes next sees that a pass is due.
    durable.writeFileDurably(join(dir, PENDING_FILE), new Uint8Array());
    const job = await store.create({
      ...options,
      after: after.length > 0 ? after : undefined,
      status: after.length > 0 ? "waiting" : "queued",
    });
    await pass(store, dir);
    return await store.loadRecorded(job.id);
  }) as Job;
}

/** Thrown when a job's dependencies lead back to it. */
export class DependencyCycleError extends Error {
  /** Makes the error, given the jobs of the cycle (the first again last). */
  constructor(readonly cycle: string[]) {
    super(`The jobs to run after form a cycle: ${cycle.join(" -> ")}`);
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "DependencyCycleError";
  }
}

/** A path from `id` through `after` links back to `id`, if there is one. */
async function findCycle(
  store: JobStore,
  id: string,
  after: string[],
): Promise<string[] | undefined> {
  const seen = new Set<string>();
  const walk = async (
    at: string,
    path: string[],
  ): Promise<string[] | undefined> => {
    if (at === id) return [id, ...path, id];
    if (seen.has(at)) return undefined;
    seen.add(at);
    let job: Job;
    try {
      job = await store.loadRecorded(at);
    } catch (err) {
      if (err instanceof JobNotFoundError) return undefined;
      throw err;
    }
    for (const next of job.after ?? []) {
      const found = await walk(next, [...path, at]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  for (const dep of after) {
    const found = await walk(dep, []);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Runs `fn` (a clean of the jobs directory) with the IDs of the jobs that
 * waiting jobs run after, under the scheduler lock, so that no waiting job
 * is recorded in the meantime. A dependency that has ended must outlive the
 * jobs that wait for it: once its record is gone, its end is unknown, and a
 * job that runs after it with `afterOk` would end cancelled though it
 * completed.
 */
export async function waitedOnDuring<T>(
  store: JobStore,
  fn: (keep: ReadonlySet<string>) => Promise<T>,
): Promise<T> {
  // A store that cannot schedule has no waiting jobs.
  if (!store.capabilities.scheduling) return await fn(new Set());
  let ran = false;
  const result = await withScheduleLock(store.localDir, async () => {
    ran = true;
    const keep = new Set<string>();
    for (const job of (await store.list()).jobs) {
      if (job.status !== "waiting") continue;
      for (const id of job.after ?? []) keep.add(id);
    }
    return await fn(keep);
  });
  // No jobs directory: nothing waits.
  return ran ? result as T : await fn(new Set());
}

async function withScheduleLock<T>(
  dir: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  const path = join(dir, SCHEDULE_LOCK_FILE);
  let file: Deno.FsFile;
  try {
    file = await durable.openLockFile("schedule", path);
  } catch (err) {
    // No jobs directory: nothing to schedule.
    if (err instanceof JobNotFoundError) return undefined;
    throw err;
  }
  try {
    await durable.lockBounded(file, path);
    return await fn();
  } finally {
    file.close();
  }
}

/** A job's state within a pass: its status, or `ready` (may start now). */
type State = JobStatus | "ready";

/** The pass itself; the caller holds the scheduler lock. */
async function pass(store: JobStore, dir: string): Promise<SchedulePass> {
  const limit = readLimit(dir);
  // The lost rule applies: a supervisor that died frees its slot.
  const { jobs } = await store.list();
  jobs.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const state = new Map<string, State>(jobs.map((j) => [j.id, j.status]));
  const result: SchedulePass = {
    limit,
    running: 0,
    started: [],
    cancelled: [],
    queued: 0,
    waiting: 0,
  };
  const cancel = async (job: Job, reason: string) => {
    const done = await store.update(
      job.id,
      endUnstarted("cancelled", reason, ["waiting"]),
    );
    state.set(job.id, done.status);
    if (done.status === "cancelled") {
      result.cancelled.push(job.id);
      finishUnstarted(store, done);
    }
  };

  // Waiting jobs whose dependencies have all ended become ready, or end
  // cancelled under --after-ok; each such end may settle others, so go
  // round until nothing changes. A cycle (only a hand-made record can hold
  // one: spawn() refuses them) never settles: its jobs are cancelled.
  const waiting = jobs.filter((j) => j.status === "waiting");
  for (let changed = true; changed;) {
    changed = false;
    for (const job of waiting) {
      if (state.get(job.id) !== "waiting") continue;
      const verdict = judge(job, state);
      if (verdict === "wait") continue;
      changed = true;
      if (verdict === "ready") state.set(job.id, "ready");
      else await cancel(job, verdict.reason);
    }
    if (changed) continue;
    for (const job of waiting) {
      if (state.get(job.id) !== "waiting") continue;
      const cycle = cycleFrom(job.id, jobs, state);
      if (cycle === undefined) continue;
      changed = true;
      await cancel(
        job,
        `Not started: the jobs it runs after form a cycle (${
          cycle.join(" -> ")
        })`,
      );
    }
  }

  for (const s of state.values()) {
    if (isSupervisedStatus(s as JobStatus)) result.running++;
  }
  for (const job of jobs) {
    const s = state.get(job.id);
    if (s !== "ready" && s !== "queued") continue;
    const expected = job.status as "waiting" | "queued";
    if (limit !== undefined && result.running >= limit) {
      if (s === "ready") {
        const queued = await store.update(job.id, (j) => {
          if (j.status === "waiting") j.status = "queued";
          return j;
        });
        state.set(job.id, queued.status);
      }
      continue;
    }
    const now = await start(store, job, expected);
    state.set(job.id, now);
    if (now === "running") {
      result.running++;
      result.started.push(job.id);
    }
  }

  for (const s of state.values()) {
    if (s === "queued") result.queued++;
    else if (s === "waiting" || s === "ready") result.waiting++;
  }
  const marker = join(dir, PENDING_FILE);
  if (result.queued + result.waiting === 0) durable.removeSyncIfPresent(marker);
  else if (!hasFile(dir, PENDING_FILE)) {
    durable.writeFileDurably(marker, new Uint8Array());
  }
  return result;
}

/** Whether a waiting job may start, must wait, or must end cancelled. */
function judge(
  job: Job,
  state: Map<string, State>,
): "wait" | "ready" | { reason: string } {
  const after = job.after ?? [];
  for (const dep of after) {
    const s = state.get(dep);
    // A dependency whose record is gone has ended: only ended jobs are
    // cleaned, and a deleted one will not run.
    if (s !== undefined && !isFinalStatus(s as JobStatus)) return "wait";
  }
  if (job.afterOk) {
    for (const dep of after) {
      const s = state.get(dep);
      if (s === "completed") continue;
      return {
        reason: `Not started: it runs after job ${dep} with --after-ok, and ${
          s === undefined ? `that job's record is gone` : `that job ended ${s}`
        }`,
      };
    }
  }
  return "ready";
}

/** A cycle of waiting jobs through `id`, if there is one. */
function cycleFrom(
  id: string,
  jobs: Job[],
  state: Map<string, State>,
): string[] | undefined {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const seen = new Set<string>();
  const walk = (at: string, path: string[]): string[] | undefined => {
    for (const next of byId.get(at)?.after ?? []) {
      if (state.get(next) !== "waiting") continue;
      if (next === id) return [...path, at, id];
      if (seen.has(next)) continue;
      seen.add(next);
      const found = walk(next, [...path, at]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk(id, []);
}

/**
 * Starts a waiting or queued job's supervisor. It takes the job's liveness
 * lock first, so the supervisor it launches waits for it; then marks the
 * record `running` (if it still says `expected`: a cancel may have come);
 * then lets the lock go. If this process dies on the way, the record still
 * says `expected` (the supervisor, finding it so, exits) or already
 * `running` (the supervisor runs it): a job is never left `running` with
 * nobody to supervise it. Returns the job's status after.
 */
async function start(
  store: JobStore,
  job: Job,
  expected: "waiting" | "queued",
): Promise<JobStatus> {
  const argv = job.supervisorArgv ?? [];
  const live = await durable.openLockFile(job.id, livenessPath(store, job.id));
  try {
    // Held by the supervisor of an earlier start whose starter died: it
    // exits as soon as it reads the record, and runs a pass itself.
    if (!live.tryLockSync(true)) return expected;
    const failWith = async (error: string) => {
      const end = endUnstarted("failed", error, [expected]);
      const done = await store.update(job.id, end);
      if (done.status === "failed") finishUnstarted(store, done);
      return done.status;
    };
    if (argv.length === 0) {
      return await failWith(
        "Not started: the job's record has no command line for its supervisor",
      );
    }
    let child: Deno.ChildProcess;
    try {
      child = launchSupervisor(argv, store, job, {
        cwd: job.workingDir,
        env: job.env,
        clearEnv: job.env !== undefined,
        gate: true,
      });
    } catch (err) {
      // A missing permission is this process's, not the job's: leave it
      // for a starter that has it.
      if (err instanceof Deno.errors.NotCapable) throw err;
      return await failWith(
        `Cannot start the supervisor ${argv[0]}: ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
    }
    const marked = await store.update(job.id, (j) => {
      if (j.status !== expected) return j;
      j.status = "running";
      // The lost rule's start grace counts from here (created: the ULID).
      j.startedAt = new Date();
      j.pid = child.pid;
      delete j.supervisedAt;
      // The supervisor has it now: the record drops it (secrets, maybe).
      delete j.env;
      return j;
    });
    if (marked.status === "running") openGate(store, job.id);
    return marked.status;
  } finally {
    live.close();
  }
}
