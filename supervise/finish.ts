// The job's finisher (docs/design.md, "How a job runs"): what follows a
// job's end, once the end is in the job's journal. The shim runs it as a
// child, and again while it fails; the Deno supervisor runs it in its own
// process. It folds the end into the record, claims the end hook and starts
// it, runs a scheduler pass for the jobs that waited, then waits for the
// hook. Every step can run twice: the fold and the claim are pure updates.

import { InvalidJobFileError, type Job } from "../store/job.ts";
import { JobNotFoundError } from "../store/job_id.ts";
import type { JobStore } from "../store/contract.ts";
import { isFinalStatus } from "../store/rules.ts";
import { livenessPath } from "../store/liveness.ts";
import { journalEnd, readJournal } from "../store/journal.ts";
import { ensureRenewer } from "../spawn/launch.ts";
import { currentRuntime, supervisorArgv } from "../spawn/argv.ts";
import { describeEnd, lastWords } from "./end.ts";

/**
 * The finisher's exit code that asks for another try (EX_TEMPFAIL); any
 * other failure is for good.
 */
export const TRY_AGAIN = 75;

/**
 * Finishes a job whose end is in its journal.
 *
 * @returns The process's exit code: 0 when done (or when nothing can ever
 * be done: the record is gone or no longer a job's), {@linkcode TRY_AGAIN}
 * when it should be tried again (the record could not be written yet).
 */
export async function finishJob(store: JobStore, id: string): Promise<number> {
  let job: Job;
  try {
    // A load folds the journal's end and writes it.
    await store.load(id);
    job = await store.loadRecorded(id);
  } catch (err) {
    if (err instanceof JobNotFoundError || err instanceof InvalidJobFileError) {
      const end = readJournal(livenessPath(store, id))?.end;
      const said = end === undefined
        ? "unknown"
        : describeEnd(journalEnd({ retries: 0 } as Job, end));
      await lastWords(
        store.logPath(id),
        `The job's end (${said}) could not be recorded: ${String(err)}`,
      );
      return 0;
    }
    return TRY_AGAIN;
  }
  if (!isFinalStatus(job.status)) return TRY_AGAIN;
  const hook = await claimHook(store, job).catch(() => undefined);
  const running = hook === undefined ? undefined : runHook(store, hook);
  // What waited for this job starts now, not after the end hook, which is
  // not the job and may take a while.
  const { schedulePending } = await import("../schedule/schedule.ts");
  await schedulePending(store);
  ensureRenewer(store, supervisorArgv(currentRuntime()));
  await running;
  return 0;
}

/**
 * Claims the job's end hook (`on_end_started_at`, set where it is absent,
 * by a pure update): the job as recorded if this finisher may run it,
 * `undefined` if it has none or another claimed it.
 */
async function claimHook(store: JobStore, job: Job): Promise<Job | undefined> {
  if (job.onEnd === undefined || job.onEndStartedAt !== undefined) return;
  const at = new Date();
  let claimed = false;
  const after = await store.update(job.id, (j) => {
    claimed = j.onEnd !== undefined && j.onEndStartedAt === undefined &&
      isFinalStatus(j.status);
    if (claimed) j.onEndStartedAt = at;
    return j;
  });
  return claimed ? after : undefined;
}

/**
 * Runs the job's end hook, with the job's log cap kept for its output. Its
 * log is the one made from its ID on this host, never a record's.
 */
async function runHook(store: JobStore, ended: Job): Promise<void> {
  ended.logPath = store.logPath(ended.id);
  const { hookTimeout, runEndHook } = await import("./hook.ts");
  await using cap = ended.logMax === undefined
    ? undefined
    : await (await import("./log_cap.ts")).startLogCap(
      ended.logPath,
      ended.logMax,
    ).catch(() => undefined);
  await runEndHook(ended, hookTimeout(), cap);
}
