/**
 * Controlling and watching jobs that are already running: {@linkcode cancel}
 * stops one, {@linkcode watchJob} follows its record as it changes, and
 * {@linkcode waitForJob} waits for its end.
 *
 * @example Follow a job until it ends
 * ```ts ignore
 * import { watchJob } from "@epack/detach";
 *
 * for await (const job of watchJob("01JD0Q2V3K5W8Y9Z0A1B2C3D4E")) {
 *   console.log(job.status, job.workerPid ?? "-");
 * }
 * ```
 *
 * @module
 */

import {
  isSupervisedStatus,
  type Job,
  JOB_ID_ENV,
  validateJobId,
} from "./jobs.ts";
import {
  FileJobBackend,
  hostName,
  isPostgresUrl,
  type JobBackend,
  openStore,
  type StoredJob,
  watchStoredJob,
} from "./store.ts";
import { defaultJobsDir } from "./detach.ts";
import { DEFAULT_KILL_GRACE, stopProcessGroup } from "./timeout.ts";
import {
  identifyGroup,
  inspectionProblem,
  type ProcessInfo,
} from "./process/inspect.ts";
import { checkDuration, formatDuration, MAX_DURATION } from "./duration.ts";
import { requestCancel } from "./store/cancel_request.ts";
import { assertPosix } from "./process/platform.ts";
import { firstMissing } from "./util/permissions.ts";
import { QueueRepair } from "./schedule/queue_repair.ts";

/**
 * How often a watch looks at a job that sends no news: a supervisor killed
 * with SIGKILL writes nothing, and only a look at the liveness lock tells
 * that the job is lost.
 */
const LOST_CHECK_INTERVAL = 1_000;

/**
 * Thrown by {@linkcode waitForJob} and {@linkcode watchJob} when their
 * timeout passes before the job ends.
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

/**
 * How long past its grace period {@linkcode cancel} waits for the job's end
 * to be recorded: SIGKILL, the kernel's teardown of the group (which
 * `stopProcessGroup` waits up to 2 s for) and the supervisor's final write.
 */
const CANCEL_MARGIN = 2_000;

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
   * The job store, a jobs directory or a `postgres://` URL; when given it
   * takes the place of `jobsDir`.
   * @default {jobsDir}
   */
  store?: string;
  /**
   * Milliseconds between SIGTERM and SIGKILL, counted from this call: a
   * whole number from 0 to `MAX_DURATION` (36500 days). It also bounds how
   * long the call takes: at most the grace period plus 2 seconds. A shorter
   * grace than that of a cancel already under way brings its SIGKILL forward.
   * @default {the job's own grace period, else DEFAULT_KILL_GRACE}
   */
  grace?: number;
}

/** Opens the store `options` name: `store`, else `jobsDir`, else the default. */
async function openNamed(
  options: { jobsDir?: string; store?: string },
): Promise<JobBackend> {
  const name = options.store ?? options.jobsDir ?? defaultJobsDir();
  return isPostgresUrl(name) ? await openStore(name) : new FileJobBackend(name);
}

/**
 * How long a cancel request may take to reach a supervisor on another host:
 * one lease renewal period, with its jitter, and a second for the batch.
 */
function renewalBound(store: JobBackend): number {
  const every = (store as { renewEvery?: number }).renewEvery ?? 0;
  return every === 0 ? 0 : Math.ceil(every * 1.1) + 1_000;
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
   *   process group was stopped, where it could be identified safely. When
   *   the job ended is not known, so its record gets no end time.
   * - `stopping`: the job had not ended by the grace period plus 2 seconds
   *   (its processes may not die even on SIGKILL, or its supervisor has not
   *   started yet). The cancel stands: the supervisor goes on stopping it.
   */
  outcome: "cancelled" | "already-ended" | "lost" | "stopping";
  /** A sentence saying what happened. */
  message: string;
  /** The job's record afterwards. */
  job: Job;
}

