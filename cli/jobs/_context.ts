// What every `jobs` subcommand gets from main.ts, the checks they share,
// and the one way to act on several jobs.

import { InvalidJobIdError } from "../../store/job_id.ts";
import type { JobStore } from "../../store.ts";
import { parseDuration } from "../../duration.ts";
import { reportError, usageError } from "../_errors.ts";

/** A parsed `jobs` command line. */
export interface JobsContext {
  /** The command, for usage hints: `jobs`, `jobs wait`. */
  command: string;
  values: Record<string, string | boolean>;
  positionals: string[];
  json: boolean;
  store: JobStore;
  /** The store's name as given (a URL keeps its password here). */
  storeName: string;
  /** What hints carry to name the store: the user's, if they named one. */
  carry: { store?: string };
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
    throw usageError(`--${flag}: ${(err as Error).message}`, ctx.command);
  }
}

/** Refuses more than `most` positional arguments (none by default). */
export function noArguments(ctx: JobsContext, most = 0): void {
  const extra = ctx.positionals[most];
  if (extra !== undefined) {
    throw usageError(
      `Unexpected argument ${JSON.stringify(extra)}`,
      ctx.command,
    );
  }
}

/** The one job reference argument, resolved to a full ID. */
export async function oneJobId(ctx: JobsContext): Promise<string> {
  noArguments(ctx, 1);
  return (await jobIds(ctx))[0];
}

/**
 * The job reference arguments (at least one), resolved to IDs, in order,
 * without repeats: one bad reference stops the command before anything.
 */
async function jobIds(ctx: JobsContext): Promise<string[]> {
  const { positionals, command } = ctx;
  if (positionals.length === 0) {
    throw usageError("Missing a job: give its ID or name", command);
  }
  const ids = new Set<string>();
  for (const ref of positionals) {
    try {
      ids.add(await ctx.store.resolve(ref));
    } catch (err) {
      // Neither an ID nor a name: bad usage.
      if (err instanceof InvalidJobIdError) {
        throw usageError(err.message, command);
      }
      throw err;
    }
  }
  return [...ids];
}

/**
 * Runs `act` on each job the arguments name, in order; a failure is
 * reported (naming the job) and the others still get their turn. The exit
 * code: the first one that is not 0.
 */
export async function eachJob(
  ctx: JobsContext,
  act: (id: string) => Promise<number>,
): Promise<number> {
  let code = 0;
  for (const id of await jobIds(ctx)) {
    let result: number;
    try {
      result = await act(id);
    } catch (err) {
      result = reportError(err, ctx.json, { id });
    }
    if (code === 0) code = result;
  }
  return code;
}
