// Pausing and resuming a running job: SIGSTOP and SIGCONT to its worker's
// process group, and to the job's processes that left the group (they carry
// its mark), with the status `paused` recorded. control.ts re-exports the
// public part; it lives here so control.ts stays one screenful of concepts.
//
// Order against the job's end: the check of the record, the signal and the
// new status happen inside one store.update(), under the job's lock (the
// file store) or as one compare-and-swap (PostgreSQL). The supervisor
// records the end through the same lock, and finish() takes any non-final
// status to a final one, so whichever comes second sees the other: a pause
// never signals a job whose end is recorded, and never writes over one.
//
// The timeout is not stopped: it is a bound on the job's wall-clock time,
// and a paused job still holds whatever it holds (locks, slots, a
// connection). A timeout, or a cancel, that comes while the job is paused
// ends it as usual: stopProcessGroup() sends SIGCONT after SIGTERM.

import {
  type Job,
  JOB_ID_ENV,
  type JobStatus,
  validateJobId,
} from "../jobs.ts";
import {
  FileJobBackend,
  hostName,
  isPostgresUrl,
  type JobBackend,
  openStore,
  type StoredJob,
} from "../store.ts";
import { defaultJobsDir } from "../detach.ts";
import {
  identifyGroup,
  inspectionProblem,
  isEnded,
  markedProcesses,
  type ProcessInfo,
  processInspector,
  signalGroup,
  signalProcess,
} from "../process/inspect.ts";
import { timeoutClause, timeoutLeft, wholeSeconds } from "./timeout_left.ts";
import { isFinalStatus } from "../store/job.ts";
import { assertPosix } from "../process/platform.ts";
import { firstMissing } from "../util/permissions.ts";

/**
 * Thrown by {@linkcode pause} and {@linkcode resume} when the job's state
 * does not allow it: it has not started (`waiting`, `queued`, or its worker
 * is not running yet), it has ended, or it is being stopped. Nothing was
 * signalled or written.
 *
 * @example Tell an ended job from other failures
 * ```ts ignore
 * import { JobStateError, pause } from "@epack/detach";
 *
 * try {
 *   await pause("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * } catch (err) {
 *   if (!(err instanceof JobStateError)) throw err;
 *   console.log(`not paused: the job is ${err.status}`);
 * }
 * ```
 */
export class JobStateError extends Error {
  /** The job. */
  readonly jobId: string;
  /** The job's status when it was looked at. */
  readonly status: JobStatus;
  /**
   * Makes the error.
   * @param jobId The job.
   * @param status Its status.
   * @param message What could not be done, and why.
   */
  constructor(jobId: string, status: JobStatus, message: string) {
    super(message);
    this.jobId = jobId;
    this.status = status;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "JobStateError";
  }
}

/**
 * Options for {@linkcode pause} and {@linkcode resume}.
 *
 * @example Pause a job of another project
 * ```ts ignore
 * import { pause, type PauseOptions } from "@epack/detach";
 *
 * const options: PauseOptions = { jobsDir: "/srv/app/.epack/jobs" };
 * console.log((await pause("01JD0Q2V3K5W8Y9Z0A1B2C3D4E", options)).message);
 * ```
 */
export interface PauseOptions {
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
}

/**
 * What {@linkcode pause} did.
 *
 * @example Say how long the paused job may still take
 * ```ts ignore
 * import { pause } from "@epack/detach";
 *
 * const { outcome, timeoutLeft } = await pause("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * if (timeoutLeft !== undefined) console.log(`${outcome}; ${timeoutLeft} ms left`);
 * ```
 */
export interface PauseResult {
  /**
   * - `paused`: the job was running; its processes are stopped now.
   * - `already-paused`: it was paused already; nothing was done.
   */
  outcome: "paused" | "already-paused";
  /** A sentence saying what happened, and how much of the timeout is left. */
  message: string;
  /** The job's record afterwards. */
  job: Job;
  /**
   * Milliseconds left until the job's timeout stops it (it keeps counting
   * while the job is paused; 0 once it has passed); `undefined` for a job
   * without a timeout.
   */
  timeoutLeft?: number;
}

/**
 * What {@linkcode resume} did.
 *
 * @example
 * ```ts ignore
 * import { resume } from "@epack/detach";
 *
 * const { outcome, message } = await resume("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * console.log(outcome, message);
 * ```
 */
export interface ResumeResult {
  /**
   * - `resumed`: the job was paused; its processes run again.
   * - `not-paused`: it was running, not paused; nothing was done.
   */
  outcome: "resumed" | "not-paused";
  /** A sentence saying what happened. */
  message: string;
  /** The job's record afterwards. */
  job: Job;
  /** As in {@linkcode PauseResult.timeoutLeft}. */
  timeoutLeft?: number;
}

