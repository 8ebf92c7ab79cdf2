// The job's supervisor: the long-lived part of every job. In steps: catch
// the signals that would end it; open the store; take the job's liveness
// lock (held for its whole life); decide whether the job runs at all (late,
// cancelled before it started); run it to its end and record that
// (run.ts); let the lock go; run a scheduler pass for what waited for it;
// run its end hook.

import type { Job } from "../store/job.ts";
import type { JobLease, JobStore } from "../store/contract.ts";
import { openStore } from "../store/open.ts";
import { SUPERVISOR_START_GRACE_MS } from "../store/rules.ts";
import { formatDuration } from "../duration.ts";
import { sleep } from "../util/timer.ts";
import { EndNotRecordedError, EndRecorder, lastWords } from "./end.ts";
import type { StopSignals } from "./stop_signals.ts";
import { runJob } from "./run.ts";

/**
 * Supervises one job to its end, runs a scheduler pass (which starts the jobs
 * that waited for it), then runs its end hook, if it has one. Returns the
 * supervisor's exit code: 0 when the job's end was recorded, 1 when nothing
 * could be recorded.
 *
 * @param signals The supervisor's signals, caught from its first moment.
 */
export async function runSupervisor(
  storeName: string,
  id: string,
  signals: StopSignals,
): Promise<number> {
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
  if (ended?.onEnd !== undefined) await runHook(ended, signals);
  return code;
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
 * Takes the job's liveness lock, supervises the job to its end and lets the
 * lock go. Returns the supervisor's exit code and the job as its end was
 * recorded here (`undefined` if this supervisor recorded none).
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
  const recorder = new EndRecorder(store, id, signals);
  const logPath = lease.previous.logPath;
  try {
    const job = await store.loadRecorded(id);
    if (job.status !== "running") return { code: 0 };
    const refused = refusal(lease, job, signals);
    const ended = refused !== undefined
      ? await recorder.record(refused)
      : await runJob(store, job, signals, storeName, recorder);
    return { code: 0, ended };
  } catch (err) {
    if (err instanceof EndNotRecordedError) {
      await lastWords(logPath, err.message);
      return { code: 1 };
    }
    const error = `Supervisor error: ${String(err)}`;
    try {
      const ended = await recorder.record({ status: "failed", error });
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
 * The end of a job that is not run: one whose supervisor came too late (the
 * store decides, once the hold is taken: a reader that found the job unheld
 * before may have called it lost, and then this says late too), or that was
 * cancelled before it started.
 */
function refusal(
  lease: JobLease,
  job: Job,
  signals: StopSignals,
): { status: "lost" | "cancelled"; error: string } | undefined {
  if (lease.late) {
    return {
      status: "lost",
      error: `The job's supervisor started more than ${
        formatDuration(SUPERVISOR_START_GRACE_MS)
      } late; it was not run`,
    };
  }
  if (job.cancelRequestedAt !== undefined || signals.received !== undefined) {
    return { status: "cancelled", error: "Cancelled before it started" };
  }
  return undefined;
}

/**
 * Runs the job's end hook once the job's end is in its record (`jobs wait`
 * has seen it) and its liveness lock is let go. A cancel or a signal now has
 * no job to stop, and the hook is not the job: it is bounded by its own
 * timeout. A cap on the log holds for the hook's output too.
 */
async function runHook(ended: Job, signals: StopSignals): Promise<void> {
  signals.onSignal(undefined);
  // Loaded only for a job that has a hook (or a cap): the supervisor's
  // memory while its job runs.
  const { hookTimeout, runEndHook } = await import("./hook.ts");
  await using cap = ended.logMax === undefined
    ? undefined
    : await (await import("./log_cap.ts")).startLogCap(
      ended.logPath,
      ended.logMax,
    ).catch(() => undefined);
  await runEndHook(ended, hookTimeout(), cap);
}
