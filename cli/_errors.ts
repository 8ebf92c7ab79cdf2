// The CLI's errors and exit codes, and reportError(), the one place that
// prints an error, for every command.

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
 * An error the CLI reports as one line on stderr, with an exit code; with
 * `usage` (the command, "" for `epack`), a hint to run its `--help`.
 */
export class CliError extends Error {
  readonly exitCode: number;
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

/** A CLI error with lines after it on stderr, and fields for --json. */
export class DetailedError extends CliError {
  readonly detail: string[];
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
 * Prints an error (an `error:` line, its detail, a usage hint; with `json`
 * also `{"error", "exit_code", ...data}` on stdout); returns its exit code.
 */
export function reportError(
  err: unknown,
  json: boolean,
  data: Record<string, unknown> = {},
): number {
  const code = err instanceof CliError ? err.exitCode : EXIT.FAILURE;
  // Messages carry what users typed and records hold: escaped.
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
