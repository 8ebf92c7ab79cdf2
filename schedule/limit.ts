// The parallel limit: how many of a store's jobs may run (or be paused) at
// once, kept in a file beside the records so that it holds for every
// process; its checks, and where a store keeps its scheduler's files.

import type { JobStore } from "../store/contract.ts";
import { join } from "../util/path.ts";
import { LIMIT_FILE } from "../spawn/launch.ts";

/**
 * The directory a store that can schedule keeps its scheduler's files in
 * (the limit, the pending marker, the scheduler's lock).
 *
 * @throws {TypeError} If the store cannot schedule.
 */
export function schedulingDir(store: JobStore, what: string): string {
  if (!store.capabilities.scheduling) {
    throw new TypeError(
      `${what} needs a store that can schedule (a jobs directory); ${store.location} cannot`,
    );
  }
  return store.localDir;
}

/** The highest parallel limit a jobs directory takes. */
export const MAX_JOB_LIMIT = 100_000;

/** A jobs directory's parallel limit (throws if its file holds no limit). */
export function readLimit(dir: string): number | undefined {
  const path = join(dir, LIMIT_FILE);
  const invalid = (what: string) =>
    new Error(
      `Invalid parallel limit in ${path}: ${what} (set it again with 'jobs limit N')`,
    );
  // Looked at before it is opened: a FIFO would block the open, and a
  // device such as /dev/zero never ends, both under the scheduler lock,
  // which every spawn and every supervisor's end then waits for forever.
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      // A dangling symlink is not "no limit": someone meant one.
      if (isSymlink(path)) throw invalid("a symlink to nothing");
      return undefined;
    }
    throw err;
  }
  if (!info.isFile) throw invalid("not a regular file");
  // More than a number and its newline is not a limit; not read whole.
  if (info.size > LIMIT_FILE_MAX) throw invalid(`${info.size} bytes`);
  const text = Deno.readTextFileSync(path);
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_JOB_LIMIT) {
    throw invalid(JSON.stringify(text.slice(0, 40)));
  }
  return n;
}

/** The most bytes a limit file holds: digits, spaces and a newline. */
const LIMIT_FILE_MAX = 64;

function isSymlink(path: string): boolean {
  try {
    return Deno.lstatSync(path).isSymlink;
  } catch {
    return false;
  }
}

/** Checks a parallel limit: a whole number from 0 (none) to the maximum. */
export function checkLimit(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_JOB_LIMIT) {
    throw new RangeError(
      `Invalid parallel limit: ${n} (a whole number from 0, for none, to ${MAX_JOB_LIMIT})`,
    );
  }
  return n;
}
