// Listing a jobs directory: FileJobStore.list(). Records are read
// synchronously, a trip through Deno's thread pool per file costing more
// than the read; the lost rule is applied to the jobs that should be
// running, after the others are read.

import { isJobId, JobNotFoundError } from "./job_id.ts";
import { type InvalidJobFile, InvalidJobFileError, type Job } from "./job.ts";
import type { ListOptions, ListResult } from "./contract.ts";
import { isSupervisedStatus } from "./rules.ts";
import { readJobFile, readJobFileSync } from "./record.ts";
import { applyLiveness } from "./liveness.ts";

/** A directory read at once: about 18,000 jobs on ext4 (two files each). */
const SMALL_DIR_BYTES = 2 * 1024 * 1024;

/** How many records are read between two yields to the event loop. */
const YIELD_EVERY = 256;

/** The store's side of a listing: where the files are. */
export interface ListedStore {
  readonly dir: string;
  recordPath(id: string): string;
  livenessPath(id: string): string;
  /** How a reader writes a journal's end into a record, if it may. */
  fold?(id: string): (() => Promise<Job>) | undefined;
}

/**
 * Reads every record of a jobs directory, newest first, as
 * `JobStore.list()` describes: jobs that should be running have their
 * liveness applied, then the status filter.
 */
export async function listJobs(
  store: ListedStore,
  options: ListOptions,
): Promise<ListResult> {
  const { ids, invalid } = await scan(store);
  const jobs: Job[] = [];
  const running: Job[] = [];
  for (let i = 0; i < ids.length; i++) {
    const job = await read(store, ids[i], i, invalid);
    if (job === undefined) continue;
    // Only a job that should be running can turn out otherwise (lost, or
    // ended just now); the rest are final as read.
    if (isSupervisedStatus(job.status)) running.push(job);
    else if (wants(options, job)) jobs.push(job);
  }
  for (const recorded of running) {
    const job = await live(store, recorded, invalid);
    if (job !== undefined && wants(options, job)) jobs.push(job);
  }
  jobs.sort((a, b) =>
    b.startedAt.getTime() - a.startedAt.getTime() || byId(b, a)
  );
  return { jobs, invalid: invalid.sort(byId) };
}

/**
 * The IDs of the records in a directory; misnamed ones are invalid.
 * readDirSync() takes half the time of readDir() (an op per entry), but
 * builds every entry at once: for 100,000 jobs it peaked 150 MiB higher
 * (205 against 51 MiB VmHWM). So it reads only a directory whose size (on
 * ext4 ~60 bytes an entry, never shrinking) says it is small.
 */
async function scan(
  store: ListedStore,
): Promise<{ ids: string[]; invalid: InvalidJobFile[] }> {
  const ids: string[] = [];
  const invalid: InvalidJobFile[] = [];
  const take = (entry: Deno.DirEntry) => {
    const id = recordIdOf(entry.name);
    if (id === undefined) return;
    const path = `${store.dir}/${entry.name}`;
    if (!isJobId(id)) {
      const reason = "file name is not a valid job ID";
      invalid.push({ id: entry.name, path, reason });
    } else if (!entry.isFile) {
      invalid.push({ id, path, reason: "not a regular file" });
    } else ids.push(id);
  };
  try {
    if (Deno.statSync(store.dir).size <= SMALL_DIR_BYTES) {
      for (const entry of Deno.readDirSync(store.dir)) take(entry);
    } else {
      for await (const entry of Deno.readDir(store.dir)) take(entry);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return { ids, invalid };
}

/**
 * One record, as recorded; `undefined` if it is gone, or invalid (then in
 * `invalid`). Synchronous (a trip through the thread pool per file cost
 * more than the parsing), but for every YIELD_EVERY-th, so a long listing
 * still lets the event loop run.
 */
async function read(
  store: ListedStore,
  id: string,
  i: number,
  invalid: InvalidJobFile[],
): Promise<Job | undefined> {
  const path = store.recordPath(id);
  try {
    return i % YIELD_EVERY === YIELD_EVERY - 1
      ? await readJobFile(path, id)
      : readJobFileSync(path, id);
  } catch (err) {
    return failed(err, invalid);
  }
}

/** A job that should be running, its journal folded, its lock probed. */
async function live(
  store: ListedStore,
  recorded: Job,
  invalid: InvalidJobFile[],
): Promise<Job | undefined> {
  try {
    return await applyLiveness(
      recorded,
      store.livenessPath(recorded.id),
      () => readJobFile(store.recordPath(recorded.id), recorded.id),
      store.fold?.(recorded.id),
    );
  } catch (err) {
    return failed(err, invalid);
  }
}

function failed(err: unknown, invalid: InvalidJobFile[]): undefined {
  if (err instanceof InvalidJobFileError) {
    invalid.push({ id: err.id, path: err.path, reason: err.reason });
    return undefined;
  }
  // Removed between readDir and read: it is simply gone.
  if (err instanceof JobNotFoundError) return undefined;
  throw err;
}

function wants(options: ListOptions, job: Job): boolean {
  return options.status === undefined || job.status === options.status;
}

const byId = (a: { id: string }, b: { id: string }) =>
  a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/** `<id>.json`, not hidden, is a record: returns the ID it claims. */
export function recordIdOf(name: string): string | undefined {
  if (!name.endsWith(".json") || name.startsWith(".")) return undefined;
  return name.slice(0, -".json".length);
}
