// The CLI's errors and exit codes: every failure a command reports is a
// CliError (or becomes one in the reporter below), carrying its exit code
// and, for bad usage, the command whose --help to suggest. The reporter is
// the one place errors are printed, for every command.

import { colorEnabled, oneLine, paint, safe, writeSync } from "./_output.ts";
import { hint } from "./_hint.ts";

/** Exit codes of the CLI, as documented in the README. */
export const EXIT = {
  OK: 0,
  /** Any failure, including bad usage. */
  FAILURE: 1,
  /** A pull whose download did not match its digest. */
  VERIFY: 2,
} as const;

/**
 * An error the CLI reports as one line on stderr, with an exit code. With
 * `usage` set, a hint to run `--help` follows ("" for `epack` itself, else
 * the command: `pull`, `jobs wait`).
 */
export class CliError extends Error {
  readonly exitCode: number;
  /** The command whose help the hint names, if this is a usage error. */
  readonly usage: string | undefined;
  constructor(
    message: string,
    options: { exitCode?: number; usage?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.exitCode = options.exitCode ?? EXIT.FAILURE;
    this.usage = options.usage;
  }
  override get name(): string {
    return "CliError";
  }
}

/** A CLI error with more to say: lines after it, and data for --json. */
export class DetailedError extends CliError {
  /** Lines printed on stderr after the error line. */
  readonly detail: string[];
  /** Fields added to the JSON error object. */
  readonly data: Record<string, unknown>;
  constructor(
    message: string,
    detail: string[],
    data: Record<string, unknown>,
  ) {
    super(message);
    this.detail = detail;
    this.data = data;
  }
}

/** A usage error: bad flag, missing argument, bad value. Exit 1. */
export function usageError(message: string, command: string): CliError {
  return new CliError(message, { usage: command });
}

/**
 * Prints an error (one `error:` line on stderr, its detail lines, a usage
 * hint; with `json`, also `{"error", "exit_code", ...data}` on stdout) and
 * returns the exit code it carries.
 */
export function reportError(
  err: unknown,
  json: boolean,
  data: Record<string, unknown> = {},
): number {
  const code = err instanceof CliError ? err.exitCode : EXIT.FAILURE;
  // Messages carry what the user typed and what registries and records
  // hold: escaped, as everything the CLI prints of them.
  const message = oneLine(
    err instanceof CliError ? err.message : describeUnexpected(err),
  );
  const color = colorEnabled(Deno.stderr);
  const lines = [`${paint(color, 31, "error:")} ${safe(message)}`];
  if (err instanceof DetailedError) lines.push(...err.detail.map(safe));
  if (err instanceof CliError && err.usage !== undefined) {
    const words = err.usage === "" ? [] : err.usage.split(" ");
    lines.push(`Run '${hint([...words, "--help"])}' for usage.`);
  }
  writeSync(Deno.stderr, lines.join("\n") + "\n");
  if (json) {
    writeSync(
      Deno.stdout,
      JSON.stringify({
        error: message,
        exit_code: code,
        ...data,
        ...(err instanceof DetailedError ? err.data : {}),
      }) + "\n",
    );
  }
  return code;
}

function describeUnexpected(err: unknown): string {
  if (err instanceof Deno.errors.NotCapable) {
    return `a Deno permission is missing (${
      oneLine((err as Error).message)
    }); run with -A`;
  }
  return err instanceof Error ? err.message : String(err);
}