/**
 * Cancels a job: SIGTERM to the worker's whole process group, SIGKILL after
 * the grace period, and status `cancelled`. It returns once the job has
 * ended, or once the grace period plus 2 seconds have passed (outcome
 * `stopping`), whichever is first: it never waits longer. A second cancel
 * with a shorter grace shortens the first one's: SIGKILL goes out at the
 * earliest deadline any cancel asked for.
 *
 * A job that has not started (`waiting` or `queued`) has no process: it
 * ends `cancelled` at once, and never starts; the jobs that run after it
 * are then started (or, under `afterOk`, cancelled too).
 *
 * Cancelling a job that has ended does nothing and says so. Cancelling a
 * lost job still stops what is left of its process group, with this call's
 * grace, when that group is certainly the job's (Linux: its leader's start
 * time matches the record); its record then says `lost`, with no end time,
 * since when it ended is not known.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run`.
 *
 * @param jobId The job's ID (a ULID in any case).
 * @param options The jobs directory and the grace period.
 * @returns What was done, and the record afterwards.
 * @throws {InvalidJobIdError} If the ID is not valid.
 * @throws {JobNotFoundError} If there is no such job.
 * @throws {RangeError} If `grace` is not a whole number of milliseconds from
 * 0 to `MAX_DURATION`; nothing is written or signalled then.
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
  assertPosix("cancel()");
  validateJobId(jobId);
  // Checked before anything is read, written or signalled: a grace the
  // record cannot hold would make the job's record unreadable.
  if (options.grace !== undefined) checkDuration("grace", options.grace);
  await using store = await openNamed(options);
  // Before the request is recorded: a cancel that could not then signal the
  // supervisor would leave a job running with a cancel on its record.
  const missing = firstMissing([
    ...(store instanceof FileJobBackend
      ? [
        [
          { name: "write", path: store.files.dir },
          "--allow-write",
          "to record the cancel",
        ] as const,
      ]
      : []),
    [
      { name: "run" },
      "--allow-run",
      "to signal the job's supervisor and processes",
    ],
  ]);
  if (missing !== undefined) {
    throw new Deno.errors.NotCapable(
      `cancel() needs ${missing.flag} (${missing.why})`,
    );
  }
  let job: StoredJob = await store.load(jobId);
  // A job of another host (a store shared by hosts): its supervisor and
  // processes are there; the request reaches it through the store, at the
  // next lease renewal.
  const remote = job.host !== undefined && job.host !== hostName();
  const pickUp = remote ? renewalBound(store) : 0;
  // From here on the ID as stored: a ULID may have been typed in lower case,
  // and paths are made from it.
  jobId = job.id;
  const grace = options.grace ?? job.grace ?? DEFAULT_KILL_GRACE;
  // This call's own deadline: SIGKILL is due then, and the call returns at
  // most CANCEL_MARGIN later, whatever an earlier cancel asked for.
  const now = Date.now();
  const killAt = now + grace;
  if (job.status === "waiting" || job.status === "queued") {
    const before = job.status;
    // Decided under the record's lock, against the scheduler's own move
    // to running: the job is either cancelled here, never to start, or
    // started there, and then cancelled as a running job below.
    const ended = await store.update(jobId, (j) => {
      if (j.status !== "waiting" && j.status !== "queued") return j;
      j.error = `Cancelled while ${j.status}: it never started`;
      j.status = "cancelled";
      j.completedAt = new Date();
      // Kept only for a start that will not come (it may hold secrets).
      delete j.env;
      return j;
    });
    if (ended.status === "cancelled") {
      // Jobs that run after it may now start (or end, under --after-ok).
      if (store instanceof FileJobBackend) {
        const { schedule } = await import("./schedule/schedule.ts");
        await schedule(store.files.dir).catch(() => {});
      }
      return {
        outcome: "cancelled",
        message: `Job ${jobId} cancelled (it was ${before}; it never started)`,
        job: ended,
      };
    }
    job = await store.load(jobId);
  }
  if (job.status === "lost") {
    return await cancelLost(store, job, killAt, remote);
  }
  if (!isSupervisedStatus(job.status)) {
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
  const requested = store instanceof FileJobBackend
    ? await store.update(jobId, (j) => requestCancel(j, killAt, now))
    : await store.requestCancel(jobId, killAt - now);
  if (!isSupervisedStatus(requested.status)) {
    return {
      outcome: "already-ended",
      message:
        `Job ${jobId} has already ended (${requested.status}); nothing to cancel`,
      job: requested,
    };
  }
  // A supervisor that has not started yet finds the request when it does,
  // and ends the job without running it. One that runs gets SIGTERM, even if
  // it is already stopping the job: it reads the record again and moves its
  // SIGKILL earlier if this cancel asked for that. It holds the liveness
  // lock, so its PID cannot have been reused.
  if (!remote && requested.supervisedAt !== undefined && requested.pid > 1) {
    if (await store.isHeld(jobId)) {
      try {
        Deno.kill(requested.pid, "SIGTERM");
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }
  let ended: Job;
  try {
    ended = await waitForJob(jobId, {
      // The name as given: a URL's location hides its password.
      store: options.store ?? store.location,
      timeout: Math.min(
        MAX_DURATION,
        Math.max(0, killAt + CANCEL_MARGIN + pickUp - Date.now()),
      ),
    });
  } catch (err) {
    if (!(err instanceof WaitTimeoutError)) throw err;
    ended = await store.load(jobId);
    if (isSupervisedStatus(ended.status)) {
      return {
        outcome: "stopping",
        message: `Job ${jobId} has not ended ${
          formatDuration(grace + CANCEL_MARGIN)
        } after the cancel (SIGKILL was due after ${
          formatDuration(grace)
        }); its supervisor goes on stopping it`,
        job: ended,
      };
    }
  }
  if (ended.status === "lost") {
    return await cancelLost(store, ended, killAt, remote);
  }
  return {
    outcome: ended.status === "cancelled" ? "cancelled" : "already-ended",
    message: ended.status === "cancelled"
      ? `Job ${jobId} cancelled`
      : `Job ${jobId} ended (${ended.status}) before it could be cancelled`,
    job: ended,
  };
}

/**
 * Cancels a lost job: stops what is left of its process group, SIGKILL
 * being due at `killAt` (this cancel's deadline, not the grace recorded by
 * an earlier one), and records it as lost. No end time is written: the
 * supervisor that would have seen the end is gone, so when the job ended is
 * not known (it may have been long before this cancel).
 */
