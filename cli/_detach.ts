// Starting a job from the CLI (`pull --detach`, `run --detach`) and saying
// what was started, the same way for both.

// spawn() from its own module, not detach.ts: that one brings the
// supervisor's and the scheduler's modules into every start's reading.
import { spawn } from "../spawn/spawn.ts";
import type { SpawnOptions } from "../spawn/plan.ts";
import { DetachRecursionError, SpawnError } from "../spawn/errors.ts";
import { formatDuration, parseDuration } from "../duration.ts";
import type { Job, JobControlOptions } from "../store/job.ts";
import {
  checkAfter,
  checkHook,
  checkRetries,
  parseSize,
} from "../store/job_options.ts";
import { checkJobName, JobNotFoundError } from "../store/job_id.ts";
import { COMMON_FLAGS, type FlagSpecs, type ParsedFlags } from "./_args.ts";
import { CliError, EXIT, usageError } from "./_errors.ts";
import { safe, shellLine } from "./_output.ts";
import { hint } from "./_hint.ts";
import { OTHER_STORE } from "./_store.ts";

/**
 * The flags that shape a job, for every command that can run as one (`run`,
 * `pull`): their one spelling, help and check. `--timeout` also limits a
 * foreground `run`; the others need `--detach`.
 */
export const JOB_FLAGS: FlagSpecs = {
  name: {
    type: "string",
    value: "NAME",
    help: "With --detach: name the job, to use NAME wherever its\n" +
      "ID goes (letters, digits, . _ -; a letter first)",
  },
  cwd: {
    type: "string",
    value: "DIR",
    help: "Run it in DIR, as `cd DIR && ...` would (default: here)",
  },
  timeout: {
    type: "string",
    value: "D",
    help: "Stop it after D (such as 90s, 30m, 2h): SIGTERM, then\n" +
      "SIGKILL after the grace; a job's default is 24h; 0 means none",
  },
  retry: {
    type: "string",
    value: "N",
    help: "With --detach: run a failed job again, up to N times\n" +
      "(not after a timeout or a cancel)",
  },
  "retry-delay": {
    type: "string",
    value: "D",
    help: "With --retry: the first pause (default 1s); it doubles\n" +
      "each time, with jitter, up to 1h",
  },
  after: {
    type: "string",
    value: "JOB",
    multiple: true,
    help: "With --detach: start only once JOB (an ID or a name)\n" +
      "has ended (repeatable); it waits as `waiting`, with no process",
  },
  "after-ok": {
    type: "boolean",
    help: "With --after: start only if each of those jobs\n" +
      "completed; otherwise it ends cancelled",
  },
  "on-end": {
    type: "string",
    value: "CMD",
    help: "With --detach: run the shell command CMD once the job\n" +
      "has ended ($EPACK_JOB_ID, $EPACK_JOB_STATUS, ...)",
  },
  "log-max": {
    type: "string",
    value: "SIZE",
    help: "With --detach: keep the log under SIZE (such as 10MiB),\n" +
      "dropping its oldest part (default: unlimited)",
  },
};

/** The store's flags of a command that can start a job, and its help. */
export const STORE_FLAGS: FlagSpecs = {
  "jobs-dir": {
    ...COMMON_FLAGS["jobs-dir"],
    help: "The jobs directory (with --detach; default:\n" +
      "<project>/.epack/jobs, else the user's)",
  },
  store: {
    ...COMMON_FLAGS.store,
    help: "With --detach: the job store, a postgres:// URL\n" +
      "shared by hosts, or a jobs directory (default:\n" +
      "$EPACK_DETACH_STORE, else --jobs-dir)",
  },
  help: COMMON_FLAGS.help,
};

/** The job's options, and its time limit in milliseconds (0 for none). */
type JobFlags = JobControlOptions & { timeout?: number };

/**
 * Reads the {@linkcode JOB_FLAGS} given to a command, with the checks
 * spawn() applies, as usage errors.
 *
 * @throws {CliError} A usage error for a bad value, or a job's flag given
 * without `--detach`.
 */
