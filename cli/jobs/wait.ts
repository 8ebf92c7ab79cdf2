// `epack jobs wait <job>...`: wait until jobs end, and exit with the code of
// the first that did not complete.

import type { Job } from "../../jobs.ts";
import { WaitTimeoutError, watchJob } from "../../control/watch.ts";
import { isFinalStatus } from "../../store/rules.ts";
import { formatDuration } from "../../duration.ts";
import { signalNumber } from "../../process/signals.ts";
import { CliError, EXIT } from "../_errors.ts";
import { colorEnabled, humanDuration, writeSync } from "../_output.ts";
import { durationFlag, eachJob, type JobsContext } from "./_context.ts";
import { durationOf, jobJson, paintStatus, statusText } from "./_render.ts";

/**
 * The exit codes of `epack jobs wait` beyond the job's own: a timeout as
 * `timeout(1)` reports it, a cancel as a shell reports Ctrl-C, and a wait
 * that ended first (`--timeout`, or the waiter stopped) as EX_TEMPFAIL,
 * "try again later": not 130, which says the job was cancelled.
 */
export const WAIT_EXIT = {
  TIMED_OUT: 124,
  CANCELLED: 130,
  WAIT_TIMEOUT: 75,
} as const;

/** A signal that stopped the waiter, not the job. */
class WaiterStopped extends Error {
  readonly signal: Deno.Signal;
  constructor(signal: Deno.Signal) {
    super(signal);
    this.signal = signal;
  }
}

/**
 * The exit code `epack jobs wait` passes on for a job that has ended: 0
 * completed; a failure's own exit code, else 128 + the signal that killed
 * it, else 1; WAIT_EXIT's for a timeout or a cancel; 1 for a lost job.
 */
export function jobExitCode(job: Job): number {
  if (job.status === "completed") return EXIT.OK;
  if (job.status === "timed_out") return WAIT_EXIT.TIMED_OUT;
  if (job.status === "cancelled") return WAIT_EXIT.CANCELLED;
  if (job.status !== "failed") return EXIT.FAILURE;
  const code = job.exitCode;
  if (code !== undefined && code >= 1 && code <= 255) return code;
  const signo = job.signal === undefined ? undefined : signalNumber(job.signal);
  return signo === undefined ? EXIT.FAILURE : 128 + signo;
}

/**
 * Runs `jobs wait`: each job in turn, in the order given, under one
 * deadline (`--timeout`) and one Ctrl-C. The exit code is that of the first
 * job, in that order, that did not complete; 0 if all did.
 */
export async function wait(ctx: JobsContext): Promise<number> {
  // Flags first: a bad value is bad usage whether the job exists or not.
  const timeout = durationFlag(ctx, "timeout");
  const deadline = timeout === undefined ? undefined : Date.now() + timeout;
  // Ctrl-C stops the waiting, not the job, and must not be taken for the
  // job's own end: a cancelled job exits 130, as a shell's Ctrl-C does.
  const controller = new AbortController();
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((sig) => {
    const handler = () => controller.abort(new WaiterStopped(sig));
    Deno.addSignalListener(sig, handler);
    return [sig, handler] as const;
  });
  try {
    return await eachJob(ctx, async (id) => {
      const left = deadline && Math.max(0, deadline - Date.now());
      return await waitOne(ctx, id, left, timeout, controller.signal);
    });
  } finally {
    for (const [sig, handler] of handlers) {
      Deno.removeSignalListener(sig, handler);
    }
  }
}

async function waitOne(
  ctx: JobsContext,
  id: string,
  left: number | undefined,
  timeout: number | undefined,
  signal: AbortSignal,
): Promise<number> {
  try {
    // Answered from inside the watch: the final record is printed before
    // the watch lets go of its inotify watches (which takes milliseconds).
    for await (
      const job of watchJob(id, { store: ctx.store, timeout: left, signal })
    ) {
      if (isFinalStatus(job.status)) return answer(ctx, job);
    }
    throw new Error(`The watch of job ${id} ended without its end`);
  } catch (e) {
    if (e instanceof WaitTimeoutError) {
      throw new CliError(
        `Timed out after ${
          formatDuration(timeout ?? 0)
        } waiting for job ${id}; it has not ended`,
        { exitCode: WAIT_EXIT.WAIT_TIMEOUT, cause: e },
      );
    }
    if (e instanceof WaiterStopped) {
      throw new CliError(
        `Stopped waiting for job ${id} (${e.signal}); the job has not ended`,
        { exitCode: WAIT_EXIT.WAIT_TIMEOUT, cause: e },
      );
    }
    throw e;
  }
}

// Written at once, not through Deno's thread pool (a few ms under load).
function answer(ctx: JobsContext, job: Job): number {
  const code = jobExitCode(job);
  const took = durationOf(job, Date.now());
  const text = statusText(job, { long: true });
  writeSync(
    Deno.stdout,
    ctx.json
      ? JSON.stringify(jobJson(job, Date.now(), { cli_exit_code: code })) + "\n"
      : `Job ${job.id} ${
        paintStatus(colorEnabled(Deno.stdout), job.status, text)
      }${took === undefined ? "" : ` after ${humanDuration(took)}`}\n`,
  );
  return code;
}