async function cancelLost(
  store: JobBackend,
  job: StoredJob,
  killAt: number,
  remote: boolean,
): Promise<CancelResult> {
  const pgid = job.workerPid;
  let detail: string;
  if (remote) {
    // Its processes, if any are left, are on that host: nothing here may
    // be taken for them.
    detail = `its processes, if any are left, are on host ${job.host}`;
  } else if (pgid === undefined || pgid <= 1) {
    detail = "its worker never started";
  } else {
    const left = leftovers(job);
    if (left === undefined) {
      const problem = inspectionProblem();
      detail =
        `process group ${pgid} cannot be identified safely as the job's (${
          problem ?? "its PID was reused"
        }); left alone`;
    } else {
      // Run even for an empty group: a process that left it by setsid
      // still carries the job's mark.
      const result = await stopProcessGroup(pgid, {
        grace: Math.min(MAX_DURATION, Math.max(0, killAt - Date.now())),
        mark: `${JOB_ID_ENV}=${job.id}`,
      });
      const escaped = result.escaped?.length ?? 0;
      detail = left.length === 0 && escaped === 0
        ? "no process of it was left"
        : `stopped ${left.length} leftover process(es) of group ${pgid}` +
          (escaped > 0 ? ` and ${escaped} that had left it` : "") +
          (result.killed ? " (SIGKILL needed)" : "") +
          (result.remaining.length > 0
            ? `; still running: PID ${result.remaining.join(", ")}`
            : "");
    }
  }
  const message = `Job ${job.id} was lost (its supervisor is gone); ${detail}`;
  const recorded = await store.update(job.id, (j) => {
    if (isSupervisedStatus(j.status)) {
      j.status = "lost";
      // completed_at stays absent: epack's format leaves it out for a job
      // that has not ended, and here the end is unknown. The error says so.
      j.error = `${
        job.error ?? "The job's supervisor is gone"
      }; when the job ended is not known, so no end time is recorded. Cancelled after it was lost: ${detail}`;
    }
    return j;
  });
  return { outcome: "lost", message, job: recorded };
}