/** Opens the store `options` name (as control.ts does). */
async function openNamed(options: PauseOptions): Promise<JobBackend> {
  const name = options.store ?? options.jobsDir ?? defaultJobsDir();
  return isPostgresUrl(name) ? await openStore(name) : new FileJobBackend(name);
}

/** A record left as it was: the updater throws it so that nothing is written. */
class Unchanged extends Error {
  readonly job: Job;
  constructor(job: Job) {
    super("unchanged");
    this.job = job;
  }
}

type Verb = "pause" | "resume";

/**
 * What pause() and resume() check before they touch the record: the
 * permissions, the job's status as a reader sees it (with the lost rule),
 * its host, and that it is one of ours.
 */
async function openJob(
  verb: Verb,
  jobId: string,
  options: PauseOptions,
): Promise<{ store: JobBackend; job: StoredJob }> {
  assertPosix(`${verb}()`);
  validateJobId(jobId);
  const store = await openNamed(options);
  try {
    const missing = firstMissing([
      ...(store instanceof FileJobBackend
        ? [
          [
            { name: "write", path: store.files.dir },
            "--allow-write",
            `to record the ${verb}`,
          ] as const,
        ]
        : []),
      [{ name: "run" }, "--allow-run", "to signal the job's processes"],
    ]);
    if (missing !== undefined) {
      throw new Deno.errors.NotCapable(
        `${verb}() needs ${missing.flag} (${missing.why})`,
      );
    }
    const job = await store.load(jobId);
    return { store, job };
  } catch (err) {
    await store[Symbol.asyncDispose]();
    throw err;
  }
}

/**
 * Refuses what neither pause nor resume can act on: a job that has not
 * started or has ended, one on another host, one that is not ours.
 */
async function refuseUnreachable(
  verb: Verb,
  store: JobBackend,
  job: StoredJob,
): Promise<void> {
  const id = job.id;
  if (job.status === "waiting" || job.status === "queued") {
    throw new JobStateError(
      id,
      job.status,
      `Job ${id} is ${job.status}: it has not started, so there is nothing to ${verb} yet`,
    );
  }
  if (isFinalStatus(job.status)) {
    const lost = job.status === "lost" && verb === "resume"
      ? "; 'jobs cancel' stops whatever is left of it"
      : "";
    throw new JobStateError(
      id,
      job.status,
      `Job ${id} has ended (${job.status}); nothing to ${verb}${lost}`,
    );
  }
  if (job.host !== undefined && job.host !== hostName()) {
    // A cancel reaches another host through the store, at the supervisor's
    // next lease renewal; a pause would need the same path into the
    // supervisor, and a pause that lands seconds late is not worth it.
    throw new Error(
      `Job ${id} runs on host ${job.host}: a ${verb} is a signal to its processes, which cannot reach them from ${hostName()}; run it on ${job.host}`,
    );
  }
  if (await store.isHeld(id) === undefined) {
    throw new Error(
      `Job ${id} was not started by @epack/detach (it has no liveness file), so it cannot be ${verb}d here`,
    );
  }
}

/** The job's group, and its processes that left it, checked to be the job's. */
function jobProcesses(
  verb: Verb,
  job: Job,
): { pgid: number; members: ProcessInfo[]; mark: string } {
  const pgid = job.workerPid;
  if (pgid === undefined || pgid <= 1) {
    throw new JobStateError(
      job.id,
      job.status,
      `Job ${job.id} has not started its worker yet; nothing to ${verb}: try again in a moment`,
    );
  }
  const mark = `${JOB_ID_ENV}=${job.id}`;
  // The same proof cancel() asks before it signals a group: the worker's
  // start time, or the job's mark on every member; never the PID alone.
  const members = identifyGroup(pgid, job.workerStartTicks, mark);
  if (members === undefined) {
    throw new Error(
      `Cannot ${verb} job ${job.id}: process group ${pgid} cannot be identified safely as the job's (${
        inspectionProblem() ?? "its PID was reused"
      })`,
    );
  }
  if (members.some((p) => p.pid === Deno.pid)) {
    // SIGSTOP would stop this very process before the record says so.
    throw new Error(`Job ${job.id} cannot ${verb} itself`);
  }
  return { pgid, members, mark };
}

/**
 * Sends `signal` to the job's processes outside its group (those that
 * called `setsid`); their PIDs, or `undefined` when environments cannot be
 * read.
 */
function signalEscaped(
  mark: string,
  pgid: number,
  signal: Deno.Signal,
): number[] | undefined {
  const marked = markedProcesses(mark);
  if (marked === undefined) return undefined;
  const out: number[] = [];
  for (const p of marked) {
    if (p.pgid === pgid) continue;
    if (signalProcess(p.pid, signal)) out.push(p.pid);
  }
  return out;
}

