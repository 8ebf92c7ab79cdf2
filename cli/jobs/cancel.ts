// `epack jobs cancel <job>...`: stop running jobs, one after the other.

import { cancel } from "../../control.ts";
import { EXIT } from "../_errors.ts";
import { durationFlag, eachJob, type JobsContext } from "./_context.ts";
import { outOutcome } from "./_render.ts";
import { WAIT_EXIT } from "./wait.ts";

/** Runs `jobs cancel`. */
export async function cancelJob(ctx: JobsContext): Promise<number> {
  // Flags first: a bad value is bad usage whether the job exists or not.
  const grace = durationFlag(ctx, "grace");
  return await eachJob(ctx, async (id) => {
    const result = await cancel(id, { store: ctx.store, grace });
    await outOutcome(ctx.json, result);
    // The grace (plus cancel()'s margin) passed and the job still runs: the
    // stop goes on, but this command could not see it end. As for a wait
    // that ended first, 75 says "still running, try again later".
    return result.outcome === "stopping" ? WAIT_EXIT.WAIT_TIMEOUT : EXIT.OK;
  });
}
