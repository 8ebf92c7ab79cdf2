// The job's supervisor: the long-lived part of every job. It holds the job's
// liveness lock for its whole life, runs the worker with its output going
// straight to the log file, stops the worker's process group at the timeout
// or on cancel, and records how the job ended.

import {
  type FinalStatus,
  InvalidJobFileError,
  type Job,
  type JobEnd,
} from "../store/job.ts";
import { JOB_ID_ENV, JobNotFoundError } from "../store/job_id.ts";
import type { JobLease, JobStore } from "../store/contract.ts";
import { openStore, STORE_ENV } from "../store/open.ts";
import { cancelDeadline, SUPERVISOR_START_GRACE_MS } from "../store/rules.ts";
import { DEFAULT_KILL_GRACE } from "../store/job_options.ts";
import { scheduleTimeout, stopProcessGroup } from "../timeout.ts";
import {
  isEnded,
  readProcess,
  signalGroup,
  startStamp,
} from "../process/inspect.ts";
import { formatDuration, MAX_DURATION } from "../duration.ts";
import { type LogCap, startLogCap } from "./log_cap.ts";
import { DEFAULT_RETRY_DELAY, retryPause } from "../store/job_options.ts";
import {
  Attempts,
  describeWorkerEnd,
  pauseUnless,
  retryNote,
} from "./retry.ts";
import { appendLogNote } from "./log_note.ts";
import { hookTimeout, runEndHook } from "./hook.ts";
import { sleep } from "../util/timer.ts";

const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

/**
 * When the last stop signal came (ms since the epoch): one that comes while
 * an end waits to be recorded tells the supervisor to stop waiting.
 */
let lastStopSignalAt = 0;

/**
 * Catches the signals that would otherwise end the supervisor, from its
 * first moment to its last: a supervisor killed by one would leave the worker
 * running with nobody to record its end. The first signal is remembered, so
 * one that arrives before the worker starts still cancels the job.
 */
class StopSignals implements Disposable {
  received: Deno.Signal | undefined;
  #handler: ((signal: Deno.Signal) => void) | undefined;
  #listeners: [Deno.Signal, () => void][] = [];

  constructor() {
    for (const signal of STOP_SIGNALS) {
      const fn = () => {
        lastStopSignalAt = Date.now();
        this.received ??= signal;
        this.#handler?.(signal);
      };
      Deno.addSignalListener(signal, fn);
      this.#listeners.push([signal, fn]);
    }
  }

  /**
   * Handles `signal` as if it had been received: how a cancel request that
   * the store reports (rather than a signal) reaches the supervisor.
   */
  deliver(signal: Deno.Signal): void {
    this.received ??= signal;
    this.#handler?.(signal);
  }

  /** From now on, signals go to `handler`. */
  onSignal(handler: (signal: Deno.Signal) => void): void {
    this.#handler = handler;
  }

  [Symbol.dispose](): void {
    for (const [signal, fn] of this.#listeners) {
      Deno.removeSignalListener(signal, fn);
    }
  }
}

/**
 * Opens the job's store, trying again for up to 20 s (within the start
 * grace period) while a database cannot be reached.
 */
async function openPatiently(name: string): Promise<JobStore> {
  const giveUpAt = Date.now() + 20_000;
  let pause = 250;
  for (;;) {
    try {
      return await openStore(name);
    } catch (err) {
      const transient = (err as { transient?: unknown }).transient === true;
      if (!transient || Date.now() >= giveUpAt) throw err;
      await sleep(pause);
      pause = Math.min(pause * 2, 4_000);
    }
  }
}

/**
 * Supervises one job to its end, runs a scheduler pass (which starts the jobs
 * that waited for it), then runs its end hook, if it has one. Returns the
 * supervisor's exit code: 0 when the job's end was recorded, 1 when nothing
 * could be recorded.
 */
