// `epack jobs restart <job>`: run an ended job again, as a new job that
// says which one it re-runs (`restart_of`).

import type { Job } from "../../store/job.ts";
import { isFinalStatus } from "../../store/rules.ts";
import { JobStateError } from "../../control.ts";
import { currentRuntime, selfArgv } from "../../spawn/argv.ts";
import { CliError } from "../_errors.ts";
import { shellLine } from "../_output.ts";
import { startJob } from "../_detach.ts";
import { type JobsContext, oneJobId } from "./_context.ts";
import { stateError } from "./act.ts";

/** Runs `jobs restart`. */
export async function restart(ctx: JobsContext): Promise<number> {
  const old = await ctx.store.load(await oneJobId(ctx));
  if (!isFinalStatus(old.status)) {
    throw stateError(
      new JobStateError(
        old.id,
        old.status,
        `Cannot restart job ${old.id}: it has not ended`,
      ),
    );
  }
  const options = {
    ...what(old),
    args: old.args,
    flags: old.flags,
    store: ctx.store,
    carry: ctx.carry,
    json: ctx.json,
    restartOf: old.id,
  };
  // The job's options, but not what it ran after: those jobs have ended.
  for (
    const key of [
      "workingDir",
      "timeout",
      "grace",
      "retries",
      "retryDelay",
      "onEnd",
      "logMax",
      "name",
    ] as const
  ) {
    if (old[key] !== undefined) Object.assign(options, { [key]: old[key] });
  }
  return await startJob(options);
}

// What the job ran: a program, or a subcommand of this very program (its
// command line starts with this program's own).
function what(job: Job): { command: string } | { subcommand: string } {
  const argv = job.argv;
  const tail = [job.command, ...job.args, ...job.flags];
  if (argv === undefined) {
    throw new CliError(
      `Cannot restart job ${job.id}: its record has no command line (argv)`,
    );
  }
  if (argv.length === tail.length) return { command: job.command };
  const self = argv.slice(0, argv.length - tail.length);
  if (self.at(-1) === selfArgv(currentRuntime()).at(-1)) {
    return { subcommand: job.command };
  }
  throw new CliError(
    `Cannot restart job ${job.id}: it runs ${job.command} of another program (${
      shellLine(self)
    }); restart it from there`,
  );
}
