// `epack jobs report`: a shell worker reports its job's progress or result,
// as the library does; outside a job it only checks the values.

import { JOB_ID_ENV } from "../../jobs.ts";
import { reportProgress, reportResult } from "../../report.ts";
import { JobReporter } from "../../store/reporter.ts";
import { parseCount } from "../../store/report_rules.ts";
import type { ProgressReport } from "../../store/job.ts";
import { CliError, EXIT, usageError } from "../_errors.ts";
import { outJson, warn } from "../_output.ts";
import { readEnv } from "../../util/permissions.ts";
import { type JobsContext, noArguments } from "./_context.ts";

/** Runs `jobs report`. */
export async function report(ctx: JobsContext): Promise<number> {
  noArguments(ctx);
  const { values, command } = ctx;
  const text = (flag: string) =>
    typeof values[flag] === "string" ? values[flag] as string : undefined;
  const number = (flag: string): number | undefined => {
    const given = text(flag);
    if (given === undefined) return undefined;
    const n = parseCount(given);
    if (n === undefined) {
      throw usageError(
        `Invalid --${flag} ${
          JSON.stringify(given)
        }: a number, 0 or more, in decimal digits`,
        command,
      );
    }
    return n;
  };
  const done = number("done");
  const total = number("total");
  const unit = text("unit");
  const message = text("message");
  const resultText = text("result");
  if (
    done === undefined &&
    (total !== undefined || unit !== undefined || message !== undefined)
  ) {
    throw usageError("--total, --unit and --message go with --done", command);
  }
  if (done === undefined && resultText === undefined) {
    throw usageError(
      "Nothing to report: give --done N or --result JSON",
      command,
    );
  }
  let result: Record<string, unknown> | undefined;
  if (resultText !== undefined) {
    try {
      result = JSON.parse(resultText);
    } catch (err) {
      throw usageError(
        `Invalid --result: not JSON (${(err as Error).message})`,
        command,
      );
    }
  }
  const progress: ProgressReport | undefined = done === undefined
    ? undefined
    : { done, total, unit, message };
  // Without --allow-env nothing says this is a job.
  const jobId = readEnv(JOB_ID_ENV);
  let ended: string | undefined;
  try {
    if (jobId === undefined) {
      if (progress !== undefined) reportProgress(progress);
      if (result !== undefined) await reportResult(result);
    } else {
      // One process, one report: written at once.
      const reporter = new JobReporter({ jobId, store: ctx.store });
      if (progress !== undefined) reporter.progress(progress);
      if (result !== undefined) await reporter.result(result);
      await reporter.flush();
      ended = reporter.ended;
    }
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) {
      throw usageError(err.message, command);
    }
    throw new CliError(
      `Cannot report to job ${jobId}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (ended !== undefined) {
    await warn(`warning: job ${jobId} has ended (${ended}): progress dropped`);
  }
  if (ctx.json) {
    await outJson({
      id: jobId ?? null,
      reported: jobId !== undefined && ended === undefined,
      // Dropped: an ended job keeps the progress it ended with.
      ...(ended === undefined
        ? {}
        : { reason: `the job has ended (${ended})` }),
    });
  }
  return EXIT.OK;
}