export async function runSupervisor(
  storeName: string,
  id: string,
): Promise<number> {
  // Before the liveness lock: once it is held, cancel() may signal us.
  using signals = new StopSignals();
  let store: JobStore;
  try {
    store = await openPatiently(storeName);
  } catch {
    // No store: readers will see the job as lost once the start grace has
    // passed.
    return 1;
  }
  // Closed last, after the lease is let go and the hook has run.
  await using _store = store;
  const { code, ended } = await superviseHeld(store, storeName, id, signals);
  // The job's slot is free and its end recorded: what waited for it starts
  // now, not after the end hook, which is not the job and may take a while.
  const { schedulePending } = await import("../schedule/schedule.ts");
  await schedulePending(store);
  // From here the job's end is in its record: `jobs wait` has seen it, and
  // the liveness lock is let go (a final record is never called lost).
  if (ended?.onEnd !== undefined) {
    // A cancel or a signal now has no job to stop, and the hook is not the
    // job: it is bounded by its own timeout, not by a cancel.
    signals.onSignal(() => {});
    // The hook writes into the job's log: a cap on the log holds for its
    // output too (a hook may print as much as a worker), in the same mode.
    await using cap = ended.logMax === undefined
      ? undefined
      : await startLogCap(ended.logPath, ended.logMax).catch(() => undefined);
    await runEndHook(ended, hookTimeout(), cap);
  }
  return code;
}

/**
 * Takes the job's liveness lock, supervises the job to its end and lets the
 * lock go. Returns the supervisor's exit code and the job's end as recorded
 * here (`undefined` if this supervisor recorded none).
 */
async function superviseHeld(
  store: JobStore,
  storeName: string,
  id: string,
  signals: StopSignals,
): Promise<{ code: number; ended?: Job }> {
  let lease: JobLease;
  try {
    lease = await store.hold(id);
  } catch {
    // No record to write to (bad ID, record gone, directory unwritable):
    // readers will see the job as lost once the start grace has passed.
    return { code: 1 };
  }
  // A cancel the store reports (one made on another host) is handled as the
  // SIGTERM a cancel on this host sends.
  const onCancel = () => signals.deliver("SIGTERM");
  if (lease.cancelRequested.aborted) onCancel();
  else lease.cancelRequested.addEventListener("abort", onCancel);
  // Decided by the store once the hold is taken: a reader that found the
  // job unheld before took its time earlier, so if it called the job lost
  // (not started within the grace period), this says late too, and the job
  // is not run.
  const late = lease.late;
  const logPath = lease.previous.logPath;
  try {
    const job = await store.loadRecorded(id);
    if (job.status !== "running") return { code: 0 };
    if (late) {
      const ended = await recordEnd(store, id, {
        status: "lost",
        error: `The job's supervisor started more than ${
          formatDuration(SUPERVISOR_START_GRACE_MS)
        } late; it was not run`,
      });
      return { code: 0, ended };
    }
    if (job.cancelRequestedAt !== undefined || signals.received !== undefined) {
      const ended = await recordEnd(store, id, {
        status: "cancelled",
        error: "Cancelled before it started",
      });
      return { code: 0, ended };
    }
    return {
      code: 0,
      ended: await supervise(store, job, signals, storeName),
    };
  } catch (err) {
    if (err instanceof EndNotRecordedError) {
      await lastWords(logPath, err.message);
      return { code: 1 };
    }
    const error = `Supervisor error: ${String(err)}`;
    try {
      const ended = await recordEnd(store, id, { status: "failed", error });
      return { code: 1, ended };
    } catch (again) {
      await lastWords(logPath, `${error}; ${String(again)}`);
    }
    return { code: 1 };
  } finally {
    lease.cancelRequested.removeEventListener("abort", onCancel);
    await lease[Symbol.asyncDispose]();
  }
}

/**
 * Starts one attempt of the job's worker: the one place where the worker's
 * process is made. Its output goes to the log through a shell redirect: the
 * kernel writes it, nothing passes through JavaScript, so the log is
 * byte-exact and as fast as `cmd > file`. The shell execs the worker, so the
 * worker keeps the shell's PID, and with it the process group we stop.
 *
 * @param job The job.
 * @param _attempt Which attempt this is, from 1.
 * @param storeName The job's store, for the worker's reports.
 * @param cap The job's log cap, if it has one: it says where the output
 * goes (the same redirect, trimmed in place, or a pipe it copies).
 * @throws If the shell cannot be started.
 */
