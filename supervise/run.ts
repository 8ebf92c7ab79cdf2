// The Deno supervisor's run of a job (the fallback where the perl shim
// cannot run): its worker, again after each failure while retries are
// left, under one timeout for the whole job and any cancel. It plays the
// shim's part of the protocol (store/journal.ts): each attempt's worker and
// end, and the job's end, go into the journal as lines, which the finisher
// and every reader fold into the record.

import { readControl } from "../store/control_file.ts";
import type { Job } from "../store/job.ts";
import { appendJournal } from "../store/journal.ts";
import {
  DEFAULT_KILL_GRACE,
  DEFAULT_RETRY_DELAY,
  retryPause,
} from "../store/job_options.ts";
import { signalNumber } from "../process/signals.ts";
import {
  type GroupEnd,
  type GroupStop,
  type ProcessGroup,
  stopGroup,
} from "../process/group.ts";
import { groupAlive, groupMembers, readProcess } from "../process/inspect.ts";
import { scheduleTimeout } from "../util/timer.ts";
import { formatDuration } from "../duration.ts";
import { appendLogNote } from "./log_note.ts";
import { writeEnd } from "./end.ts";
import type { StopSignals } from "./stop_signals.ts";
import { lookUpProgram, notRunnable, startWorker } from "./worker.ts";

/** What halts the job: `t` its timeout, `c` a cancel, `s<SIG>` a signal. */
type Halt = string;

/** The state the steps of one job's run share. */
class JobRun {
  readonly grace: number;
  halt: Halt | undefined;
  readonly #halted = Promise.withResolvers<void>();
  worker: ProcessGroup | undefined;
  /** Cancels read from the control file so far, and their deadline. */
  seen = 0;
  killAt: number | undefined;
  #noted = false;

  constructor(job: Job, readonly live: string, readonly logPath: string) {
    this.grace = job.grace ?? DEFAULT_KILL_GRACE;
  }

  /** Control lines that no longer pause: their worker has ended. */
  unpaused = 0;

  /** The control file's requests: cancels' grace left, and paused or not. */
  control(): { cancels: number[]; paused: boolean; lines: number } {
    let lines: string[] = [];
    try {
      lines = readControl(this.live);
    } catch (err) {
      if (!this.#noted) {
        void appendLogNote(this.logPath, (err as Error).message);
      }
      this.#noted = true;
    }
    const cancels: number[] = [];
    let paused = false;
    lines.forEach((line, i) => {
      const [k, v] = line.split(" ");
      if (k === "C") cancels.push(Math.max(0, Number(v) || 0));
      if ((k === "P" || k === "R") && i >= this.unpaused) paused = k === "P";
    });
    return { cancels, paused, lines: lines.length };
  }

  get halted(): Promise<void> {
    return this.#halted.promise;
  }

  /** Halts the job (the first halt counts) and stops the worker, if any. */
  stop(halt: Halt, killAt: number): void {
    if (this.halt === undefined) {
      this.halt = halt;
      this.#halted.resolve();
    }
    this.worker?.stop(killAt);
  }
}

/**
 * Runs the job to its end and writes that end into its journal.
 *
 * @param live The job's journal.
 * @param logPath The job's log (made from its ID).
 * @returns Whether the end was written.
 */
