// Pausing and resuming a running job: SIGSTOP and SIGCONT to its worker's
// process group and to the job's processes that left it, with the status
// `paused` recorded.
//
// Order against the job's end: the group is identified first (a read), the
// new status is decided by a pure update of the record, and the signal
// follows the write that decided it. An end takes any status that has not
// ended to a final one, so a pause never writes over an end.
//
// The timeout is not stopped: it bounds the job's wall-clock time, and a
// paused job still holds what it holds (locks, slots, a connection). A
// timeout or cancel while paused ends it as usual: stopProcessGroup() sends
// SIGCONT after SIGTERM.

import { appendControl } from "../store/control_file.ts";
import { type Job, type JobStatus, statusWord } from "../store/job.ts";
import { JOB_ID_ENV } from "../store/job_id.ts";
import { isLocalJob, type JobStore } from "../store/contract.ts";
import { hostName, type StoreOption, withStore } from "../store/open.ts";
import { isFinalStatus, UNSTARTED_STATUSES } from "../store/rules.ts";
import {
  livenessPath,
  localWorker,
  signalSupervisor,
} from "../store/liveness.ts";

import {
  identifyGroup,
  inspectionProblem,
  liveMembers,
  markedProcesses,
  type ProcessInfo,
  signalGroup,
  signalProcess,
} from "../process/inspect.ts";
import { timeoutClause, timeoutLeft, wholeSeconds } from "./timeout_left.ts";
import { assertPosix } from "../process/platform.ts";
import { requireControl } from "../util/permissions.ts";

/**
 * Thrown by {@linkcode pause} and {@linkcode resume} when the job's state
 * does not allow it: it has not started (`waiting`, `queued`, or its worker
 * is not running yet), it has ended, or it is being stopped. Nothing was
 * signalled or written.
 */
