// What JobStore.clean() removes, for both stores: old ended jobs, and in a
// jobs directory the debris of a create that died half-way (a full disk, a
// kill), never the files of a create still in progress.

import { isJobId } from "./job_id.ts";
import { claimStale } from "./liveness.ts";
import { removeSyncIfPresent } from "./durable.ts";
import { cleanable, cleanCutoff } from "./rules.ts";
import type { Job } from "./job.ts";
import type { CleanOptions, JobStore } from "./contract.ts";

/**
 * The body of every store's clean(): each job ended more than `olderThan`
 * ms ago that `keep` does not keep is offered to `remove`, which says
 * whether it removed it. Returns the IDs removed.
 */
export async function cleanEnded(
  store: JobStore,
  olderThan: number,
  options: CleanOptions,
  remove: (job: Job) => Promise<boolean>,
): Promise<string[]> {
  const cutoff = cleanCutoff(olderThan);
  const removed: string[] = [];
  const { jobs } = await store.list();
  for await (const job of cleanable(jobs, cutoff, options.keep)) {
    if (await remove(job)) removed.push(job.id);
  }
  return removed;
}

/**
 * Removes, from the jobs directory `dir`, a `<id>.live` that has no record
 * (with that job's `.log` and `.lock`), and a lone `<id>.lock`, when the file
 * is older than `cutoff` (a time in ms) and its lock can be taken, which a
 * create in progress never allows. A lone `.log` stays: `delete()` may keep
 * one on purpose.
 */
export async function removeDebris(dir: string, cutoff: number): Promise<void> {
  const names = new Set<string>();
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile) names.add(entry.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  for (const name of names) {
    const dot = name.lastIndexOf(".");
    const id = name.slice(0, dot);
    const ext = name.slice(dot + 1);
    if (ext !== "live" && ext !== "lock") continue;
    if (!isJobId(id) || names.has(`${id}.json`)) continue;
    // A lock file beside a liveness file goes with it.
    if (ext === "lock" && names.has(`${id}.live`)) continue;
    const claim = claimStale(`${dir}/${name}`, cutoff);
    if (claim === undefined) continue;
    try {
      // Looked for again under the claim: a record linked since the listing
      // keeps its files.
      if (existsSync(`${dir}/${id}.json`)) continue;
      const paths = ext === "live"
        ? [`${dir}/${id}.log`, `${dir}/${id}.lock`, `${dir}/${id}.live`]
        : [`${dir}/${id}.lock`];
      for (const path of paths) removeSyncIfPresent(path);
    } finally {
      claim.close();
    }
  }
}

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
