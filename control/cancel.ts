// cancel(): stopping a job, in named steps. control.ts documents it.

import { appendControl } from "../store/control_file.ts";
import { type Job, statusWord } from "../store/job.ts";
import { JOB_ID_ENV } from "../store/job_id.ts";
import { isLocalJob, type JobStore } from "../store/contract.ts";
import { type StoreOption, withStore } from "../store/open.ts";
import {
  endUnstarted,
  isSupervisedStatus,
  requestCancel,
  UNSTARTED_STATUSES,
} from "../store/rules.ts";
import { DEFAULT_KILL_GRACE } from "../store/job_options.ts";
import {
  isSupervisorStopped,
  livenessPath,
  localWorker,
  signalSupervisor as signalLocal,
} from "../store/liveness.ts";

import { stopProcessGroup } from "../timeout.ts";
import {
  identifyGroup,
  inspectionProblem,
  type ProcessInfo,
} from "../process/inspect.ts";
import { checkDuration, formatDuration, MAX_DURATION } from "../duration.ts";
import { assertPosix } from "../process/platform.ts";
import { requireControl } from "../util/permissions.ts";
import { waitFor, WaitTimeoutError } from "./watch.ts";

/**
 * How long past its grace period {@linkcode cancel} waits for the job's end
 * to be recorded: SIGKILL, the kernel's teardown of the group (which
 * `stopProcessGroup` waits up to 2 s for) and the supervisor's final write.
 */
const CANCEL_MARGIN = 2_000;

/** Options for {@linkcode cancel}. */
export interface CancelOptions extends StoreOption {
  /**
   * Milliseconds between SIGTERM and SIGKILL, counted from this call: a
   * whole number from 0 to `MAX_DURATION` (36500 days). It also bounds how
   * long the call takes: at most the grace period plus 2 seconds. A shorter
   * grace than that of a cancel already under way brings its SIGKILL forward.
   * @default {the job's own grace period, else DEFAULT_KILL_GRACE}
   */
  grace?: number;
}