/**
 * The processes a job's worker left behind, found only when the group is
 * certainly the job's (see {@linkcode identifyGroup}); `undefined` when that
 * cannot be told.
 */
function leftovers(job: Job): ProcessInfo[] | undefined {
  if (job.workerPid === undefined) return undefined;
  return identifyGroup(
    job.workerPid,
    job.workerStartTicks,
    `${JOB_ID_ENV}=${job.id}`,
  );
}

/**
 * Removes the jobs that ended more than `olderThan` milliseconds ago, with
 * their logs. A lost job whose worker's processes still run is kept: its
 * record is the only handle on them, and {@linkcode cancel} can still stop
 * them.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @param olderThan Milliseconds since the job ended.
 * @param options `jobsDir`, the jobs directory (default
 * {@linkcode defaultJobsDir}).
 * @returns The IDs removed.
 * @throws {RangeError} If `olderThan` is not a whole number of milliseconds
 * in range.
 *
 * @example Remove what ended more than a week ago
 * ```ts ignore
 * import { cleanJobs } from "@epack/detach";
 *
 * const removed = await cleanJobs(7 * 24 * 60 * 60 * 1000);
 * console.log(`removed ${removed.length} jobs`);
 * ```
 */
export async function cleanJobs(
  olderThan: number,
  options: { jobsDir?: string; store?: string } = {},
): Promise<string[]> {
  checkDuration("age", olderThan);
  await using store = await openNamed(options);
  // Asked only of a store that records hosts: a jobs directory needs no
  // --allow-env or --allow-sys for it.
  let here: string | undefined;
  const clean = (waitedOn: ReadonlySet<string>) =>
    store.clean(olderThan, {
      keep: (job: StoredJob) => {
        if (waitedOn.has(job.id)) return true;
        if (job.status !== "lost") return false;
        // Another host's processes cannot be looked for from here: kept,
        // as a job whose processes may still run.
        if (job.host !== undefined && job.host !== (here ??= hostName())) {
          return true;
        }
        const left = leftovers(job);
        return left !== undefined && left.length > 0;
      },
    });
  // A jobs directory may hold waiting jobs (a PostgreSQL store cannot):
  // what they run after is kept, under the scheduler's lock.
  if (store instanceof FileJobBackend) {
    const { waitedOnDuring } = await import("./schedule/schedule.ts");
    return await waitedOnDuring(store.files.dir, clean);
  }
  return await clean(new Set());
}

/**
 * Options for {@linkcode watchJob}.
 *
 * @example Watch a job of another project for at most a minute
 * ```ts ignore
 * import { watchJob, type WatchOptions } from "@epack/detach";
 *
 * const options: WatchOptions = { jobsDir: "/srv/app/.epack/jobs", timeout: 60_000 };
 * for await (const job of watchJob("01JD0Q2V3K5W8Y9Z0A1B2C3D4E", options)) {
 *   console.log(job.status);
 * }
 * ```
 */
export interface WatchOptions {
  /**
   * The jobs directory.
   * @default {defaultJobsDir()}
   */
  jobsDir?: string;
  /**
   * The job store, a jobs directory or a `postgres://` URL; when given it
   * takes the place of `jobsDir`.
   * @default {jobsDir}
   */
  store?: string;
  /**
   * Give up after this many milliseconds: a whole number from 0 to
   * `MAX_DURATION` (36500 days; timeouts beyond `setTimeout`'s 24.8 days are
   * chained, not cut short). Left out, the watch has no time limit.
   * @default {undefined}
   */
  timeout?: number;
  /** Give up when this signal aborts; the watch throws its reason. */
  signal?: AbortSignal;
}

