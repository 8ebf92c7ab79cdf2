// Running a job to its end: its worker, again after each failure while
// retries are left, under one timeout for the whole job and any cancel, and
// the end that is recorded. The state the steps share is one JobRun.

import type { FinalStatus, Job, JobEnd } from "../store/job.ts";
import type { JobStore } from "../store/contract.ts";
import { cancelDeadline } from "../store/rules.ts";
import {
  DEFAULT_KILL_GRACE,
  DEFAULT_RETRY_DELAY,
  retryPause,
} from "../store/job_options.ts";
import { startStamp } from "../process/inspect.ts";
import type { GroupEnd, ProcessGroup } from "../process/group.ts";
import { scheduleTimeout } from "../util/timer.ts";
import { formatDuration } from "../duration.ts";
import {
  Attempts,
  describeWorkerEnd,
  pauseUnless,
  retryNote,
} from "./retry.ts";
import { appendLogNote, warn } from "./log_note.ts";
import type { EndRecorder } from "./end.ts";
import type { StopSignals } from "./stop_signals.ts";
import {
  describeStop,
  exitMessage,
  lookUpProgram,
  startWorker,
} from "./worker.ts";

/** Why the job is being stopped: the first of its timeout and a cancel. */
interface Halt {
  status: FinalStatus;
  error: string;
}

/**
 * What the steps of one job's supervision share: the job, what halts it
 * (set once, by the first of its timeout and a cancel; from then on no
 * attempt starts), and the worker of the attempt under way.
 */
class JobRun {
  readonly job: Job;
  readonly grace: number;
  halt: Halt | undefined;
  readonly #halted = Promise.withResolvers<void>();
  worker: ProcessGroup | undefined;

  constructor(job: Job) {
    this.job = job;
    this.grace = job.grace ?? DEFAULT_KILL_GRACE;
  }

  /** Settles once the job is halted. */
  get halted(): Promise<void> {
    return this.#halted.promise;
  }

  /**
   * Halts the job (the first halt is the one recorded) and stops the worker,
   * if one runs: SIGKILL at `killAt`, or sooner if an earlier stop asked.
   */
  stop(halt: Halt, killAt: number): void {
    this.setHalt(halt);
    this.worker?.stop(killAt);
  }

  /** Halts the job, if it is not halted yet, without a stop. */
  setHalt(halt: Halt): void {
    if (this.halt !== undefined) return;
    this.halt = halt;
    this.#halted.resolve();
  }
}

/**
 * Runs the job's worker, and again after each failure while retries are
 * left, and records the job's end: the last attempt's. The job's timeout
 * covers the whole job, every attempt and every pause between them; a
 * timeout or a cancel ends it, is never retried, and during a pause ends it
 * at once, with no new attempt.
 *
 * @returns The job as its end was recorded.
 */
export async function runJob(
  store: JobStore,
  job: Job,
  signals: StopSignals,
  storeName: string,
  recorder: EndRecorder,
): Promise<Job> {
  if ((job.argv ?? []).length === 0) {
    return await recorder.record({
      status: "failed",
      error: "The job's record has no command line to run",
    });
  }
  const run = new JobRun(job);
  signals.onSignal((signal) => cancelOn(store, run, signal));
  // One cap for the whole job, every attempt; stopped when this returns.
  // Loaded only for a job that has one: the supervisor's memory.
  await using cap = job.logMax === undefined
    ? undefined
    : await (await import("./log_cap.ts")).startLogCap(job.logPath, job.logMax);
  const timeout = job.timeout ?? 0;
  using _timer = scheduleTimeout(timeout, () => {
    run.stop({
      status: "timed_out",
      error: `Timed out: ran past its timeout of ${formatDuration(timeout)}`,
    }, Date.now() + run.grace);
  });
  const retries = job.retries ?? 0;
  // Each attempt is recorded only for a job that may have more than one: a
  // job without retries keeps its record (and its writes) as before.
  const attempts = retries > 0
    ? new Attempts(store, job.id, retries)
    : undefined;
  for (let n = 1;; n++) {
    const startedAt = new Date();
    const lookup = lookUpProgram(job);
    let worker: ProcessGroup;
    try {
      worker = startWorker(job, storeName, run.grace);
    } catch (err) {
      return await startFailed(job, recorder, err);
    }
    // Set before anything is awaited: a stop from now on reaches it.
    run.worker = worker;
    // A stop signal that came before the first worker started.
    if (n === 1 && signals.received !== undefined) {
      cancelOn(store, run, signals.received);
    }
    await recordWorker(store, run, worker, startedAt, attempts);
    // Once its leader has ended, the group starts no stop (a cancel then
    // must not turn its real end into "cancelled"), but hastens one under
    // way, while what is left of the group is still being stopped.
    const ended = await worker.ended;
    run.worker = undefined;
    const endedAt = new Date();
    // A reader who sees the end finds the log under its cap.
    await cap?.workerEnded();
    const end = attemptEnd(run, ended, lookup);
    const { status: _status, ...attempt } = end;
    await attempts?.ended(startedAt, { endedAt, ...attempt });
    const of = attempts?.of(n) ?? "";
    if (ended.stop !== undefined || ended.status.success || n > retries) {
      return await recorder.record(
        {
          ...end,
          ...(end.error === undefined ? {} : { error: end.error + of }),
        },
        endedAt,
      );
    }
    // A stop that came as the worker failed: no more attempts.
    if (run.halt === undefined) {
      const pause = retryPause(job.retryDelay ?? DEFAULT_RETRY_DELAY, n);
      await appendLogNote(
        job.logPath,
        retryNote(n + 1, retries + 1, end, pause),
      );
      await pauseUnless(pause, run.halted);
    }
    if (run.halt !== undefined) {
      const { status, error } = run.halt;
      return await recorder.record({
        ...end,
        status,
        error: `${error}; attempt ${n} of ${retries + 1} had failed (${
          describeWorkerEnd(end)
        }), and attempt ${n + 1} was not started`,
      });
    }
  }
}

