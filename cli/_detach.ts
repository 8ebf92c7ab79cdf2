// Starting a job from the CLI (`pull --detach`, `run --detach`) and saying
// what was started, the same way for both.

import {
  DetachRecursionError,
  spawn,
  SpawnError,
  type SpawnOptions,
} from "../detach.ts";
import { formatDuration } from "../duration.ts";
import { CliError, EXIT } from "./_errors.ts";
import { safe, shellLine } from "./_output.ts";
import { hint } from "./_hint.ts";
import { isPostgresUrl } from "../store.ts";

/** Options for {@linkcode startJob}: spawn()'s, plus how to report. */
export interface StartJobOptions extends SpawnOptions {
  /** The jobs directory, absolute. */
  jobsDir: string;
  /** Print JSON instead of text. */
  json: boolean;
  /** Whether the user named the jobs directory (the hints then repeat it). */
  jobsDirGiven: boolean;
  /** Whether the user named the store with --store (hints repeat it). */
  storeGiven?: boolean;
}

/**
 * Starts a job and prints its ID, PID, log and how to check on it (or a
 * JSON object), returning the exit code: 0, at once.
 *
 * @param options What to spawn and how to report it.
 * @returns `0`.
 * @throws {CliError} If the job could not be started.
 */
export async function startJob(options: StartJobOptions): Promise<number> {
  const { json, jobsDirGiven, storeGiven, ...spawnOptions } = options;
  const shared = options.store !== undefined && isPostgresUrl(options.store);
  let result;
  try {
    result = await spawn(spawnOptions);
  } catch (err) {
    if (err instanceof DetachRecursionError || err instanceof SpawnError) {
      // A program that cannot run keeps a shell's 127 or 126, as in the
      // foreground.
      const exitCode = err instanceof SpawnError ? err.exitCode : undefined;
      throw new CliError(`Cannot start the job: ${err.message}`, {
        cause: err,
        ...(exitCode !== undefined ? { exitCode } : {}),
      });
    }
    throw err;
  }
  const { job } = result;
  if (json) {
    console.log(JSON.stringify({
      jobId: result.jobId,
      pid: result.pid,
      logPath: result.logPath,
      ...(shared
        ? { host: (job as { host?: string }).host }
        : { jobsDir: options.jobsDir }),
      command: job.command,
      args: job.args,
      flags: job.flags,
      timeoutMs: job.timeout ?? 0,
    }));
    return EXIT.OK;
  }
  const carry = shared
    ? (storeGiven ? { store: options.store } : {})
    : jobsDirGiven
    ? { jobsDir: options.jobsDir }
    : {};
  const limit = job.timeout ? formatDuration(job.timeout) : "none";
  // The arguments and paths are the user's: escaped as `jobs` escapes them,
  // so a control character cannot act on the terminal.
  console.log(
    [
      `Started job ${result.jobId} (PID ${result.pid}): ${
        shellLine([job.command, ...job.args, ...job.flags])
      }`,
      `  Log:     ${result.logPath}`,
      `  Timeout: ${limit}`,
      `  Status:  ${hint(["jobs", result.jobId], carry)}`,
      `  Follow:  ${hint(["jobs", "logs", result.jobId, "-f"], carry)}`,
    ].map(safe).join("\n"),
  );
  return EXIT.OK;
}