export function parseJobFlags(
  parsed: ParsedFlags,
  command: string,
  detach: boolean,
  timeoutInForeground = false,
): JobFlags {
  const { values, lists } = parsed;
  const read = <T>(flag: string, fn: (text: string) => T): T | undefined => {
    const text = values[flag];
    if (typeof text !== "string") return undefined;
    if (!detach && !(flag === "timeout" && timeoutInForeground)) {
      throw usageError(`--${flag} applies to a job: add --detach`, command);
    }
    try {
      return fn(text);
    } catch (err) {
      throw usageError(`--${flag}: ${(err as Error).message}`, command);
    }
  };
  const timeout = read("timeout", parseDuration);
  const retries = read("retry", (text) => {
    if (!/^\d+$/.test(text)) {
      throw new RangeError(`${JSON.stringify(text)} is not a whole number`);
    }
    return checkRetries(Number(text));
  });
  const retryDelay = read("retry-delay", parseDuration);
  if (retryDelay !== undefined && retries === undefined) {
    throw usageError("--retry-delay needs --retry", command);
  }
  const after = lists.after === undefined
    ? undefined
    : read("after", () => checkAfter(lists.after));
  const afterOk = values["after-ok"] === true || undefined;
  if (afterOk && after === undefined) {
    throw usageError("--after-ok needs --after", command);
  }
  const flags: JobFlags = {
    timeout,
    retries,
    retryDelay,
    after,
    afterOk,
    name: read("name", checkJobName),
    onEnd: read("on-end", checkHook),
    logMax: read("log-max", parseSize),
  };
  for (const key in flags) {
    const k = key as keyof JobFlags;
    if (flags[k] === undefined) delete flags[k];
  }
  return flags;
}

/** The first line's start: what became of the job, which may wait. */
function startedHow(job: Job, pid: number): string {
  switch (job.status) {
    case "waiting":
      return `Job ${job.id} waits, with no process, for ${
        (job.after ?? []).join(", ")
      }${job.afterOk ? " to complete" : " to end"}`;
    case "queued":
      return `Job ${job.id} is queued, with no process: the jobs directory's parallel limit is reached`;
    default:
      return `Started job ${job.id} (PID ${pid})`;
  }
}

/** Options for {@linkcode startJob}: spawn()'s, plus how to report. */
export interface StartJobOptions extends SpawnOptions {
  json: boolean;
  /** What hints carry to name the store: the user's, if they named one. */
  carry: { store?: string };
}

/**
 * Starts a job and prints its ID, PID, log and how to check on it (or the
 * job as JSON), returning the exit code: 0, at once.
 *
 * @throws {CliError} If the job could not be started.
 */
export async function startJob(options: StartJobOptions): Promise<number> {
  const { json, carry, ...spawnOptions } = options;
  let result;
  try {
    result = await spawn(spawnOptions);
  } catch (err) {
    if (err instanceof DetachRecursionError || err instanceof SpawnError) {
      // A program that cannot run keeps a shell's 127 or 126, as in the
      // foreground.
      const exitCode = err instanceof SpawnError ? err.exitCode : undefined;
      const elsewhere = err.cause instanceof JobNotFoundError
        ? `; ${OTHER_STORE}`
        : "";
      throw new CliError(`Cannot start the job: ${err.message}${elsewhere}`, {
        cause: err,
        ...(exitCode !== undefined ? { exitCode } : {}),
      });
    }
    throw err;
  }
  const { job } = result;
  if (json) {
    // Computed, so `run --detach` without --json does not read it at start.
    const render = new URL("./jobs/_render.ts", import.meta.url).href;
    const { jobJson } =
      (await import(render)) as typeof import("./jobs/_render.ts");
    console.log(JSON.stringify(jobJson(job, Date.now())));
    return EXIT.OK;
  }
  const limit = job.timeout ? formatDuration(job.timeout) : "none";
  // The arguments and paths are the user's: escaped as `jobs` escapes them,
  // so a control character cannot act on the terminal.
  console.log(
    [
      `${startedHow(job, result.pid)}: ${
        shellLine([job.command, ...job.args, ...job.flags])
      }`,
      ...(job.name === undefined ? [] : [`  Name:    ${job.name}`]),
      ...(job.restartOf === undefined ? [] : [`  Re-runs: ${job.restartOf}`]),
      `  Log:     ${result.logPath}`,
      `  Timeout: ${limit}`,
      `  Status:  ${hint(["jobs", result.jobId], carry)}`,
      `  Follow:  ${hint(["jobs", "logs", result.jobId, "-f"], carry)}`,
    ].map(safe).join("\n"),
  );
  return EXIT.OK;
}