/**
 * Records the worker's PID (and start time, against PID reuse) and, for a
 * job with retries, the attempt. Without that record nobody could stop the
 * worker later: if it cannot be written, the worker is stopped, and the
 * error goes up (the supervisor records a failure).
 */
async function recordWorker(
  store: JobStore,
  run: JobRun,
  worker: ProcessGroup,
  startedAt: Date,
  attempts: Attempts | undefined,
): Promise<void> {
  try {
    await store.update(run.job.id, (j) => {
      j.workerPid = worker.pid;
      const ticks = startStamp(worker.pid)?.ticks;
      if (ticks !== undefined) j.workerStartTicks = ticks;
      else delete j.workerStartTicks;
      attempts?.started(j, startedAt);
      return j;
    });
  } catch (err) {
    worker.stop(Date.now() + run.grace);
    await worker.ended;
    throw err;
  }
}

/**
 * How one attempt ended, as the record says it: a stop (timeout or cancel)
 * with how it went and how the worker itself ended (it may handle SIGTERM
 * and exit with a code of its own, or finish just as the signal was sent),
 * a success, or a failure.
 */
function attemptEnd(
  run: JobRun,
  ended: GroupEnd,
  lookup: ReturnType<typeof lookUpProgram>,
): JobEnd {
  const { status } = ended;
  const how = status.signal === null
    ? { exitCode: status.code }
    : { signal: status.signal };
  if (ended.stop !== undefined) {
    // A stop is only ever started with a halt set.
    const halt = run.halt!;
    const said = status.signal !== null
      ? `, and the worker ended by ${status.signal}`
      : `, and the worker exited with code ${status.code}`;
    return {
      ...how,
      status: halt.status,
      error: halt.error + describeStop(ended.stop) + said,
    };
  }
  if (status.success) return { ...how, status: "completed" };
  return {
    ...how,
    status: "failed",
    error: status.signal !== null
      ? `Killed by ${status.signal}`
      : exitMessage(status.code, run.job.argv![0], lookup),
  };
}

/**
 * Handles a stop signal (or a cancel the store reported) as a cancel.
 * cancel() records its request and deadline before it signals; a signal
 * without a request (a kill from elsewhere) gets the job's grace. Never a
 * rejection nobody handles, which would end the supervisor with the worker
 * running: if the stop cannot start the usual way, the group is killed
 * outright, and the worker's end is recorded.
 */
function cancelOn(store: JobStore, run: JobRun, signal: Deno.Signal): void {
  const received = `Cancelled: the supervisor received ${signal}`;
  (async () => {
    const current = await store.loadRecorded(run.job.id).catch(() => run.job);
    const requested = cancelDeadline(current);
    run.stop({
      status: "cancelled",
      error: requested !== undefined ? "Cancelled" : received,
    }, requested ?? Date.now() + run.grace);
  })().catch((err) => {
    warn(
      `stopping the job on ${signal} failed (${
        String(err)
      }); killing its process group`,
    );
    run.setHalt({ status: "cancelled", error: received });
    run.worker?.signal("SIGKILL");
  });
}

async function startFailed(
  job: Job,
  recorder: EndRecorder,
  err: unknown,
): Promise<Job> {
  const message = `Cannot start the job's shell /bin/sh: ${String(err)}`;
  await appendLogNote(job.logPath, message);
  return await recorder.record({ status: "failed", error: message });
}
