// `epack jobs [list]`: the table of jobs; bare `jobs` also takes a job ID
// (as `jobs show`). `jobs clean` and `jobs --clean`: remove old ended jobs.

import {
  type InvalidJobFile,
  isFinalStatus,
  type Job,
  JOB_STATUSES,
  type JobStatus,
} from "../../jobs.ts";
import { EXIT, usageError } from "../_errors.ts";
import {
  colorEnabled,
  out,
  outJson,
  safe,
  terminalWidth,
  warn,
} from "../_output.ts";
import { durationFlag, type JobsContext, noArguments } from "./_context.ts";
import { jobJson, renderTable } from "./_render.ts";
import { liveLeftovers } from "./_where.ts";
import { OTHER_STORE } from "../_store.ts";
import { cleanJobs } from "../../control.ts";
import { formatDuration } from "../../duration.ts";

const DEFAULT_CLEAN_AGE = 24 * 60 * 60 * 1000;

/** Runs bare `jobs` and `jobs list`. */
export async function jobs(ctx: JobsContext): Promise<number> {
  const { values, command } = ctx;
  const listing = values.all === true || values.status !== undefined;
  if (values.clean === true) {
    if (listing || ctx.positionals.length > 0) {
      throw usageError(
        "--clean cannot be combined with --all, --status or a job ID",
        command,
      );
    }
    return await clean(ctx);
  }
  if (values["older-than"] !== undefined) {
    throw usageError("--older-than goes with --clean", command);
  }
  if (ctx.positionals.length > 0 && command === "jobs") {
    if (listing) {
      throw usageError(
        "--all and --status list jobs; they cannot be used with a job ID",
        command,
      );
    }
    return await (await import("./show.ts")).show(ctx);
  }
  return await list(ctx);
}

async function list(ctx: JobsContext): Promise<number> {
  noArguments(ctx);
  const given = ctx.values.status;
  if (
    typeof given === "string" &&
    !(JOB_STATUSES as readonly string[]).includes(given)
  ) {
    throw usageError(
      `Invalid --status ${JSON.stringify(given)}: use one of ${
        JOB_STATUSES.join(", ")
      }`,
      ctx.command,
    );
  }
  const status = given as JobStatus | undefined;
  const unended = status === undefined && ctx.values.all !== true;
  // Every job is read: shortened IDs must stay unique among all of them.
  const { jobs: all, invalid } = await ctx.store.list();
  const live = liveLeftovers(ctx.store, all);
  // By default: jobs not ended, and lost ones whose processes still run.
  const jobs = all.filter((job) =>
    unended
      ? !isFinalStatus(job.status) || live.has(job.id)
      : status === undefined || job.status === status
  );
  const now = Date.now();
  if (ctx.json) return listJson(jobs, invalid, now, live);
  for (const bad of invalid) {
    await warn(
      `warning: skipping invalid job file ${safe(bad.id)}: ${safe(bad.reason)}`,
    );
  }
  if (jobs.length === 0) {
    const what = unended ? "running jobs" : `${status ?? ""} jobs`.trim();
    const tip = unended
      ? `Use --all to show jobs that have ended; ${OTHER_STORE}`
      : OTHER_STORE[0].toUpperCase() + OTHER_STORE.slice(1);
    await out(`No ${what} in ${safe(ctx.store.location)}.\n${tip}.\n`);
    return EXIT.OK;
  }
  const color = colorEnabled(Deno.stdout);
  await out(renderTable(jobs, {
    now,
    color,
    width: terminalWidth(),
    all,
    live,
  }));
  return EXIT.OK;
}

// `{"jobs": [...], "invalid": [...]}` in one write, warnings included.
function listJson(
  jobs: Job[],
  invalid: InvalidJobFile[],
  now: number,
  live: ReadonlyMap<string, number[]>,
): number {
  const doc = {
    jobs: jobs.map((job) =>
      jobJson(job, now, live.has(job.id) ? { live_pids: live.get(job.id) } : {})
    ),
    invalid: invalid.map((bad) => ({ ...bad })),
  };
  // Synchronous: no trip through Deno's thread pool. A reader that went
  // away throws BrokenPipe, which the CLI takes as success.
  const bytes = new TextEncoder().encode(JSON.stringify(doc) + "\n");
  for (let done = 0; done < bytes.length;) {
    done += Deno.stdout.writeSync(bytes.subarray(done));
  }
  return EXIT.OK;
}

/** Runs `jobs clean`. */
export async function clean(ctx: JobsContext): Promise<number> {
  noArguments(ctx);
  const olderThan = durationFlag(ctx, "older-than", DEFAULT_CLEAN_AGE)!;
  const removed = await cleanJobs(olderThan, { store: ctx.storeName });
  const n = removed.length;
  // "cleaned" is epack's key for the count.
  if (ctx.json) await outJson({ cleaned: n, removed });
  else {
    await out(
      `Removed ${n} job${n === 1 ? "" : "s"} that ended more than ${
        formatDuration(olderThan)
      } ago.\n`,
    );
  }
  return EXIT.OK;
}