export class JobStateError extends Error {
  /** The job. */
  readonly jobId: string;
  /** The job's status when it was looked at. */
  readonly status: JobStatus;
  /** Makes the error: the job, its status, and what could not be done. */
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

/** What {@linkcode pause} did. */
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

/** What {@linkcode resume} did. */
export interface ResumeResult extends Omit<PauseResult, "outcome"> {
  /**
   * - `resumed`: the job was paused; its processes run again.
   * - `not-paused`: it was running, not paused; nothing was done.
   */
  outcome: "resumed" | "not-paused";
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
 * Runs `fn` with the store and the job, after what pause() and resume()
 * check before they touch the record: the permissions, and the job's
 * status as a reader sees it (with the lost rule).
 */
async function withJob<T>(
  verb: Verb,
  ref: string,
  options: StoreOption,
  fn: (store: JobStore, job: Job) => Promise<T>,
): Promise<T> {
  assertPosix(`${verb}()`);
  return await withStore(options.store, async (store) => {
    requireControl(
      `${verb}()`,
      store.capabilities.localRecords ? store.localDir : undefined,
      `to record the ${verb}`,
      "to signal the job's processes",
    );
    return await fn(store, await store.load(await store.resolve(ref)));
  });
}

/**
 * Refuses what neither pause nor resume can act on: a job that has not
 * started or has ended, one on another host, one that is not ours.
 */
async function refuseUnreachable(
  verb: Verb,
  store: JobStore,
  job: Job,
): Promise<void> {
  const id = job.id;
  if (UNSTARTED_STATUSES.includes(job.status)) {
    throw new JobStateError(
      id,
      job.status,
      `Job ${id} is ${
        statusWord(job.status)
      }: it has not started, so there is nothing to ${verb} yet`,
    );
  }
  if (isFinalStatus(job.status)) {
    const lost = job.status === "lost" && verb === "resume"
      ? "; 'jobs cancel' stops whatever is left of it"
      : "";
    throw new JobStateError(
      id,
      job.status,
      `Job ${id} has ended (${
        statusWord(job.status)
      }); nothing to ${verb}${lost}`,
    );
  }
  if (!isLocalJob(store, job)) {
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
  store: JobStore,
  job: Job,
): { pgid: number; members: ProcessInfo[]; mark: string } {
  // Which group is the job's: its own journal's word, never the record's.
  const worker = localWorker(store, job);
  const pgid = worker?.pid;
  if (pgid === undefined) {
    throw new JobStateError(
      job.id,
      job.status,
      `Job ${job.id} has not started its worker yet; nothing to ${verb}: try again in a moment`,
    );
  }
  const mark = `${JOB_ID_ENV}=${job.id}`;
  // The same proof cancel() asks before it signals a group: the worker's
  // start time, or the job's mark on every member; never the PID alone.
  const members = identifyGroup(pgid, worker?.ticks, mark);
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
 * Pauses a running job: status `paused` and `pausedAt` in its record, then
 * SIGSTOP to its worker's whole process group (and to the job's processes
 * that left the group, found by the job's mark in their environment). Its
 * supervisor stays, and its timeout keeps counting: a timeout or a
 * `cancel()` while paused ends the job as usual. It returns once the
 * group's processes show as stopped (waiting at most a second). Pausing a
 * paused job does nothing and says so.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run` (and, where
 * `/proc` cannot be read, `ps`).
 *
 * @param ref The job: its ID, or a unique prefix or suffix of it.
 * @param options The store.
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
  ref: string,
  options: StoreOption = {},
): Promise<PauseResult> {
  return await toggle("pause", ref, options) as PauseResult;
}

/**
 * Resumes a paused job: status `running` again (`pausedAt` cleared), then
 * SIGCONT to its worker's process group and to the job's processes that
 * left it. Resuming a running job does nothing and says so. A lost job
 * whose processes were left stopped is not resumed: `cancel()` stops what
 * is left of it.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run`.
 *
 * @param ref The job: its ID, or a unique prefix or suffix of it.
 * @param options The store.
 * @returns What was done, and the record afterwards.
 * @throws {InvalidJobIdError} If the ID is not valid.
 * @throws {JobNotFoundError} If there is no such job.
 * @throws {JobStateError} If the job is waiting or queued, or has ended.
 * @throws {Error} If the job runs on another host, was not started by this
 * module, or its process group cannot be identified safely.
 */
export async function resume(
  ref: string,
  options: StoreOption = {},
): Promise<ResumeResult> {
  return await toggle("resume", ref, options) as ResumeResult;
}

/**
 * Pause and resume, one flow: the checks, the record's update (pure; it
 * throws rather than write), then the control line and the signals after
 * the write that decided them.
 */
async function toggle(
  verb: Verb,
  ref: string,
  options: StoreOption,
): Promise<PauseResult | ResumeResult> {
  const pausing = verb === "pause";
  const to = pausing ? "paused" : "running";
  return await withJob(verb, ref, options, async (store, found) => {
    const id = found.id;
    const unchanged = (job: Job): PauseResult | ResumeResult => ({
      ...(pausing
        ? {
          outcome: "already-paused",
          message: `Job ${id} is already paused; ${
            timeoutClause(job, Date.now())
          }`,
        }
        : {
          outcome: "not-paused",
          message: `Job ${id} is not paused (${
            statusWord(job.status)
          }); nothing to resume`,
        }),
      job,
      ...left(job, Date.now()),
    });
    if (found.status === to) return unchanged(found);
    await refuseUnreachable(verb, store, found);
    refuseNow(verb, found);
    // A resume continues even an emptied group: the marked processes
    // outside it may still be stopped.
    const group = jobProcesses(verb, store, found);
    if (pausing && group.members.length === 0) refuseEmpty(found);
    let job: Job;
    try {
      job = await store.update(id, (j) => {
        if (j.status === to) throw new Unchanged(j);
        refuseNow(verb, j, group.pgid);
        j.status = to;
        if (pausing) j.pausedAt = new Date();
        else delete j.pausedAt;
        return j;
      });
    } catch (err) {
      if (err instanceof Unchanged) return unchanged(err.job);
      throw err;
    }
    // The supervisor starts no attempt while its control file says paused
    // (a worker killed while paused must not be followed by one that runs).
    const live = livenessPath(store, id);
    appendControl(live, pausing ? "P" : "R");
    const sent = signalJob(group, pausing ? "SIGSTOP" : "SIGCONT");
    // A supervisor waiting to start the next attempt wakes on SIGCONT.
    if (pausing) await settleStopped(group.pgid);
    else await signalSupervisor(live, "SIGCONT");
    const now = Date.now();
    if (pausing) {
      const clause = timeoutClause(job, now);
      return {
        outcome: "paused",
        message: `Paused job ${id} (${sent}). ${clause[0].toUpperCase()}${
          clause.slice(1)
        }.`,
        job,
        ...left(job, now),
      };
    }
    const pausedAt = found.pausedAt;
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
  });
}

/**
 * The checks of the record as it is now, for the update too: a job no
 * longer in the state to leave has ended; a pause also waits for no
 * cancel, no deadline, no new attempt.
 */
function refuseNow(verb: Verb, j: Job, pgid?: number): void {
  const id = j.id;
  const refuse = (why: string) => {
    throw new JobStateError(id, j.status, why);
  };
  if (j.status !== (verb === "pause" ? "running" : "paused")) {
    refuse(`Job ${id} has ended (${statusWord(j.status)}); nothing to ${verb}`);
  }
  if (verb === "resume") return;
  if (j.cancelRequestedAt !== undefined) {
    refuse(`Job ${id} is being cancelled; it cannot be paused`);
  }
  // Refused once the deadline has passed: the supervisor's stop is due
  // (or under way), and a SIGSTOP after its SIGCONT would hold the
  // processes until SIGKILL.
  if (timeoutLeft(j, Date.now()) === 0) {
    refuse(
      `Job ${id} has run past its timeout and is being stopped; it cannot be paused`,
    );
  }
  // Another attempt started since the group was identified.
  if (pgid !== undefined && j.workerPid !== pgid) {
    refuse(`Job ${id} started another attempt just now: try again`);
  }
}

/** Refuses a pause of a job whose group has no process left. */
function refuseEmpty(j: Job): never {
  if (betweenAttempts(j)) {
    // Its supervisor waits out the retry delay: there is no process to
    // stop, and the job has not ended.
    throw new JobStateError(
      j.id,
      j.status,
      `Job ${j.id} is between attempts (attempt ${j.attempts!.length} of ${
        (j.retries ?? 0) + 1
      } has ended; the next starts after its retry delay): there is nothing to pause now`,
    );
  }
  throw new JobStateError(
    j.id,
    j.status,
    `Job ${j.id}'s processes have ended; its end is being recorded, so there is nothing to pause`,
  );
}

/**
 * Sends `signal` to the job's group and to its processes that left it
 * (by `setsid`: they carry its mark); says what was sent.
 */
function signalJob(
  group: { pgid: number; mark: string },
  signal: "SIGSTOP" | "SIGCONT",
): string {
  const sent = `${signal} to process group ${group.pgid}`;
  signalGroup(group.pgid, signal);
  const marked = markedProcesses(group.mark);
  if (marked === undefined) {
    return `${sent}; processes that left its group could not be looked for`;
  }
  const escaped = marked.filter((p) =>
    p.pgid !== group.pgid && signalProcess(p.pid, signal)
  );
  return escaped.length === 0
    ? sent
    : `${sent} and to ${escaped.length} process(es) of the job that had left it`;
}

/**
 * How long {@linkcode pause} waits for the group to show as stopped: a
 * signal takes effect only when the kernel next runs each process, which on
 * a loaded machine is not at once.
 */
const SETTLE_WAIT = 1_000;

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

/**
 * Waits until every live process of the group shows as stopped (`T`), for
 * at most {@linkcode SETTLE_WAIT}, so that a caller that looks right after
 * the pause finds the job still. Best effort: a process in uninterruptible
 * I/O stops only when the I/O ends.
 */
async function settleStopped(pgid: number): Promise<void> {
  const giveUpAt = Date.now() + SETTLE_WAIT;
  while (Date.now() < giveUpAt) {
    const members = liveMembers(pgid);
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
