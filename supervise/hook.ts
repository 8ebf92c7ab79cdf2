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
 * An environment variable of the supervisor that sets the hook's bound (a
 * duration such as `500ms` or `2m`), for tests and for hooks known to need
 * longer. The supervisor inherits the environment of the program that
 * spawned the job (and `SpawnOptions.env`).
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

/** How an end hook went. */
export interface HookOutcome {
  /** The hook's exit code, if its shell exited. */
  exitCode?: number;
  /** The signal that ended its shell, if one did. */
  signal?: string;
  /** It ran past its bound and was stopped. */
  timedOut?: boolean;
  /** It could not be started. */
  error?: string;
}

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

/**
 * The variables a hook gets on top of the supervisor's environment: those
 * of {@linkcode HOOK_ENV} that apply to the job's end.
 *
 * @param job The job, as its end was recorded.
 * @returns The variables.
 */
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
 * The hook's whole environment: the supervisor's without a job's mark
 * (`EPACK_DETACH_JOB_ID`), plus {@linkcode hookEnv}. A supervisor started
 * from inside another job (spawn's `allowNested`) has that job's mark; the
 * hook is part of neither job: a cancel of the outer job must not stop it,
 * and a report or a spawn from it must not take it for a job's worker.
 * Without --allow-env to read the environment, the supervisor's is passed
 * on as it is.
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
 * directory, in a session and process group of its own (so it outlives
 * nothing it should not and can be stopped whole), with stdin from
 * /dev/null and its output appended to the job's log after a marker line;
 * a last line says how it ended. Past `timeout` its group is stopped
 * (SIGTERM, then SIGKILL after a grace of at most
 * {@linkcode DEFAULT_KILL_GRACE}). Never throws: a hook's failure is only
 * told in the log.
 *
 * @param job The job, as its end was recorded; `onEnd` must be set.
 * @param timeout How long the hook may run, in milliseconds.
 * @param cap The job's log cap, if it has one: the hook's output is kept
 * under it as a worker's is.
 * @param noted The log's line that names the hook was written already:
 * the hook starts within this call, before anything is awaited.
 * @returns How the hook went.
 */
export async function runEndHook(
  job: Job,
  timeout: number,
  cap?: LogCap,
  noted = false,
): Promise<HookOutcome> {
  const command = job.onEnd ?? "";
  if (!noted) await appendLogNote(job.logPath, `on-end hook: ${command}`);
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
    const error = `could not be started: ${String(err)}`;
    await appendLogNote(job.logPath, `on-end hook ${error}`);
    return { error };
  }
  const { status, timedOut, stop } = await group.ended;
  // The hook's output, like a worker's, is under the cap before the line
  // that says how it ended.
  await cap?.workerEnded();
  const ended = status.signal !== null
    ? { signal: status.signal }
    : { exitCode: status.code };
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
    return { ...ended, timedOut: true };
  }
  await appendLogNote(
    job.logPath,
    status.signal !== null
      ? `on-end hook ended by ${status.signal}`
      : `on-end hook exited with code ${status.code}`,
  );
  return ended;
}
