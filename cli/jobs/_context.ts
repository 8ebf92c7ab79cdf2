// What every `jobs` subcommand gets from cli/jobs/main.ts: its parsed
// arguments and the store, with the checks they share (one job ID, a
// duration flag, no extra arguments).

import {
  AmbiguousJobIdError,
  InvalidJobIdError,
  MIN_REFERENCE_LENGTH,
  validateJobId,
} from "../../store/job_id.ts";
import type { JobStore } from "../../store.ts";
import { parseDuration } from "../../duration.ts";
import { CliError, usageError } from "../_errors.ts";

/** How many candidates an ambiguous prefix lists before "and N more". */
const MAX_CANDIDATES = 10;

/** A parsed `jobs` command line. */
export interface JobsContext {
  /** The command, for usage hints: `jobs`, `jobs wait`. */
  command: string;
  values: Record<string, string | boolean>;
  positionals: string[];
  json: boolean;
  /** The store: a jobs directory, or a database shared by hosts. */
  store: JobStore;
  /** The store's name as given (a URL keeps its password here). */
  storeName: string;
}

/** A duration flag's value in milliseconds, or `fallback` if not given. */
export function durationFlag(
  ctx: JobsContext,
  flag: string,
  fallback?: number,
): number | undefined {
  const text = ctx.values[flag];
  if (typeof text !== "string") return fallback;
  try {
    return parseDuration(text);
  } catch (err) {
    // Worded as run's and pull's --timeout: the reason is parseDuration's,
    // which says whether the value is malformed or out of range.
    throw usageError(`--${flag}: ${(err as Error).message}`, ctx.command);
  }
}

/** Refuses positional arguments. */
export function noArguments(ctx: JobsContext): void {
  if (ctx.positionals.length > 0) {
    throw usageError(
      `Unexpected argument ${JSON.stringify(ctx.positionals[0])}`,
      ctx.command,
    );
  }
}

/** The one job ID argument, resolved to a full ID. */
export async function oneJobId(ctx: JobsContext): Promise<string> {
  const { positionals, command } = ctx;
  if (positionals.length === 0) throw usageError("Missing job ID", command);
  if (positionals.length > 1) {
    throw usageError(
      `Unexpected argument ${JSON.stringify(positionals[1])}`,
      command,
    );
  }
  const raw = positionals[0];
  try {
    validateJobId(raw);
  } catch (err) {
    if (err instanceof InvalidJobIdError) {
      throw usageError(err.message, command);
    }
    throw err;
  }
  if (raw.length < MIN_REFERENCE_LENGTH) {
    throw usageError(
      `Job ID prefix too short: ${
        JSON.stringify(raw)
      } (give at least ${MIN_REFERENCE_LENGTH} characters)`,
      command,
    );
  }
  try {
    return await ctx.store.resolve(raw);
  } catch (err) {
    if (err instanceof AmbiguousJobIdError) {
      const shown = err.candidates.slice(0, MAX_CANDIDATES).join(", ");
      const more = err.candidates.length - MAX_CANDIDATES;
      throw new CliError(
        `Ambiguous job ID prefix ${raw}: matches ${shown}${
          more > 0 ? ` and ${more} more` : ""
        }`,
        { cause: err },
      );
    }
    throw err;
  }
}
