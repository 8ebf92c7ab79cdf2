// The Deno supervisor's last act: its job's end into the journal,
// patiently (a full disk must not turn a known end into "lost"; the lock
// is held meanwhile, so the job reads as running), and when that cannot be
// done at all, its last words in the job's log.

import type { JobEnd } from "../store/job.ts";
import { appendJournal } from "../store/journal.ts";
import { sleep } from "../util/timer.ts";
import { warn } from "./log_note.ts";
import type { StopSignals } from "./stop_signals.ts";

/**
 * Appends the job's `E` line (durably) to its journal, trying again with a
 * pause that doubles up to 2 s while the write fails, for up to a day, or
 * until a stop signal comes (the worker has ended: whoever sends one wants
 * the supervisor gone).
 *
 * @returns Whether it was written; if not, its last words were said.
 */
export async function writeEnd(
  live: string,
  fields: (string | number)[],
  signals: StopSignals,
  logPath: string,
): Promise<boolean> {
  const began = Date.now();
  for (let pause = 50;; pause = Math.min(pause * 2, 2_000)) {
    try {
      appendJournal(live, "E", fields, true);
      return true;
    } catch (err) {
      if (signals.lastAt >= began || Date.now() - began > 86_400_000) {
        await lastWords(logPath, `The job's end could not be recorded: ${err}`);
        return false;
      }
      if (pause === 50) warn(`cannot record the job's end yet: ${err}`);
      const until = Date.now() + pause;
      while (Date.now() < until && signals.lastAt < began) await sleep(50);
    }
  }
}

/** "failed, exit code 3, Exited with code 3": a job's end, said briefly. */
export function describeEnd(end: JobEnd): string {
  return [
    end.status,
    ...end.exitCode === undefined ? [] : [`exit code ${end.exitCode}`],
    ...end.signal === undefined ? [] : [`signal ${end.signal}`],
    ...end.error === undefined ? [] : [end.error],
  ].join(", ");
}

/**
 * The supervisor's last words, when the job's end could not be recorded at
 * all: appended to the job's log, where whoever looks at the job will read
 * them, and to stderr. Both are best effort; the disk may still be full.
 */
export async function lastWords(logPath: string, text: string): Promise<void> {
  warn(text);
  // Never made anew: a log removed with its job (or its jobs directory)
  // must stay gone, and a directory being removed must not gain a file.
  await Deno.writeTextFile(logPath, `\n[@epack/detach supervisor] ${text}\n`, {
    append: true,
    create: false,
  }).catch(() => {});
}
