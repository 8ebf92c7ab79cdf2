// `epack jobs clean` (and `jobs --clean`): remove old ended jobs.

import { cleanJobs } from "../../control.ts";
import { formatDuration } from "../../duration.ts";
import { EXIT } from "../_errors.ts";
import { out, outJson } from "../_output.ts";
import { durationFlag, type JobsContext, noArguments } from "./_context.ts";

const DEFAULT_CLEAN_AGE = 24 * 60 * 60 * 1000;

/** Runs `jobs clean`. */
export async function clean(ctx: JobsContext): Promise<number> {
  noArguments(ctx);
  const olderThan = durationFlag(ctx, "older-than", DEFAULT_CLEAN_AGE)!;
  const removed = await cleanJobs(olderThan, { store: ctx.storeName });
  if (ctx.json) {
    // "cleaned" is epack's key for the count.
    await outJson({ cleaned: removed.length, removed });
  } else {
    const n = removed.length;
    await out(
      `Removed ${n} job${n === 1 ? "" : "s"} that ended more than ${
        formatDuration(olderThan)
      } ago.\n`,
    );
  }
  return EXIT.OK;
}
