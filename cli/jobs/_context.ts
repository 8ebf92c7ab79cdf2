// What every `jobs` subcommand gets from cli/jobs/main.ts: its parsed
// arguments and the store, with the checks they share (job references, a
// duration flag, no extra arguments), and the one way to act on several
// jobs.

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
  /** The store: a jobs directory, or a database shared by hosts. */
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

/** The one job reference argument, resolved to a full ID. */
export async function oneJobId(ctx: JobsContext): Promise<string> {
  if (ctx.positionals.length > 1) {
    throw usageError(
      `Unexpected argument ${JSON.stringify(ctx.positionals[1])}`,
      ctx.command,
    );
  }
  return (await jobIds(ctx))[0];
}

/**
 * The job reference arguments (at least one), each resolved to a full ID by
 * the store's one rule, in order, without repeats. All are resolved before
 * anything is done: one unknown or ambiguous reference stops the command.
 */
export async function jobIds(ctx: JobsContext): Promise<string[]> {
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
 * Runs `act` on each job the arguments name, in order. A job it fails on is
 * reported (an `error:` line, and with `--json` an error object naming the
 * job) and the others still get their turn. The exit code: 0 if every one
 * gave 0, else the first other code, in argument order.
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
