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
  // A claim that cannot be written yet is tried again: a hook is not lost.
  let unclaimed = false;
  const running = job.onEnd === undefined || job.onEndStartedAt !== undefined
    ? undefined
    : runHook(store, job).catch(() => void (unclaimed = true));
  // What waited for this job starts now, not after the end hook, which is
  // not the job and may take a while. (And a store shared by hosts gets its
  // host's renewer back, should it have died.)
  const { schedulePending } = await import("../schedule/schedule.ts");
  const failed = await schedulePending(store);
  if (failed !== undefined) {
    const { appendLogNote } = await import("./log_note.ts");
    await appendLogNote(store.logPath(id), failed);
  }
  await running;
  return unclaimed ? TRY_AGAIN : 0;
}

/**
 * Claims the job's end hook (`on_end_started_at`, set where it is absent,
 * by a pure update), and starts it at once if this finisher has the claim.
 * A finisher killed before the claim is run again and claims it; between
 * the claim and the start (no await between them) the hook would be lost.
 * Everything else is done before: the modules loaded, the cap started, the
 * log's line that names the hook written (twice, should a finisher die
 * between it and the claim). The hook's log is the one made from the job's
 * ID on this host, never a record's.
 */
async function runHook(store: JobStore, job: Job): Promise<void> {
  const logPath = store.logPath(job.id);
  const { hookTimeout, runEndHook } = await import("./hook.ts");
  const { appendLogNote } = await import("./log_note.ts");
  await using cap = job.logMax === undefined
    ? undefined
    : await (await import("./log_cap.ts")).startLogCap(logPath, job.logMax)
      .catch(() => undefined);
  const timeout = hookTimeout();
  await appendLogNote(logPath, `on-end hook: ${job.onEnd}`);
  const at = new Date();
  let claimed = false;
  const ended = await store.update(job.id, (j) => {
    claimed = j.onEnd !== undefined && j.onEndStartedAt === undefined &&
      isFinalStatus(j.status);
    if (claimed) j.onEndStartedAt = at;
    return j;
  });
  if (!claimed) return;
  await runEndHook({ ...ended, logPath }, timeout, cap);
}
