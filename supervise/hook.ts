// A job's end hook (`onEnd`, `--on-end CMD`): a shell command the supervisor
// runs once the job's end is recorded. It is told about the job through its
// environment, writes into the job's log between two marker lines, and is
// stopped if it runs past a bound. Nothing it does changes the job's record.

import type { Job } from "../store/job.ts";
import { JOB_ID_ENV } from "../store/job_id.ts";
import { DEFAULT_KILL_GRACE } from "../store/job_options.ts";
import { formatDuration, parseDuration } from "../duration.ts";
import { type ProcessGroup, startGroup } from "../process/group.ts";
import { appendLogNote } from "./log_note.ts";
import type { LogCap } from "./log_cap.ts";
import { REDIRECT } from "./worker.ts";
import { unquietLaunch } from "../process/signals.ts";

/** How long an end hook may run before it is stopped: 60 s. */
export const DEFAULT_HOOK_TIMEOUT = 60_000;

/**
 * The supervisor's variable that sets the hook's bound (`500ms`, `2m`), for
 * tests and for hooks known to need longer.
 */
export const HOOK_TIMEOUT_ENV = "EPACK_DETACH_HOOK_TIMEOUT";

/** The names the hook's environment tells the job's end by. */
export const HOOK_ENV = {
  id: "EPACK_JOB_ID",
  status: "EPACK_JOB_STATUS",
  exitCode: "EPACK_JOB_EXIT_CODE",
  signal: "EPACK_JOB_SIGNAL",
  log: "EPACK_JOB_LOG",
  error: "EPACK_JOB_ERROR",
} as const;

/**
 * The hook's bound: {@linkcode HOOK_TIMEOUT_ENV} if it holds a duration,
 * otherwise {@linkcode DEFAULT_HOOK_TIMEOUT}.
 */
export function hookTimeout(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get(HOOK_TIMEOUT_ENV);
  } catch {
    // Without --allow-env: the default.
  }
  if (text === undefined || text === "") return DEFAULT_HOOK_TIMEOUT;
  try {
    const ms = parseDuration(text);
    return ms > 0 ? ms : DEFAULT_HOOK_TIMEOUT;
  } catch {
    return DEFAULT_HOOK_TIMEOUT;
  }
}

/** What a hook is told of the job's end, on top of the supervisor's env. */
export function hookEnv(job: Job): Record<string, string> {
  const env: Record<string, string> = {
    [HOOK_ENV.id]: job.id,
    [HOOK_ENV.status]: job.status,
    [HOOK_ENV.log]: job.logPath,
  };
  if (job.exitCode !== undefined) env[HOOK_ENV.exitCode] = `${job.exitCode}`;
  if (job.signal !== undefined) env[HOOK_ENV.signal] = job.signal;
  if (job.error !== undefined && job.error !== "") {
    env[HOOK_ENV.error] = job.error;
  }
  return env;
}

/**
 * The hook's whole environment: the supervisor's without a job's mark (one
 * started inside another job has that job's: the hook is part of neither,
 * so a cancel of the outer job must not stop it), plus {@linkcode hookEnv}.
 * Without --allow-env the supervisor's is passed on as it is.
 */
function hookProcessEnv(
  job: Job,
): { env: Record<string, string>; clearEnv?: boolean } {
  let inherited: Record<string, string>;
  try {
    inherited = Deno.env.toObject();
  } catch {
    return { env: hookEnv(job) };
  }
  delete inherited[JOB_ID_ENV];
  return { env: { ...inherited, ...hookEnv(job) }, clearEnv: true };
}

/**
 * Runs the job's end hook, `/bin/sh -c <onEnd>`, in the job's working
 * directory and a process group of its own, its output appended to the
 * job's log (kept under `cap`), after the line that names it (written by
 * the caller: the hook starts before anything is awaited here); a last line
 * says how it ended. Past `timeout` its group is stopped (a grace of at most
 * {@linkcode DEFAULT_KILL_GRACE}). Never throws: a failure is told in the log.
 */
export async function runEndHook(
  job: Job,
  timeout: number,
  cap?: LogCap,
): Promise<void> {
  const command = job.onEnd ?? "";
  let group: ProcessGroup;
  try {
    // The outer shell sends the hook's output to the log, as the worker's,
    // then becomes `/bin/sh -c <onEnd>`.
    group = startGroup("/bin/sh", {
      args: ["-c", REDIRECT, "sh", job.logPath, "/bin/sh", "-c", command],
      via: unquietLaunch(),
      cwd: job.workingDir,
      ...hookProcessEnv(job),
      timeout,
      grace: Math.min(DEFAULT_KILL_GRACE, timeout),
    });
  } catch (err) {
    await appendLogNote(
      job.logPath,
      `on-end hook could not be started: ${String(err)}`,
    );
    return;
  }
  const { status, timedOut, stop } = await group.ended;
  // The hook's output, like a worker's, is under the cap before the line
  // that says how it ended.
  await cap?.workerEnded();
  if (timedOut) {
    const how = stop?.result === undefined
      ? `a stop that failed (${String(stop?.error)})`
      : stop.result.killed
      ? "SIGTERM, then SIGKILL"
      : "SIGTERM";
    await appendLogNote(
      job.logPath,
      `on-end hook did not end within ${
        formatDuration(timeout)
      }: stopped with ${how}`,
    );
    return;
  }
  await appendLogNote(
    job.logPath,
    status.signal !== null
      ? `on-end hook ended by ${status.signal}`
      : `on-end hook exited with code ${status.code}`,
  );
}
