// The supervisor's last act: recording how the job ended, patiently (a full
// disk must not turn a known end into "lost"), and when that cannot be done
// at all, its last words in the job's log.

import { InvalidJobFileError, type Job, type JobEnd } from "../store/job.ts";
import { JobNotFoundError } from "../store/job_id.ts";
import type { JobStore } from "../store/contract.ts";
import { formatDuration } from "../duration.ts";
import { sleep } from "../util/timer.ts";
import { warn } from "./log_note.ts";
import type { StopSignals } from "./stop_signals.ts";

/**
 * How long the supervisor keeps trying to record a job's end when the write
 * fails (a full disk, say): 24 hours. All that time it holds the liveness
 * lock, so the job reads as running, not lost, and the end it knows is
 * written as soon as the disk has room again.
 */
const END_PATIENCE = 24 * 60 * 60 * 1000;
/** The first pause between two tries to record the end; it doubles. */
const END_FIRST_PAUSE = 50;
/** The longest pause between two tries to record the end. */
const END_MAX_PAUSE = 2_000;

/** The job's end could not be recorded: the supervisor gave up. */
export class EndNotRecordedError extends Error {
  override get name(): string {
    return "EndNotRecordedError";
  }
}

/** Records one job's end, for the steps of its supervisor. */
export class EndRecorder {
  readonly #store: JobStore;
  readonly #id: string;
  readonly #signals: StopSignals;

  constructor(store: JobStore, id: string, signals: StopSignals) {
    this.#store = store;
    this.#id = id;
    this.#signals = signals;
  }

  /**
   * Records the job's end as of `at`, trying again (with a pause that
   * doubles up to {@linkcode END_MAX_PAUSE}) for up to
   * {@linkcode END_PATIENCE} while the write fails. A record that is gone or
   * no longer a job's is not retried: no wait would bring it back. A stop
   * signal that comes while it waits ends the waiting: the worker has ended,
   * so nothing is left to stop, and whoever sent it wants the supervisor
   * gone (a store that is gone for good, say).
   *
   * @returns The job as its end was recorded.
   * @throws {EndNotRecordedError} If it gives up.
   */
  async record(
    end: JobEnd,
    at: Date = new Date(),
    patience = END_PATIENCE,
  ): Promise<Job> {
    const began = Date.now();
    const giveUpAt = began + patience;
    const told = () => this.#signals.lastAt >= began;
    let pause = END_FIRST_PAUSE;
    for (let tries = 1;; tries++) {
      try {
        return await this.#store.finish(this.#id, end, at);
      } catch (err) {
        const permanent = err instanceof JobNotFoundError ||
          err instanceof InvalidJobFileError;
        if (permanent || told() || Date.now() >= giveUpAt) {
          const why = permanent
            ? ""
            : told()
            ? ` (${tries} tries; a stop signal ended the wait)`
            : ` after ${tries} tries over ${formatDuration(patience)}`;
          throw new EndNotRecordedError(
            `The job's end (${describeEnd(end)}) could not be recorded${why}: ${
              String(err)
            }`,
            { cause: err },
          );
        }
        if (tries === 1) {
          warn(
            `cannot record the end of job ${this.#id} yet (${
              describeEnd(end)
            }): ${String(err)}; trying again for up to ${
              formatDuration(patience)
            }`,
          );
        }
        // In steps, so a stop signal ends the pause early.
        const until = Date.now() + Math.min(pause, giveUpAt - Date.now());
        while (Date.now() < until && !told()) {
          await sleep(Math.min(50, until - Date.now()));
        }
        pause = Math.min(pause * 2, END_MAX_PAUSE);
      }
    }
  }
}

function describeEnd(end: JobEnd): string {
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
