// `epack jobs limit [N]`: show or set how many jobs of the jobs directory
// run at once; the jobs beyond it wait as `queued`, with no process.

import { getJobLimit, setJobLimit } from "../../schedule/schedule.ts";
import { isSupervisedStatus } from "../../store/rules.ts";
import { EXIT, usageError } from "../_errors.ts";
import { out, outJson } from "../_output.ts";
import type { JobStatus } from "../../jobs.ts";
import { type JobsContext, noArguments } from "./_context.ts";

/** Runs `jobs limit`. */
export async function limit(ctx: JobsContext): Promise<number> {
  const { positionals, command, store } = ctx;
  noArguments(ctx, 1);
  let wanted: number | undefined;
  if (positionals.length === 1) {
    const text = positionals[0];
    wanted = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(wanted)) {
      throw usageError(
        `Invalid limit ${
          JSON.stringify(text)
        }: give a whole number (0 removes the limit)`,
        command,
      );
    }
  }
  let started: string[] = [];
  if (wanted !== undefined) {
    try {
      ({ started } = await setJobLimit(wanted, { store }));
    } catch (err) {
      if (err instanceof RangeError) throw usageError(err.message, command);
      throw err;
    }
  }
  const current = await getJobLimit({ store });
  const { jobs } = await store.list();
  const count = (test: (s: JobStatus) => boolean) =>
    jobs.filter((j) => test(j.status)).length;
  const running = count(isSupervisedStatus);
  const queued = count((s) => s === "queued");
  const waiting = count((s) => s === "waiting");
  if (ctx.json) {
    await outJson({
      limit: current ?? null,
      running,
      queued,
      waiting,
      ...(wanted !== undefined ? { started } : {}),
    });
    return EXIT.OK;
  }
  const head = wanted === undefined
    ? current === undefined
      ? "No parallel limit: every job starts at once."
      : `Parallel limit: ${current} job${current === 1 ? "" : "s"} at once.`
    : current === undefined
    ? "Parallel limit removed."
    : `Parallel limit set to ${current}.`;
  const lines = [
    head,
    `Running: ${running}, queued: ${queued}, waiting for other jobs: ${waiting}.`,
  ];
  if (started.length > 0) {
    lines.push(
      `Started ${started.length} queued job${
        started.length === 1 ? "" : "s"
      }: ${started.join(", ")}`,
    );
  }
  await out(lines.join("\n") + "\n");
  return EXIT.OK;
}
