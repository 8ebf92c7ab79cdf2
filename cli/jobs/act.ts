// `epack jobs cancel|pause|resume|rm <job>...`: act on each job named.

import * as control from "../../control.ts";
import { JobStateError } from "../../control.ts";
import { isFinalStatus } from "../../store/rules.ts";
import { DetailedError, EXIT } from "../_errors.ts";
import { hint } from "../_hint.ts";
import { durationFlag, eachJob, type JobsContext } from "./_context.ts";
import { outOutcome } from "./_render.ts";
import { WAIT_EXIT } from "./wait.ts";

/** Runs `jobs cancel`. */
export async function cancel(ctx: JobsContext): Promise<number> {
  // Flags first: a bad value is bad usage whether the job exists or not.
  const grace = durationFlag(ctx, "grace");
  return await eachJob(ctx, async (id) => {
    const result = await control.cancel(id, { store: ctx.store, grace });
    await outOutcome(ctx.json, result);
    // The grace passed and the job still runs: as for a wait that ended
    // first, 75 says "still running, try again later".
    return result.outcome === "stopping" ? WAIT_EXIT.WAIT_TIMEOUT : EXIT.OK;
  });
}

/** Runs `jobs pause`. */
export async function pause(ctx: JobsContext): Promise<number> {
  return await stopOrGo(ctx, control.pause);
}

/** Runs `jobs resume`. */
export async function resume(ctx: JobsContext): Promise<number> {
  return await stopOrGo(ctx, control.resume);
}

async function stopOrGo(
  ctx: JobsContext,
  act: typeof control.pause | typeof control.resume,
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

/** Runs `jobs rm`. */
export async function rm(ctx: JobsContext): Promise<number> {
  return await eachJob(ctx, async (id) => {
    let job;
    try {
      job = await control.removeJob(id, { store: ctx.store });
    } catch (err) {
      // A job that runs (or whose processes do): the command that stops it.
      if (
        err instanceof JobStateError &&
        (!isFinalStatus(err.status) || err.status === "lost")
      ) {
        err.message += `; stop it with: ${
          hint(["jobs", "cancel", id], ctx.carry)
        }`;
      }
      throw stateError(err);
    }
    const message = `Removed job ${id}`;
    await outOutcome(ctx.json, { outcome: "removed", message, job });
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
