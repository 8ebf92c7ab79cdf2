// The errors spawn() throws for callers to catch, and the one short wording
// of a system error in a message.

import { JOB_ID_ENV } from "../store/job_id.ts";

/**
 * Thrown when a job would detach again: its command line holds `--detach`
 * (`flag` says which), or `spawn()` was called inside a job without
 * `allowNested` (`jobId` says which job). Nothing is written or started.
 */
export class DetachRecursionError extends Error {
  /** The offending flag, when the command line would detach again. */
  readonly flag: string | undefined;
  /** The job this process runs in, when spawn() was called inside a job. */
  readonly jobId: string | undefined;
  /**
   * Makes the error.
   * @param what The flag that would detach again, or the job inside which
   * spawn() was called.
   */
  constructor(what: string | { jobId: string }) {
    super(
      typeof what === "string"
        ? `A detached job cannot detach again: remove ${
          JSON.stringify(what)
        } from its arguments`
        : `A detached job cannot detach again: this process runs in job ${what.jobId} (${JOB_ID_ENV} is set); pass allowNested: true to spawn() to start jobs from a job`,
    );
    this.flag = typeof what === "string" ? what : undefined;
    this.jobId = typeof what === "string" ? undefined : what.jobId;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "DetachRecursionError";
  }
}

/**
 * Thrown when a job could not be started. Nothing is left running, and
 * nothing is left in the jobs directory.
 */
export class SpawnError extends Error {
  /**
   * A shell's exit code for a program that could not be run: 127 if it was
   * not found, 126 if it was found but cannot be executed (a directory, no
   * execute permission, a bad `#!` interpreter). `undefined` for any other
   * failure.
   */
  readonly exitCode: 126 | 127 | undefined;
  /**
   * Makes the error.
   * @param message What went wrong.
   * @param options The underlying error (`cause`), and the shell's exit
   * code (`exitCode`) for a program that could not be run.
   */
  constructor(
    message: string,
    options?: ErrorOptions & { exitCode?: 126 | 127 },
  ) {
    super(message, options);
    this.exitCode = options?.exitCode;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "SpawnError";
  }
}

/** A system error in a few words, on one line, for a message. */
export function describe(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotFound) return "not found";
  if (err instanceof Deno.errors.NotCapable) {
    return `Deno permission missing (${(err as Error).message})`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n")[0];
}