/**
 * Watches a job's record: yields it at once, then again each time it
 * changes, and finishes after yielding a final record (`completed`,
 * `failed`, `timed_out`, `cancelled` or `lost`). Leaving the loop early
 * (`break`) ends the watch and frees what it holds.
 *
 * Only the record's file is watched, not the jobs directory (the logs live
 * there too, and a busy log would wake the watch for every write), so a
 * change is seen within milliseconds. A job whose supervisor was killed
 * with SIGKILL writes nothing: the record is looked at once a second too,
 * and such a job is yielded as `lost` within about a second. Changes that
 * come faster than the loop takes them are folded together: the next record
 * yielded is the newest one.
 *
 * While a job of a jobs directory is `waiting` or `queued`, the watch runs a
 * scheduler pass every 2 seconds (when the directory's pending marker says
 * one may be due), so a job whose starter died still starts; with
 * `--allow-write` and `--allow-run`, else the passes are skipped.
 *
 * Requires `--allow-read` (and `--allow-write` to record a lost job).
 *
 * @param jobId The job's ID.
 * @param options The jobs directory, a timeout, an abort signal.
 * @returns The job's records, oldest first, the last one final.
 * @throws {InvalidJobIdError} If the ID is not valid.
 * @throws {JobNotFoundError} If there is no such job, or its record is
 * removed during the watch.
 * @throws {RangeError} If `timeout` is not a whole number of milliseconds
 * from 0 to `MAX_DURATION`.
 * @throws {WaitTimeoutError} If `timeout` passes before the job ends.
 *
 * @example Report each change of a job
 * ```ts
 * import { JobStore } from "@epack/detach/jobs";
 * import { watchJob } from "@epack/detach";
 *
 * const jobsDir = await Deno.makeTempDir();
 * const store = new JobStore(jobsDir);
 * const job = await store.create({ command: "sync" });
 * setTimeout(() => store.complete(job.id, { exitCode: 0 }), 50);
 * const seen = [];
 * for await (const record of watchJob(job.id, { jobsDir })) {
 *   seen.push(record.status);
 * }
 * console.log(seen); // [ "running", "completed" ]
 * await Deno.remove(jobsDir, { recursive: true });
 * ```
 */
export async function* watchJob(
  jobId: string,
  options: WatchOptions = {},
): AsyncGenerator<Job, void, undefined> {
  const { timeout, signal } = options;
  if (timeout !== undefined) checkDuration("timeout", timeout);
  // The one watch loop, for every store: a file store wakes on its record's
  // file, a database on LISTEN/NOTIFY; both look again every second, since a
  // supervisor killed with SIGKILL writes nothing.
  await using store = await openNamed(options);
  const records = watchStoredJob(store, jobId, {
    timeout,
    signal,
    pollMs: LOST_CHECK_INTERVAL,
    onTimeout: () => new WaitTimeoutError(jobId, timeout ?? Infinity),
  });
  if (!(store instanceof FileJobBackend)) {
    yield* records;
    return;
  }
  // A job that has not started may wait for a pass nobody runs: see
  // QueueRepair.
  using repair = new QueueRepair(store.files.dir);
  for await (const job of records) {
    repair.while(job.status === "waiting" || job.status === "queued");
    yield job;
  }
}

/**
 * Waits until a job has ended and returns its final record. It wakes on the
 * change of the job's record, so it returns within milliseconds of the end;
 * a lost job is noticed within a second. It is {@linkcode watchJob} with
 * only the last record kept.
 *
 * Requires `--allow-read`.
 *
 * @param jobId The job's ID.
 * @param options The jobs directory, a timeout, an abort signal.
 * @returns The final record.
 * @throws {JobNotFoundError} If there is no such job, or its record is
 * removed during the wait.
 * @throws {RangeError} If `timeout` is not a whole number of milliseconds
 * from 0 to `MAX_DURATION`.
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
  options: WatchOptions = {},
): Promise<Job> {
  let last: Job | undefined;
  for await (const job of watchJob(jobId, options)) last = job;
  // watchJob() ends only after a final record, or throws.
  return last!;
}

// Pause and resume are control too; their code is in _pause.ts, which keeps
// this file a few screens long.
export {
  JobStateError,
  pause,
  type PauseOptions,
  type PauseResult,
  resume,
  type ResumeResult,
} from "./control/pause.ts";
