// The Deno side of a job's supervision, by role: the Deno supervisor (the
// fallback where the perl shim cannot run: it takes the job's lock, runs
// the job, journals its end, then finishes it), the finisher (finish.ts,
// which the shim runs once its job has ended), and the PostgreSQL store's
// renewer of a host (store/pg_lease.ts).

import { readControl } from "../store/control_file.ts";
import type { JobLease, JobStore } from "../store/contract.ts";
import { openStore } from "../store/open.ts";
import { livenessPath } from "../store/liveness.ts";
import { readJournal } from "../store/journal.ts";
import { sleep } from "../util/timer.ts";
import { keepRenewing } from "../spawn/launch.ts";
import { currentRuntime, supervisorArgv } from "../spawn/argv.ts";
import { writeEnd } from "./end.ts";
import { finishJob, TRY_AGAIN } from "./finish.ts";
import type { StopSignals } from "./stop_signals.ts";

/** What a Deno process started for a job does. */
export type Role = "supervise" | "finish" | "renew";

/**
 * Plays `role` for job `id` of the store `storeName`. Returns the process's
 * exit code: 0 when done, 1 when it could not be (the shim runs a finisher
 * that returns 1 again later).
 *
 * @param signals The process's signals, caught from its first moment.
 */
export async function runSupervisor(
  storeName: string,
  id: string,
  signals: StopSignals,
  role: Role = "supervise",
): Promise<number> {
  if (role === "renew") {
    // A pass: opens the store only if it has work; not patient (the next
    // period's pass tries again).
    const { renewPass } = await import("../store/pg_lease.ts");
    await renewPass(storeName).catch(() => {});
    return 0;
  }
  let store: JobStore;
  try {
    store = await openPatiently(storeName);
  } catch {
    // No store: the shim tries its finisher again; a Deno supervisor's job
    // reads lost once the start grace has passed.
    return role === "finish" ? TRY_AGAIN : 1;
  }
  await using _store = store;
  if (role === "finish") return await finishJob(store, id);
  let lease: JobLease;
  try {
    lease = await store.hold(id);
  } catch {
    // No record to write to (bad ID, record gone, directory unwritable):
    // readers will see the job as lost once the start grace has passed.
    return 1;
  }
  using _renewing = keepRenewing(store, supervisorArgv(currentRuntime()));
  try {
    if (await superviseHeld(store, id, lease, signals)) {
      // As the shim runs its finisher: again while it fails (the record
      // cannot be written, an uncaught error), the lock held (the job reads
      // as supervised), for a day.
      const giveUpAt = Date.now() + 24 * 60 * 60 * 1000;
      const live = livenessPath(store, id);
      for (let pause = 1_000;; pause = Math.min(pause * 2, 60_000)) {
        const code = await finishJob(store, id).catch(() => TRY_AGAIN);
        if (code === 0 || Date.now() > giveUpAt) return 0;
        await sleep(pause);
        // Deleted meanwhile, with its journal: nothing left to finish.
        if (readJournal(live) === undefined) return 0;
      }
    }
  } finally {
    await lease[Symbol.asyncDispose]();
  }
  // Not run (its starter died before it was marked running): what waits
  // starts now, this one too.
  const { schedulePending } = await import("../schedule/schedule.ts");
  await schedulePending(store);
  return 0;
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
 * Runs the held job, unless it is not to run (not `running` in its record;
 * late; cancelled before it started), and journals its end.
 *
 * @returns Whether an end was journaled.
 */
async function superviseHeld(
  store: JobStore,
  id: string,
  lease: JobLease,
  signals: StopSignals,
): Promise<boolean> {
  // A cancel the store reports (made on another host, before this hold)
  // is handled as the SIGTERM a cancel on this host sends.
  if (lease.cancelRequested.aborted) signals.deliver("SIGTERM");
  const live = livenessPath(store, id);
  const logPath = store.logPath(id);
  const job = await store.loadRecorded(id).catch(() => undefined);
  if (job?.status !== "running" || readJournal(live)?.end) return false;
  const at = `e${Date.now()}`;
  if (lease.late) {
    return await writeEnd(live, [at, 0, "-", "late", 0, "-"], signals, logPath);
  }
  const cancelled = job.cancelRequestedAt !== undefined ||
    signals.received !== undefined || hasCancel(live);
  if (cancelled) {
    return await writeEnd(live, [at, 0, "-", "pre", 0, "-"], signals, logPath);
  }
  const { runJob } = await import("./run.ts");
  try {
    return await runJob(job, live, logPath, signals, store.reopenSpec());
  } catch (err) {
    const why = `x${String(err)}`;
    return await writeEnd(
      live,
      [`e${Date.now()}`, 0, "-", why, 0, "-"],
      signals,
      logPath,
    );
  }
}

function hasCancel(live: string): boolean {
  try {
    return readControl(live).some((line) => line.startsWith("C "));
  } catch {
    return false;
  }
}
