// The CLI's errors and exit codes: every failure a command reports is a
// CliError (or becomes one in main.ts's reporter), carrying its exit code and,
// for bad usage, the command whose --help to suggest.

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