function startWorker(
  job: Job,
  _attempt: number,
  storeName: string,
  cap: LogCap | undefined,
): Deno.ChildProcess {
  const [script, arg0] = cap?.shell ?? ['exec "$@" >>"$0" 2>&1', job.logPath];
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", script, arg0, ...job.argv ?? []],
    cwd: job.workingDir,
    // Marks every process of the job, so a lost job's processes can be
    // told from strangers once the worker is gone; the job may read it too.
    // The store is its default store (for `jobs` commands it runs) and
    // where report.ts writes its progress and result.
    env: { [JOB_ID_ENV]: job.id, [STORE_ENV]: storeName },
    stdin: "null",
    stdout: cap?.stdout ?? "null",
    stderr: "null",
    // Its own session and process group, so the whole group can be
    // signalled without touching the supervisor.
    detached: true,
  }).spawn();
  cap?.attach(child);
  return child;
}

/** Why the job is being stopped: the first of its timeout and a cancel. */
interface Halt {
  status: FinalStatus;
  error: string;
}

/** One worker the supervisor runs, and its stop if one was started. */
interface Worker {
  pid: number;
  stopping?: Stopping;
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
async function supervise(
  store: JobStore,
  job: Job,
  signals: StopSignals,
  storeName: string,
): Promise<Job> {
  const argv = job.argv ?? [];
  if (argv.length === 0) {
    return await recordEnd(store, job.id, {
      status: "failed",
      error: "The job's record has no command line to run",
    });
  }
  const grace = job.grace ?? DEFAULT_KILL_GRACE;
  // What marks the job's processes, so those that leave its group (setsid)
  // are stopped too.
  const mark = `${JOB_ID_ENV}=${job.id}`;
  // Without process inspection (/proc needs --allow-all in Deno 2.9) a
  // worker's end is only known from its status.
  const procReadable = readProcess(Deno.pid) !== undefined;
  const retries = job.retries ?? 0;
  // Each attempt is recorded only for a job that may have more than one:
  // a job without retries keeps its record (and its writes) as before.
  const attempts = retries > 0
    ? new Attempts(store, job.id, retries)
    : undefined;

  // Set once, by the first of timeout and cancel (or a supervisor failure);
  // from then on no attempt is started.
  let halt: Halt | undefined;
  const halted = Promise.withResolvers<void>();
  // The worker of the attempt under way, if one is.
  let worker: Worker | undefined;
  const stop = (status: FinalStatus, error: string, killAt: number) => {
    if (halt === undefined) {
      halt = { status, error };
      halted.resolve();
    }
    const w = worker;
    if (w === undefined) return;
    // Its SIGKILL deadline can only move earlier, when a later cancel asks.
    if (w.stopping !== undefined) {
      w.stopping.hasten(killAt);
      return;
    }
    // The worker may have ended on its own a moment ago, before its status
    // reached us (a zombie, or already reaped by the runtime): its real end
    // must then be recorded, not a timeout or cancel.
    const info = readProcess(w.pid);
    const ended = info === undefined ? procReadable : isEnded(info);
    if (ended) return;
    w.stopping = new Stopping(w.pid, mark, halt.status, halt.error, killAt);
  };
  // cancel() records its request and its deadline before it signals us; a
  // signal without a request (a kill from elsewhere) gets the job's grace.
  const handleSignal = async (signal: Deno.Signal) => {
    const current = await store.loadRecorded(job.id).catch(() => job);
    const requested = cancelDeadline(current);
    stop(
      "cancelled",
      requested !== undefined
        ? "Cancelled"
        : `Cancelled: the supervisor received ${signal}`,
      requested ?? Date.now() + grace,
    );
  };
  // Never a rejection nobody handles: it would end the supervisor with the
  // worker running and no end recorded. If the stop cannot start the usual
  // way, the group is killed outright, and the worker's end is recorded.
  const onSignal = (signal: Deno.Signal) => {
    handleSignal(signal).catch((err) => {
      console.error(
        `[@epack/detach supervisor] stopping the job on ${signal} failed (${
          String(err)
        }); killing its process group`,
      );
      halt ??= {
        status: "cancelled",
        error: `Cancelled: the supervisor received ${signal}`,
      };
      halted.resolve();
      try {
        if (worker !== undefined) signalGroup(worker.pid, "SIGKILL");
      } catch {
        // The group is gone already.
      }
    });
  };
  signals.onSignal(onSignal);

  // One cap for the whole job, every attempt: its mode is decided once.
  // Finished (the watch stopped) when supervise returns; each worker's end
  // trims the log first, so the end is recorded with the log under its cap.
  await using cap = job.logMax === undefined
    ? undefined
    : await startLogCap(job.logPath, job.logMax);

  // One timeout for the whole job, from its first attempt.
  const timeout = job.timeout ?? 0;
  using _timer = scheduleTimeout(timeout, () => {
    stop(
      "timed_out",
      `Timed out: ran past its timeout of ${formatDuration(timeout)}`,
      Date.now() + grace,
    );
  });

  for (let n = 1;; n++) {
    let child: Deno.ChildProcess;
    const startedAt = new Date();
    try {
      child = startWorker(job, n, storeName, cap);
    } catch (err) {
      return await startFailed(store, job, err);
    }
    // Set before anything is awaited: a stop from now on reaches it.
    const w: Worker = { pid: child.pid };
    worker = w;
    // A signal that came while the first worker was starting.
    if (n === 1 && signals.received !== undefined) onSignal(signals.received);
    try {
      await store.update(job.id, (j) => {
        j.workerPid = w.pid;
        const ticks = startStamp(w.pid)?.ticks;
        if (ticks !== undefined) j.workerStartTicks = ticks;
        else delete j.workerStartTicks;
        attempts?.started(j, startedAt);
        return j;
      });
    } catch (err) {
      // Without a record of the worker nobody could stop it later.
      await stopProcessGroup(w.pid, { grace, mark }).catch(() => {});
      await child.status;
      throw err;
    }

    const status = await child.status;
    // Taken at once: a cancel that comes after the worker has ended on its
    // own must not turn its real end into "cancelled".
    worker = undefined;
    const stopped = w.stopping;
    const endedAt = new Date();
    // The log is trimmed (or the pipe's copy done) before the end is
    // recorded: a reader who sees the end finds the log under its cap.
    await cap?.workerEnded();
    const ended = status.signal === null
      ? { exitCode: status.code }
      : { signal: status.signal };
    if (stopped !== undefined) {
      // Leftover grandchildren get the rest of the escalation before the
      // end is recorded, so "timed out" means nothing of the job is still
      // running.
      const how = await stopped.finished();
      // Say how the worker itself ended: a worker may handle SIGTERM and
      // exit with a code of its own, or finish just as the signal was sent.
      const said = status.signal !== null
        ? `, and the worker ended by ${status.signal}`
        : `, and the worker exited with code ${status.code}`;
      const error = stopped.error + how + said;
      await attempts?.ended(startedAt, { endedAt, ...ended, error });
      return await recordEnd(store, job.id, {
        status: stopped.status,
        error: error + (attempts?.of(n) ?? ""),
        ...ended,
      }, endedAt);
    }
    if (status.success) {
      await attempts?.ended(startedAt, { endedAt, ...ended });
      return await recordEnd(
        store,
        job.id,
        { status: "completed", ...ended },
        endedAt,
      );
    }
    const error = status.signal !== null
      ? `Killed by ${status.signal}`
      : exitMessage(status.code, argv[0]);
    await attempts?.ended(startedAt, { endedAt, ...ended, error });
    if (n > retries) {
      return await recordEnd(store, job.id, {
        status: "failed",
        error: error + (attempts?.of(n) ?? ""),
        ...ended,
      }, endedAt);
    }
    // A stop that came as the worker failed: no more attempts.
    if (halt === undefined) {
      const pause = retryPause(job.retryDelay ?? DEFAULT_RETRY_DELAY, n);
      await appendLogNote(
        job.logPath,
        retryNote(n + 1, retries + 1, ended, pause),
      );
      await pauseUnless(pause, halted.promise);
    }
    if (halt !== undefined) {
      const h: Halt = halt;
      return await recordEnd(store, job.id, {
        status: h.status,
        error: `${h.error}; attempt ${n} of ${retries + 1} had failed (${
          describeWorkerEnd(ended)
        }), and attempt ${n + 1} was not started`,
        ...ended,
      });
    }
  }
}

/**
 * A stop of the worker's process group under way: SIGTERM now, SIGKILL at
 * `killAt`, a deadline that a later, shorter cancel can move earlier (never
 * later) while the stop runs.
 */
class Stopping {
  readonly status: FinalStatus;
  readonly error: string;
  readonly #started = Date.now();
  #killAt: number;
  readonly #escalate = new AbortController();
  #timer: Disposable | undefined;
  #over = false;
  readonly #done: Promise<string>;