function describeSignals(
  signal: string,
  pgid: number,
  escaped: number[] | undefined,
): string {
  return `${signal} to process group ${pgid}` +
    (escaped === undefined
      ? "; processes that left its group could not be looked for"
      : escaped.length > 0
      ? ` and to ${escaped.length} process(es) of the job that had left it`
      : "");
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Pauses a running job: SIGSTOP to its worker's whole process group (and to
 * the job's processes that left the group, found by the job's mark in their
 * environment), then status `paused` and `pausedAt` in its record. The job's
 * supervisor stays, and so does its timeout: it keeps counting, and a
 * timeout or a `cancel()` while paused ends the job as usual (the
 * stop continues the processes after SIGTERM so they can act on it).
 *
 * The check, the signal and the write are one update of the record under
 * the store's lock: a job that ends meanwhile keeps its recorded end, and
 * is not signalled. It returns once the group's processes show as stopped
 * (waiting at most a second for that). Pausing a paused job does nothing
 * and says so.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run` (and, where
 * `/proc` cannot be read, `ps`).
 *
 * @param jobId The job's ID (a ULID in any case).
 * @param options The jobs directory or store.
 * @returns What was done, the record afterwards, and the time left until
 * the timeout.
 * @throws {InvalidJobIdError} If the ID is not valid.
 * @throws {JobNotFoundError} If there is no such job.
 * @throws {JobStateError} If the job is waiting or queued, has not started
 * its worker yet, has ended, or is being stopped (cancelled, or past its
 * timeout).
 * @throws {Error} If the job runs on another host (signals cannot reach
 * it), was not started by this module, or its process group cannot be
 * identified safely.
 *
 * @example Pause a job, then let it go on
 * ```ts ignore
 * import { pause, resume } from "@epack/detach";
 *
 * const id = "01JD0Q2V3K5W8Y9Z0A1B2C3D4E";
 * console.log((await pause(id)).message);
 * // Paused job 01JD0Q2V3K5W8Y9Z0A1B2C3D4E (SIGSTOP to process group 4242). Its timeout keeps counting: 23m left.
 * console.log((await resume(id)).message);
 * ```
 */
export async function pause(
  jobId: string,
  options: PauseOptions = {},
): Promise<PauseResult> {
  const opened = await openJob("pause", jobId, options);
  await using store = opened.store;
  const id = opened.job.id;
  const already = (job: Job): PauseResult => {
    const now = Date.now();
    return {
      outcome: "already-paused",
      message: `Job ${id} is already paused; ${timeoutClause(job, now)}`,
      job,
      ...left(job, now),
    };
  };
  if (opened.job.status === "paused") return already(opened.job);
  await refuseUnreachable("pause", store, opened.job);
  let sent = "";
  let job: Job;
  try {
    job = await store.update(id, (j) => {
      if (j.status === "paused") throw new Unchanged(j);
      if (j.status !== "running") {
        throw new JobStateError(
          id,
          j.status,
          `Job ${id} has ended (${j.status}); nothing to pause`,
        );
      }
      if (j.cancelRequestedAt !== undefined) {
        throw new JobStateError(
          id,
          j.status,
          `Job ${id} is being cancelled; it cannot be paused`,
        );
      }
      // Refused once the deadline has passed: the supervisor's stop is due
      // (or under way), and a SIGSTOP after its SIGCONT would hold the
      // processes until SIGKILL.
      if (timeoutLeft(j, Date.now()) === 0) {
        throw new JobStateError(
          id,
          j.status,
          `Job ${id} has run past its timeout and is being stopped; it cannot be paused`,
        );
      }
      const { pgid, members, mark } = jobProcesses("pause", j);
      if (members.length === 0 && betweenAttempts(j)) {
        // Its supervisor waits out the retry delay: there is no process to
        // stop, and the job has not ended.
        throw new JobStateError(
          id,
          j.status,
          `Job ${id} is between attempts (attempt ${j.attempts!.length} of ${
            (j.retries ?? 0) + 1
          } has ended; the next starts after its retry delay): there is nothing to pause now`,
        );
      }
      if (members.length === 0) {
        throw new JobStateError(
          id,
          j.status,
          `Job ${id}'s processes have ended; its end is being recorded, so there is nothing to pause`,
        );
      }
      signalGroup(pgid, "SIGSTOP");
      sent = describeSignals(
        "SIGSTOP",
        pgid,
        signalEscaped(mark, pgid, "SIGSTOP"),
      );
      j.status = "paused";
      j.pausedAt = new Date();
      return j;
    });
  } catch (err) {
    if (err instanceof Unchanged) return already(err.job);
    throw err;
  }
  await settleStopped(job.workerPid!);
  const now = Date.now();
  return {
    outcome: "paused",
    message: `Paused job ${id} (${sent}). ${
      capitalised(timeoutClause(job, now))
    }.`,
    job,
    ...left(job, now),
  };
}

