// Shared pieces of the CLI: exit codes, the errors that carry them, and
// output helpers that respect NO_COLOR and non-TTY output.

/** Exit codes of the CLI, as documented in the README. */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** Any failure, including bad usage. */
  FAILURE: 1,
  /** A pull whose download did not match its digest. */
  VERIFY: 2,
} as const;

/**
 * An error the CLI reports as one line on stderr, with an exit code. With
 * `usage` set, a hint to run `--help` follows.
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

/** A CLI error with more to say: lines after it, and data for --json. */
export class DetailedError extends CliError {
  /** Lines printed on stderr after the error line. */
  readonly detail: string[];
  /** Fields added to the JSON error object. */
  readonly data: Record<string, unknown>;
  /**
   * Makes the error.
   * @param message The error line.
   * @param detail Lines after it.
   * @param data Fields for the JSON error object.
   */
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

/** Whether colour may be used on a stream. */
export function colorEnabled(stream: { isTerminal(): boolean }): boolean {
  if (!stream.isTerminal()) return false;
  try {
    const noColor = Deno.env.get("NO_COLOR");
    if (noColor !== undefined && noColor !== "") return false;
  } catch {
    // Without --allow-env, assume the default.
  }
  return true;
}

/** Wraps text in an ANSI colour code when `on` is true. */
export function paint(on: boolean, code: number, text: string): string {
  return on ? `\x1b[${code}m${text}\x1b[0m` : text;
}
