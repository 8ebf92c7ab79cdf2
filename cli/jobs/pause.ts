// `epack jobs pause <job>...` and `epack jobs resume <job>...`: stop running
// jobs' processes with SIGSTOP, and let them go on with SIGCONT.

import { JobStateError, pause, resume } from "../../control.ts";
import { DetailedError, EXIT } from "../_errors.ts";
import { eachJob, type JobsContext } from "./_context.ts";
import { outOutcome } from "./_render.ts";

/** Runs `jobs pause`. */
export async function pauseJob(ctx: JobsContext): Promise<number> {
  return await control(ctx, pause);
}

/** Runs `jobs resume`. */
export async function resumeJob(ctx: JobsContext): Promise<number> {
  return await control(ctx, resume);
}

async function control(
  ctx: JobsContext,
  act: typeof pause | typeof resume,
): Promise<number> {
  return await eachJob(ctx, async (id) => {
    let result;
    try {
      result = await act(id, { store: ctx.store });
    } catch (err) {
      throw stateError(err);
    }
    await outOutcome(ctx.json, result, {
      timeout_left_ms: result.timeoutLeft ?? null,
    });
    // Already paused (or not paused, for resume) is what was asked for.
    return EXIT.OK;
  });
}

/**
 * A job whose state refuses what was asked (not started, ended, running):
 * an error, exit 1, whose JSON says the status it was found in.
 */
export function stateError(err: unknown): unknown {
  if (!(err instanceof JobStateError)) return err;
  return new DetailedError(err.message, [], {
    id: err.jobId,
    status: err.status,
  });
}
