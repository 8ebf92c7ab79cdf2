// Listing a jobs directory: JobStore.list(), and the CLI's `jobs --json`,
// which must not hold every job of a large directory at once. Each job is
// handed to a function as soon as it is known (read, and for a job that
// should be running, checked against its liveness lock), and only what that
// function returns is kept, beside the job's sort key.

import { isJobId, JobNotFoundError } from "./_job_id.ts";
import {
  type InvalidJobFile,
  InvalidJobFileError,
  isSupervisedStatus,
  type Job,
  type ListOptions,
} from "./_job.ts";
import { readJobFile, readJobFileSync } from "./_record.ts";
import { applyLiveness } from "./_liveness.ts";

/** How many records are read between two yields to the event loop. */
const YIELD_EVERY = 256;

/** The store's side of a listing: where the files are. */
export interface ListedStore {
  readonly dir: string;
  recordPath(id: string): string;
  livenessPath(id: string): string;
}

/** What {@linkcode listJobs} returns. */
export interface Listing<T> {
  /** What `keep` returned for each job it kept, newest job first. */
  kept: T[];
  /** Files that look like records but failed to load, by ID. */
  invalid: InvalidJobFile[];
}

/**
 * Reads every record of a jobs directory, newest first, as
 * `JobStore.list()` describes. `keep` gets each job that passes the status
 * filter, with its liveness applied; what it returns is kept in the job's
 * place, and `undefined` drops the job.
 */
export async function listJobs<T>(
  store: ListedStore,
  options: ListOptions,
  keep: (job: Job) => T | undefined,
): Promise<Listing<T>> {
  const ids: string[] = [];
  const invalid: InvalidJobFile[] = [];
  try {
    for (const entry of Deno.readDirSync(store.dir)) {
      const id = recordIdOf(entry.name);
      if (id === undefined) continue;
      const path = `${store.dir}/${entry.name}`;
      if (!isJobId(id)) {
        invalid.push({
          id: entry.name,
          path,
          reason: "file name is not a valid job ID",
        });
        continue;
      }
      if (!entry.isFile) {
        invalid.push({ id, path, reason: "not a regular file" });
        continue;
      }
      ids.push(id);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { kept: [], invalid };
    throw err;
  }
  const wanted = options.status;
  // Kept apart from what `keep` made of them: the sort needs only these.
  const starts: number[] = [];
  const keptIds: string[] = [];
  const kept: T[] = [];
  const add = (job: Job) => {
    if (wanted !== undefined && job.status !== wanted) return;
    const value = keep(job);
    if (value === undefined) return;
    starts.push(job.startedAt.getTime());
    keptIds.push(job.id);
    kept.push(value);
  };
  const running: Job[] = [];
  // Records are read synchronously: an asynchronous read is a trip through
  // Deno's thread pool per file, which made a listing of 10,000 jobs spend
  // more time waiting on it than parsing. Every YIELD_EVERY-th read is
  // asynchronous, so a long listing still lets the event loop run.
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    const path = store.recordPath(id);
    let job: Job;
    try {
      job = i % YIELD_EVERY === YIELD_EVERY - 1
        ? await readJobFile(path, id)
        : readJobFileSync(path, id);
    } catch (err) {
      if (err instanceof InvalidJobFileError) {
        invalid.push({ id, path: err.path, reason: err.reason });
        continue;
      }
      // Removed between readDir and read: it is simply gone.
      if (err instanceof JobNotFoundError) continue;
      throw err;
    }
    // Only a job that should be running can turn out otherwise (lost, or
    // ended just now); the rest are final as read.
    if (isSupervisedStatus(job.status)) running.push(job);
    else add(job);
  }
  for (const recorded of running) {
    let job: Job;
    try {
      job = await applyLiveness(
        recorded,
        store.livenessPath(recorded.id),
        () => readJobFile(store.recordPath(recorded.id), recorded.id),
      );
    } catch (err) {
      if (err instanceof InvalidJobFileError) {
        invalid.push({ id: recorded.id, path: err.path, reason: err.reason });
        continue;
      }
      if (err instanceof JobNotFoundError) continue;
      throw err;
    }
    add(job);
  }
  // Newest first; the same start, by ID, descending.
  const order = Array.from(kept, (_, i) => i).sort((a, b) =>
    starts[b] - starts[a] ||
    (keptIds[a] < keptIds[b] ? 1 : keptIds[a] > keptIds[b] ? -1 : 0)
  );
  invalid.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return { kept: order.map((i) => kept[i]), invalid };
}

/** `<id>.json`, not hidden, is a record: returns the ID it claims. */
export function recordIdOf(name: string): string | undefined {
  if (!name.endsWith(".json") || name.startsWith(".")) return undefined;
  return name.slice(0, -".json".length);
}