/** What {@linkcode cancel} did. */
export interface CancelResult {
  /**
   * - `cancelled`: the job was running (or had not started) and has been
   *   stopped.
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

/** What one cancel() call has decided, shared by its steps. */
interface Cancel {
  store: JobStore;
  id: string;
  /** The grace this call asked for, or the job's own. */
  grace: number;
  /** The time of the call. */
  now: number;
  /** When this call wants SIGKILL sent. */
  killAt: number;
  /** The job runs on another host: the request reaches it via the store. */
  remote: boolean;
}

/**
 * Cancels a job: SIGTERM to the worker's whole process group, SIGKILL after
 * the grace period, and status `cancelled`. It returns once the job has
 * ended, or at most the grace period plus 2 seconds later (outcome
 * `stopping`). A second cancel with a shorter grace brings SIGKILL forward.
 *
 * A job that has not started (`waiting` or `queued`) ends `cancelled` at
 * once; the jobs that run after it then start (or, under `afterOk`, end
 * too). A job that has ended is left as it is. A lost job's leftover
 * processes are stopped when its group is certainly the job's; its record
 * stays `lost`, with no end time, since when it ended is not known.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-run`.
 *
 * @param ref The job: its ID (a ULID in any case), or a unique prefix or
 * suffix of it of at least 4 characters.
 * @param options The store and the grace period.
 * @returns What was done, and the record afterwards.
 * @throws {InvalidJobIdError} If the reference is not valid.
 * @throws {JobNotFoundError} If no job matches.
 * @throws {AmbiguousJobIdError} If more than one job matches.
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
  ref: string,
  options: CancelOptions = {},
): Promise<CancelResult> {
  assertPosix("cancel()");
  // Checked before anything is read, written or signalled: a grace the
  // record cannot hold would make the job's record unreadable.
  if (options.grace !== undefined) checkDuration("grace", options.grace);
  return await withStore(options.store, async (store) => {
    // Before the request is recorded: a cancel that could not then signal
    // the supervisor would leave a job running with a cancel on its record.
    requireControl(
      "cancel()",
      store.capabilities.localRecords ? store.localDir : undefined,
      "to record the cancel",
      "to signal the job's supervisor and processes",
    );
    const job = await store.load(await store.resolve(ref));
    const now = Date.now();
    const grace = options.grace ?? job.grace ?? DEFAULT_KILL_GRACE;
    const c: Cancel = {
      store,
      // From here on the ID as stored: a ULID may have been typed in lower
      // case, and paths are made from it.
      id: job.id,
      grace,
      now,
      // This call's own deadline: SIGKILL is due then, and the call returns
      // at most CANCEL_MARGIN later, whatever an earlier cancel asked for.
      killAt: now + grace,
      remote: !isLocalJob(store, job),
    };
    return await cancelJob(c, job);
  });
}

async function cancelJob(c: Cancel, job: Job): Promise<CancelResult> {
  if (UNSTARTED_STATUSES.includes(job.status)) {
    const done = await cancelUnstarted(c, job);
    if (done !== undefined) return done;
    // It started meanwhile: cancelled as a running job below.
    job = await c.store.load(c.id);
  }
  if (job.status === "lost") return await cancelLost(c, job);
  if (!isSupervisedStatus(job.status)) return alreadyEnded(c.id, job);
  if (await c.store.isHeld(c.id) === undefined) {
    // No liveness file: not one of our jobs (the Go epack writes none), so
    // there is no supervisor to ask and no safe way to find its processes.
    throw new Error(
      `Job ${c.id} was not started by @epack/detach (it has no liveness file), so it cannot be cancelled here`,
    );
  }
  const requested = await c.store.update(c.id, requestCancel(c.killAt, c.now));
  if (!isSupervisedStatus(requested.status)) {
    return alreadyEnded(c.id, requested);
  }
  await signalSupervisor(c);
  return await awaitEnd(c);
}

/**
 * A job that has not started has no process: it ends `cancelled` at once,
 * under the store's lock, against the scheduler's own move to running, so
 * it is either cancelled here, never to start, or started there (then
 * `undefined`: it is cancelled as a running job). The jobs that run after
 * it may then start, or end too under `afterOk`.
 */
async function cancelUnstarted(
  c: Cancel,
  job: Job,
): Promise<CancelResult | undefined> {
  const before = job.status;
  const ended = await c.store.update(
    c.id,
    endUnstarted("cancelled", `Cancelled while ${before}: it never started`),
  );
  if (ended.status !== "cancelled") return undefined;
  // Its end hook runs as for a job that ran, in a finisher of its own.
  if (ended.onEnd !== undefined) {
    (await import("../spawn/launch.ts")).finishUnstarted(c.store, ended);
  }
  const { schedulePending } = await import("../schedule/schedule.ts");
  await schedulePending(c.store);
  return {
    outcome: "cancelled",
    message: `Job ${c.id} cancelled (it was ${before}; it never started)`,
    job: ended,
  };
}

/**
 * Tells the job's supervisor (docs/design.md, "Stopping a job"): a line
 * with this cancel's grace in the job's control file, then SIGTERM, even
 * to one already stopping the job (it reads the new line and moves its
 * SIGKILL earlier if this cancel asks for that), on local proof only. A
 * supervisor that has not started yet finds the line when it does, and
 * ends the job without running it. A job of another host gets the request
 * through the store (its host's renewer passes it on).
 */
async function signalSupervisor(c: Cancel): Promise<void> {
  if (c.remote) return;
  const live = livenessPath(c.store, c.id);
  appendControl(live, `C ${Math.max(0, c.killAt - Date.now())}`);
  await signalLocal(live, "SIGTERM");
}

/** Waits for the end the supervisor records, until this call's deadline. */
async function awaitEnd(c: Cancel): Promise<CancelResult> {
  const pickUp = c.remote ? c.store.cancelReach : 0;
  let ended: Job;
  try {
    ended = await waitFor(c.store, c.id, {
      timeout: Math.min(
        MAX_DURATION,
        Math.max(0, c.killAt + CANCEL_MARGIN + pickUp - Date.now()),
      ),
    });
  } catch (err) {
    if (!(err instanceof WaitTimeoutError)) throw err;
    ended = await c.store.load(c.id);
    if (isSupervisedStatus(ended.status)) {
      // Stopped again since this call continued it: nothing goes on.
      const stopped = !c.remote &&
        await isSupervisorStopped(livenessPath(c.store, c.id));
      return {
        outcome: "stopping",
        message: `Job ${c.id} has not ended ${
          formatDuration(c.grace + CANCEL_MARGIN)
        } after the cancel (SIGKILL was due after ${
          formatDuration(c.grace)
        }); ${
          stopped
            ? "its supervisor is stopped (SIGSTOP): it stops the job once continued (SIGCONT)"
            : "its supervisor goes on stopping it"
        }`,
        job: ended,
      };
    }
  }
  if (ended.status === "lost") return await cancelLost(c, ended);
  return {
    outcome: ended.status === "cancelled" ? "cancelled" : "already-ended",
    message: ended.status === "cancelled"
      ? `Job ${c.id} cancelled`
      : `Job ${c.id} ended (${
        statusWord(ended.status)
      }) before it could be cancelled`,
    job: ended,
  };
}

function alreadyEnded(id: string, job: Job): CancelResult {
  return {
    outcome: "already-ended",
    message: `Job ${id} has already ended (${
      statusWord(job.status)
    }); nothing to cancel`,
    job,
  };
}

/**
 * Cancels a lost job. One of this host (its liveness lock free: its
 * supervisor is surely gone): stops what is left of its process group,
 * SIGKILL being due at this cancel's deadline (not the grace recorded by an
 * earlier one), and records it as lost. One of another host: see above. No end time is written: the
 * supervisor that would have seen the end is gone, so when the job ended
 * is not known (it may have been long before this cancel).
 */
async function cancelLost(c: Cancel, job: Job): Promise<CancelResult> {
  if (c.remote) {
    // A lapsed lease is no proof: its supervisor may be alive (a database
    // outage). The request is recorded; a living supervisor sees it at its
    // next renewal and records how the job ended. No final status here.
    await c.store.update(job.id, requestCancel(c.killAt, c.now));
    return {
      outcome: "lost",
      message:
        `Job ${job.id} reads lost (its lease from host ${job.host} lapsed); the cancel is recorded, and if its supervisor is alive it stops the job at its next renewal`,
      job: await c.store.load(job.id),
    };
  }
  const detail = await stopLeftovers(c, job);
  const message = `Job ${job.id} was lost (its supervisor is gone); ${detail}`;
  const recorded = await c.store.update(job.id, (j) => {
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

/** Stops a lost job's leftover processes, where they are surely its own. */
async function stopLeftovers(c: Cancel, job: Job): Promise<string> {
  // Which group is the job's: its own journal's word, never the record's.
  const pgid = localWorker(c.store, job)?.pid;
  if (pgid === undefined) return "its worker never started here";
  const left = leftovers(c.store, job);
  if (left === undefined) {
    return `process group ${pgid} cannot be identified safely as the job's (${
      inspectionProblem() ?? "its PID was reused"
    }); left alone`;
  }
  // Run even for an empty group: a process that left it by setsid still
  // carries the job's mark.
  const result = await stopProcessGroup(pgid, {
    grace: Math.min(MAX_DURATION, Math.max(0, c.killAt - Date.now())),
    mark: `${JOB_ID_ENV}=${job.id}`,
  });
  const escaped = result.escaped?.length ?? 0;
  return left.length === 0 && escaped === 0
    ? "no process of it was left"
    : `stopped ${left.length} leftover process(es) of group ${pgid}` +
      (escaped > 0 ? ` and ${escaped} that had left it` : "") +
      (result.killed ? " (SIGKILL needed)" : "") +
      (result.remaining.length > 0
        ? `; still running: PID ${result.remaining.join(", ")}`
        : "");
}

/**
 * The processes a job's worker left behind, found only when the group is
 * certainly the job's: named by the job's own journal on this host, and
 * checked (see `identifyGroup`); `undefined` when that cannot be told.
 */
export function leftovers(
  store: JobStore,
  job: Job,
): ProcessInfo[] | undefined {
  const worker = localWorker(store, job);
  if (worker === undefined) return undefined;
  return identifyGroup(worker.pid, worker.ticks, `${JOB_ID_ENV}=${job.id}`);
}