/**
 * Resumes a paused job: SIGCONT to its worker's process group (and to the
 * job's processes that left it), then status `running` again, `pausedAt`
 * cleared. Resuming a running job does nothing and says so. A lost job
 * whose processes were left stopped is not resumed: `cancel()`
 * stops what is left of it.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run`.
 *
 * @param jobId The job's ID (a ULID in any case).
 * @param options The jobs directory or store.
 * @returns What was done, and the record afterwards.
 * @throws {InvalidJobIdError} If the ID is not valid.
 * @throws {JobNotFoundError} If there is no such job.
 * @throws {JobStateError} If the job is waiting or queued, or has ended.
 * @throws {Error} If the job runs on another host, was not started by this
 * module, or its process group cannot be identified safely.
 *
 * @example Resume a paused job
 * ```ts ignore
 * import { resume } from "@epack/detach";
 *
 * const { message } = await resume("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * console.log(message);
 * // Resumed job 01JD0Q2V3K5W8Y9Z0A1B2C3D4E (SIGCONT to process group 4242) after 5m paused. Its timeout: 18m left.
 * ```
 */
export async function resume(
  jobId: string,
  options: PauseOptions = {},
): Promise<ResumeResult> {
  const opened = await openJob("resume", jobId, options);
  await using store = opened.store;
  const id = opened.job.id;
  const notPaused = (job: Job): ResumeResult => ({
    outcome: "not-paused",
    message: `Job ${id} is not paused (${job.status}); nothing to resume`,
    job,
    ...left(job, Date.now()),
  });
  if (opened.job.status === "running") return notPaused(opened.job);
  await refuseUnreachable("resume", store, opened.job);
  let sent = "";
  let pausedAt: Date | undefined;
  let job: Job;
  try {
    job = await store.update(id, (j) => {
      if (j.status === "running") throw new Unchanged(j);
      if (j.status !== "paused") {
        throw new JobStateError(
          id,
          j.status,
          `Job ${id} has ended (${j.status}); nothing to resume`,
        );
      }
      // Continued even when the group has emptied: the marked processes
      // outside it may still be stopped.
      const { pgid, mark } = jobProcesses("resume", j);
      signalGroup(pgid, "SIGCONT");
      sent = describeSignals(
        "SIGCONT",
        pgid,
        signalEscaped(mark, pgid, "SIGCONT"),
      );
      pausedAt = j.pausedAt;
      j.status = "running";
      delete j.pausedAt;
      return j;
    });
  } catch (err) {
    if (err instanceof Unchanged) return notPaused(err.job);
    throw err;
  }
  const now = Date.now();
  const after = pausedAt === undefined
    ? ""
    : ` after ${wholeSeconds(now - pausedAt.getTime())} paused`;
  const t = timeoutLeft(job, now);
  const timeout = t === undefined
    ? ""
    : t === 0
    ? " Its timeout has passed: it is being stopped."
    : ` Its timeout: ${wholeSeconds(t)} left.`;
  return {
    outcome: "resumed",
    message: `Resumed job ${id} (${sent})${after}.${timeout}`,
    job,
    ...left(job, now),
  };
}

/**
 * How long {@linkcode pause} waits for the group to show as stopped: a
 * signal takes effect only when the kernel next runs each process, which on
 * a loaded machine is not at once.
 */
const SETTLE_WAIT = 1_000;

/**
 * Waits until every live process of the group shows as stopped (`T`), for
 * at most {@linkcode SETTLE_WAIT}, so that a caller that looks right after
 * the pause finds the job still. Best effort: a process in uninterruptible
 * I/O stops only when the I/O ends.
 */
/**
 * Whether the job's last attempt has ended and another is due: its
 * supervisor waits out the retry delay.
 */
function betweenAttempts(job: Job): boolean {
  const attempts = job.attempts ?? [];
  const last = attempts.at(-1);
  return last?.endedAt !== undefined &&
    attempts.length < (job.retries ?? 0) + 1;
}

async function settleStopped(pgid: number): Promise<void> {
  const giveUpAt = Date.now() + SETTLE_WAIT;
  while (Date.now() < giveUpAt) {
    const members = processInspector().processes()?.filter((p) =>
      p.pgid === pgid && !isEnded(p)
    );
    if (members === undefined || members.every((p) => p.state === "T")) {
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

function left(job: Job, now: number): { timeoutLeft?: number } {
  const t = timeoutLeft(job, now);
  return t === undefined ? {} : { timeoutLeft: t };
}
