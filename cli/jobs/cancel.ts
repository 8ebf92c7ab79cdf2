// `epack jobs cancel <id>`: stop a running job.

import { cancel } from "../../control.ts";
import { EXIT } from "../_errors.ts";
import { durationFlag, type JobsContext, oneJobId } from "./_context.ts";
import { outOutcome } from "./_render.ts";
import { WAIT_EXIT } from "./wait.ts";

/** Runs `jobs cancel`. */
export async function cancelJob(ctx: JobsContext): Promise<number> {
  // Flags first: a bad value is bad usage whether the job exists or not.
  const grace = durationFlag(ctx, "grace");
  const id = await oneJobId(ctx);
  const result = await cancel(id, { store: ctx.storeName, grace });
  await outOutcome(ctx.json, result);
  // The grace (plus cancel()'s margin) passed and the job still runs: the
  // stop goes on, but this command could not see it end. As for a wait that
  // ended first, 75 says "still running, try again later".
  return result.outcome === "stopping" ? WAIT_EXIT.WAIT_TIMEOUT : EXIT.OK;
}