export async function runJob(
  job: Job,
  live: string,
  logPath: string,
  signals: StopSignals,
  storeName: string,
): Promise<boolean> {
  const end = (fields: (string | number)[]) =>
    writeEnd(live, fields, signals, logPath);
  if ((job.argv ?? []).length === 0) {
    return await end([
      `e${Date.now()}`,
      0,
      "fthe job's record has no command line",
      "-",
      0,
      "-",
    ]);
  }
  const run = new JobRun(job, live, logPath);
  signals.onSignal((signal) => cancelOn(run, signal));
  // One cap for the whole job, every attempt; stopped when this returns.
  await using cap = job.logMax === undefined
    ? undefined
    : await (await import("./log_cap.ts")).startLogCap(logPath, job.logMax);
  const timeout = job.timeout ?? 0;
  using _timer = scheduleTimeout(timeout, () => {
    run.stop("t", Date.now() + run.grace);
  });
  const retries = job.retries ?? 0;
  for (let n = 1;; n++) {
    const lookup = lookUpProgram(job);
    let worker: ProcessGroup;
    try {
      worker = startWorker({ ...job, logPath }, storeName, run.grace);
    } catch (err) {
      return await end([`e${Date.now()}`, n, `f${String(err)}`, "-", 0, "-"]);
    }
    // Set before anything is awaited: a stop from now on reaches it.
    run.worker = worker;
    // A stop signal that came before the first worker started.
    if (n === 1 && signals.received !== undefined) {
      cancelOn(run, signals.received);
    }
    appendJournal(live, "W", [
      n,
      worker.pid,
      readProcess(worker.pid)?.startTicks ?? "-",
    ]);
    // Once its leader has ended, the group starts no stop (a cancel then
    // must not turn its real end into "cancelled"), but hastens one under
    // way, while what is left of the group is still being stopped.
    const ended = await worker.ended;
    run.worker = undefined;
    const at = `e${Date.now()}`;
    // What is left of a paused group goes on.
    worker.signal("SIGCONT");
    if (ended.stop === undefined) {
      await stopLeft(worker.pid, run.grace, logPath);
    }
    // A reader who sees the end finds the log under its cap.
    await cap?.workerEnded();
    const status = statusOf(ended, job, lookup);
    if (ended.stop !== undefined) {
      return await end([at, n, status, run.halt!, 0, stopOf(ended.stop)]);
    }
    if (status === "x0" || n > retries) {
      return await end([at, n, status, "-", 0, "-"]);
    }
    // A stop that came as the worker failed: no more attempts.
    if (run.halt === undefined) {
      appendJournal(live, "A", [at, n, status]);
      const pause = retryPause(job.retryDelay ?? DEFAULT_RETRY_DELAY, n);
      await appendLogNote(
        logPath,
        `attempt ${n + 1} of ${retries + 1} after ${said(ended)}, in ${
          formatDuration(pause)
        }`,
      );
      // As the shim does: the pause held the worker that ended, not the next.
      const { paused, lines } = run.control();
      if (paused) {
        await appendLogNote(
          logPath,
          `the job was paused: attempt ${n + 1} will run, not paused`,
        );
      }
      run.unpaused = lines;
      await pauseUnless(pause, run.halted);
      while (run.halt === undefined && run.control().paused) {
        await pauseUnless(1_000, run.halted);
      }
    }
    if (run.halt !== undefined) {
      return await end([at, n, status, run.halt, 1, "-"]);
    }
  }
}

/**
 * Stops what a worker that ended by itself left in its group (it would run
 * on unsupervised), as a stop would, and says so in the log.
 */
async function stopLeft(pgid: number, grace: number, logPath: string) {
  const left = groupMembers(pgid) ?? ((await groupAlive(pgid)) ? [-1] : []);
  if (left.length === 0) return;
  await stopGroup(pgid, { grace });
  const what = left[0] < 0
    ? "what"
    : `${left.length} process${left.length > 1 ? "es" : ""}`;
  await appendLogNote(
    logPath,
    `stopped ${what} the job left in its process group`,
  );
}

/** The status field of an attempt's end (store/journal.ts). */
function statusOf(
  ended: GroupEnd,
  job: Job,
  lookup: ReturnType<typeof lookUpProgram>,
): string {
  const { code, signal } = ended.status;
  if (signal !== null) return `k${signalNumber(signal) ?? 0}`;
  const why = notRunnable(code, job.argv![0], lookup);
  return why === undefined ? `x${code}` : `n${code}:${why}`;
}

/** "exit code 3" or "SIGKILL", for the log's note between attempts. */
function said(ended: GroupEnd): string {
  return ended.status.signal ?? `exit code ${ended.status.code}`;
}

/** The stop field of the journal's end. */
function stopOf(stop: GroupStop): string {
  const r = stop.result;
  if (r === undefined) return `!${String(stop.error)}`;
  return [
    stop.startedAt,
    stop.killAt,
    r.killed ? 1 : 0,
    r.escaped === undefined ? "-" : r.escaped.length,
    r.remaining.join("."),
  ].join(",");
}

/** Waits `ms`, or less if `wake` settles first. */
function pauseUnless(ms: number, wake: Promise<void>): Promise<void> {
  if (!(ms > 0)) return Promise.resolve();
  let timer: Disposable | undefined;
  return Promise.race([
    new Promise<void>((resolve) => {
      timer = scheduleTimeout(ms, resolve);
    }),
    wake,
  ]).finally(() => timer?.[Symbol.dispose]());
}

/**
 * Handles a stop signal as a cancel: with the deadline the control file's
 * new cancel lines ask for (the earliest counts), or the job's grace for a
 * signal sent without one (a kill from elsewhere).
 */
function cancelOn(run: JobRun, signal: Deno.Signal): void {
  const { cancels } = run.control();
  const now = Date.now();
  for (const grace of cancels.slice(run.seen)) {
    run.killAt = Math.min(run.killAt ?? Infinity, now + grace);
  }
  run.seen = Math.max(run.seen, cancels.length);
  const requested = cancels.length > 0;
  run.stop(requested ? "c" : `s${signal}`, run.killAt ?? now + run.grace);
}
