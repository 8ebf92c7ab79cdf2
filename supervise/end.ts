// The Deno supervisor's last act: its job's end into the journal,
// patiently (a full disk must not turn a known end into "lost"; the lock
// is held meanwhile, so the job reads as running), and when that cannot be
// done at all, its last words in the job's log.

import type { JobEnd } from "../store/job.ts";
import { appendJournal } from "../store/journal.ts";
import { formatDuration } from "../duration.ts";
import { sleep } from "../util/timer.ts";
import { warn } from "./log_note.ts";
import type { StopSignals } from "./stop_signals.ts";

/** How long the end is tried while the write fails: 24 hours. */
const END_PATIENCE = 24 * 60 * 60 * 1000;
/** The first pause between two tries; it doubles, up to 2 s. */
const END_FIRST_PAUSE = 50;
const END_MAX_PAUSE = 2_000;

/**
 * Appends the job's `E` line (durably) to its journal, trying again with a
 * pause that doubles while the write fails, for up to a day, or until a
 * stop signal comes (the worker has ended: whoever sends one wants the
 * supervisor gone).
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
  let pause = END_FIRST_PAUSE;
  for (let tries = 1;; tries++) {
    try {
      appendJournal(live, "E", fields, true);
      return true;
    } catch (err) {
      if (signals.lastAt >= began || Date.now() - began >= END_PATIENCE) {
        await lastWords(
          logPath,
          `The job's end (${
            fields.slice(1, 4).join(" ")
          }) could not be recorded after ${tries} tries over ${
            formatDuration(Date.now() - began)
          }: ${String(err)}`,
        );
        return false;
      }
      if (tries === 1) warn(`cannot record the job's end yet: ${err}`);
      const until = Date.now() + pause;
      while (Date.now() < until && signals.lastAt < began) await sleep(50);
      pause = Math.min(pause * 2, END_MAX_PAUSE);
    }
  }
}

/** "failed, exit code 3, Exited with code 3": a job's end, said briefly. */
export function describeEnd(end: JobEnd): string {
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
export async function lastWords(logPath: string, text: string): Promise<void> {
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
