// `epack jobs pause <id>` and `epack jobs resume <id>`: stop a running job's
// processes with SIGSTOP, and let them go on with SIGCONT.

import { JobStateError, pause, resume } from "../../control.ts";
import { DetailedError, EXIT } from "../_errors.ts";
import { type JobsContext, oneJobId } from "./_context.ts";
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
  const id = await oneJobId(ctx);
  let result;
  try {
    result = await act(id, { store: ctx.storeName });
  } catch (err) {
    // A job that cannot be paused or resumed (not started, ended): an
    // error, exit 1, whose JSON says the status it was found in.
    if (err instanceof JobStateError) {
      throw new DetailedError(err.message, [], {
        job_id: err.jobId,
        status: err.status,
      });
    }
    throw err;
  }
  await outOutcome(ctx.json, result, {
    timeout_left_ms: result.timeoutLeft ?? null,
  });
  // Already paused (or not paused, for resume) is what was asked for.
  return EXIT.OK;
}
