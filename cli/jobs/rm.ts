// `epack jobs rm <job>...`: remove ended jobs, records and logs.

import { JobStateError, removeJob } from "../../control.ts";
import { isFinalStatus } from "../../store/rules.ts";
import { EXIT } from "../_errors.ts";
import { hint } from "../_hint.ts";
import { eachJob, type JobsContext } from "./_context.ts";
import { outOutcome } from "./_render.ts";
import { stateError } from "./pause.ts";

/** Runs `jobs rm`. */
export async function rm(ctx: JobsContext): Promise<number> {
  return await eachJob(ctx, async (id) => {
    let job;
    try {
      job = await removeJob(id, { store: ctx.store });
    } catch (err) {
      // A job that runs, or a lost one whose processes do: the command that
      // stops it.
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
    await outOutcome(ctx.json, {
      outcome: "removed",
      message: `Removed job ${id}`,
      job,
    });
    return EXIT.OK;
  });
}