  constructor(
    pid: number,
    mark: string,
    status: FinalStatus,
    error: string,
    killAt: number,
  ) {
    this.status = status;
    this.error = error;
    this.#killAt = Math.max(killAt, this.#started);
    const grace = Math.min(MAX_DURATION, this.#killAt - this.#started);
    this.#done = stopProcessGroup(pid, {
      grace,
      mark,
      escalate: this.#escalate.signal,
    }).then(
      // The record says what was seen to survive, never more than that.
      (r) =>
        (r.killed
          ? `; still running ${
            formatDuration(this.#killAt - this.#started)
          } after SIGTERM, so killed with SIGKILL`
          : "; sent SIGTERM") +
        (r.escaped === undefined
          ? "; processes that left its group could not be looked for"
          : r.escaped.length > 0
          ? `; ${r.escaped.length} process(es) that had left its group were stopped too`
          : "") +
        (r.remaining.length > 0
          ? `; still running after SIGKILL: PID ${r.remaining.join(", ")}`
          : ""),
      (err) => `; stopping it failed: ${String(err)}`,
    );
  }

  /** Moves SIGKILL to `killAt` if that is earlier than it is due. */
  hasten(killAt: number): void {
    // Once over, a timer set now would only keep the supervisor alive.
    if (this.#over || killAt >= this.#killAt) return;
    const now = Date.now();
    this.#killAt = Math.max(killAt, now);
    this.#timer?.[Symbol.dispose]();
    this.#timer = undefined;
    if (this.#killAt <= now) this.#escalate.abort();
    else {
      this.#timer = scheduleTimeout(
        this.#killAt - now,
        () => this.#escalate.abort(),
      );
    }
  }

  /** Waits for the group to be gone; says how it was stopped. */
  async finished(): Promise<string> {
    try {
      return await this.#done;
    } finally {
      this.#over = true;
      this.#timer?.[Symbol.dispose]();
    }
  }
}

// 126 and 127 are the shell's own codes for a program it could not run.
function exitMessage(code: number, program: string): string {
  if (code === 127) {
    return `Exited with code 127: ${program}: command not found`;
  }
  if (code === 126) {
    return `Exited with code 126: ${program}: permission denied or not executable`;
  }
  return `Exited with code ${code}`;
}

async function startFailed(
  store: JobStore,
  job: Job,
  err: unknown,
): Promise<Job> {
  const message = `Cannot start the job's shell /bin/sh: ${String(err)}`;
  try {
    await Deno.writeTextFile(job.logPath, message + "\n", { append: true });
  } catch {
    // The record still says what happened.
  }
  return await recordEnd(store, job.id, { status: "failed", error: message });
}

/** A job's end, as the supervisor records it. */
type End = JobEnd;

/**
 * How long the supervisor keeps trying to record a job's end when the write
 * fails (a full disk, say): 24 hours. All that time it holds the liveness
 * lock, so the job reads as running, not lost, and the end it knows (the
 * exit code) is written as soon as the disk has room again.
 */
const END_PATIENCE = 24 * 60 * 60 * 1000;
/** The first pause between two tries to record the end; it doubles. */
const END_FIRST_PAUSE = 50;
/** The longest pause between two tries to record the end. */
const END_MAX_PAUSE = 2_000;

/** The job's end could not be recorded: the supervisor gave up. */
class EndNotRecordedError extends Error {
  override get name(): string {
    return "EndNotRecordedError";
  }
}

/**
 * Records the job's end, trying again (with a pause that doubles up to
 * {@linkcode END_MAX_PAUSE}) for up to {@linkcode END_PATIENCE} while the
 * write fails: an end that is known must not turn into "lost" because the
 * disk was full for a while. A record that is gone or no longer readable
 * as a job is not retried: no wait would bring it back. A stop signal
 * (SIGTERM, SIGINT, SIGHUP) that comes while it waits ends the waiting: the
 * worker has ended, so there is nothing left to stop, and whoever sent it
 * wants the supervisor gone (a store that is gone for good, say).
 *
 * @throws {EndNotRecordedError} If it gives up.
 */
async function recordEnd(
  store: JobStore,
  id: string,
  end: End,
  at: Date = new Date(),
  patience = END_PATIENCE,
): Promise<Job> {
  const began = Date.now();
  const giveUpAt = began + patience;
  let pause = END_FIRST_PAUSE;
  let tries = 0;
  for (;;) {
    tries++;
    try {
      return await store.finish(id, end, at);
    } catch (err) {
      const permanent = err instanceof JobNotFoundError ||
        err instanceof InvalidJobFileError;
      const told = lastStopSignalAt >= began;
      if (permanent || told || Date.now() >= giveUpAt) {
        throw new EndNotRecordedError(
          `The job's end (${describeEnd(end)}) could not be recorded${
            permanent
              ? ""
              : told
              ? ` (${tries} tries; a stop signal ended the wait)`
              : ` after ${tries} tries over ${formatDuration(patience)}`
          }: ${String(err)}`,
          { cause: err },
        );
      }
      if (tries === 1) {
        warn(
          `cannot record the end of job ${id} yet (${describeEnd(end)}): ${
            String(err)
          }; trying again for up to ${formatDuration(patience)}`,
        );
      }
      await sleepUnlessStopped(
        Math.max(0, Math.min(pause, giveUpAt - Date.now())),
        began,
      );
      pause = Math.min(pause * 2, END_MAX_PAUSE);
    }
  }
}

/** Sleeps `ms`, in steps, ending early once a stop signal comes after `since`. */
async function sleepUnlessStopped(ms: number, since: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && lastStopSignalAt < since) {
    await sleep(Math.min(50, until - Date.now()));
  }
}

function describeEnd(end: End): string {
  const parts: string[] = [end.status];
  if (end.exitCode !== undefined) parts.push(`exit code ${end.exitCode}`);
  if (end.signal !== undefined) parts.push(`signal ${end.signal}`);
  if (end.error !== undefined) parts.push(end.error);
  return parts.join(", ");
}

/**
 * The supervisor's last words, when the job's end could not be recorded at
 * all: appended to the job's log, where whoever looks at the job will read
 * them, and to stderr. Both are best effort; the disk may still be full.
 */
async function lastWords(logPath: string, text: string): Promise<void> {
  warn(text);
  try {
    await Deno.writeTextFile(
      logPath,
      `\n[@epack/detach supervisor] ${text}\n`,
      // Never made anew: a log removed with its job (or its jobs directory)
      // must stay gone, and a directory being removed must not gain a file.
      { append: true, create: false },
    );
  } catch {
    // Nowhere left to say it.
  }
}

function warn(text: string): void {
  try {
    Deno.stderr.writeSync(
      new TextEncoder().encode(`@epack/detach supervisor: ${text}\n`),
    );
  } catch {
    // The supervisor's stderr is usually /dev/null; never fail on it.
  }
}
