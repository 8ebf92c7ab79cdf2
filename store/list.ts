// Listing a jobs directory: JobStore.list(), which returns every job, and
// streamJobs(), which takes them one at a time so as not to hold every job
// of a large directory at once. The CLI's `jobs --json` lists through the
// listing cache instead (_list_cache.ts), which is kept off this file so
// that what loads the store (a detached start) does not load it.

import { isJobId, JobNotFoundError } from "./job_id.ts";
import {
  type InvalidJobFile,
  InvalidJobFileError,
  isSupervisedStatus,
  type Job,
  type ListOptions,
  type ListResult,
} from "./job.ts";
import { parseJobRecord, readJobFile, readJobFileSync } from "./record.ts";
import { applyLiveness } from "./liveness.ts";
import { isLockedSync } from "./durable.ts";

/** How many records are read between two yields to the event loop. */
const YIELD_EVERY = 256;

/** The store's side of a listing: where the files are. */
export interface ListedStore {
  readonly dir: string;
  recordPath(id: string): string;
  livenessPath(id: string): string;
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
    b.startedAt.getTime() - a.startedAt.getTime() || byIdDescending(a.id, b.id)
  );
  return { jobs, invalid: sortInvalid(invalid) };
}

/**
 * The same jobs as {@linkcode listJobs}, in the same order, handed to `emit`
 * one at a time, so that a large directory is never held in memory: a first
 * pass reads each record for its start time, a second takes the records in
 * order and checks each in full. Up to KEEP_TEXT_UP_TO records, the first
 * pass keeps their text for the second; above, the second pass reads each
 * record again (keeping part of them cost more memory than the reads
 * saved time at 100,000 jobs). Keeping 100,000 jobs instead made
 * the heap the garbage collector goes over grow to several hundred MiB
 * (measured, bench/startup.ts --big). A record changed between the two
 * passes may be taken as either pass read it. Every read is synchronous,
 * and nothing yields to the event loop but `emit`: for the CLI, which has
 * nothing else to run meanwhile.
 *
 * @returns The files that failed to load, by ID.
 */
export async function streamJobs(
  store: ListedStore,
  options: ListOptions,
  emit: (job: Job) => void | Promise<void>,
): Promise<InvalidJobFile[]> {
  const { ids, invalid } = await scan(store);
  const starts = new Float64Array(ids.length);
  const texts: (string | undefined)[] = new Array(ids.length);
  const keep = ids.length <= KEEP_TEXT_UP_TO;
  for (let i = 0; i < ids.length; i++) {
    let start = NaN;
    try {
      const text = Deno.readTextFileSync(store.recordPath(ids[i]));
      if (keep) texts[i] = text;
      const started = (JSON.parse(text) as { started_at?: unknown })
        ?.started_at;
      if (typeof started === "string") start = Date.parse(started);
    } catch {
      // Gone, or not a record: the second pass says which.
    }
    starts[i] = Number.isNaN(start) ? -Infinity : start;
  }
  const order = Array.from(ids, (_, i) => i).sort((a, b) =>
    starts[b] - starts[a] || byIdDescending(ids[a], ids[b])
  );
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    const text = texts[i];
    texts[i] = undefined;
    let job = recordOf(store, ids[i], text, invalid);
    if (job !== undefined) job = await withLiveness(store, job, invalid);
    if (job !== undefined && wants(options, job)) await emit(job);
  }
  return sortInvalid(invalid);
}

/**
 * Up to how many records streamJobs() (and the cached listing) keeps their text between its passes
 * (about 11 MiB of records written by this module).
 */
export const KEEP_TEXT_UP_TO = 16_384;

/**
 * The IDs of the records in a directory; misnamed ones are invalid. Read
 * asynchronously: Deno's readDirSync() builds every entry at once, which
 * for 100,000 jobs (200,000 files) peaked 150 MiB higher than readDir()
 * (205 against 51 MiB VmHWM, in a script doing only that).
 */
export async function scan(
  store: ListedStore,
): Promise<{ ids: string[]; invalid: InvalidJobFile[] }> {
  const ids: string[] = [];
  const invalid: InvalidJobFile[] = [];
  try {
    for await (const entry of Deno.readDir(store.dir)) {
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
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return { ids, invalid };
}

/**
 * One record, as recorded; `undefined` if it is gone, or invalid (then
 * added to `invalid`). Records are read synchronously: an asynchronous read
 * is a trip through Deno's thread pool per file, which made a listing of
 * 10,000 jobs spend more time waiting on it than parsing. Every
 * YIELD_EVERY-th read (the `i`-th of the listing) is asynchronous, so a long
 * listing still lets the event loop run.
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

/**
 * One record of a listing's second pass, from the text its first pass kept
 * or else from its file; `undefined` if it is gone or invalid (then added to
 * `invalid`).
 */
export function recordOf(
  store: ListedStore,
  id: string,
  text: string | undefined,
  invalid: InvalidJobFile[],
): Job | undefined {
  const path = store.recordPath(id);
  try {
    return text === undefined
      ? readJobFileSync(path, id)
      : parseJobRecord(text, id, path);
  } catch (err) {
    return failed(err, invalid);
  }
}

/**
 * A job as a listing shows it: one that should be running has its liveness
 * applied. A lock that is held leaves the job as recorded, as
 * applyLiveness() would: asked synchronously first, which saves its
 * asynchronous probe (about 1.3 ms a running job in a listing, under load).
 */
export async function withLiveness(
  store: ListedStore,
  job: Job,
  invalid: InvalidJobFile[],
): Promise<Job | undefined> {
  if (
    isSupervisedStatus(job.status) &&
    isLockedSync(store.livenessPath(job.id)) === false
  ) {
    return await live(store, job, invalid);
  }
  return job;
}

/** A job that should be running, with its liveness lock consulted. */
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

export function byIdDescending(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

export function sortInvalid(invalid: InvalidJobFile[]): InvalidJobFile[] {
  return invalid.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** `<id>.json`, not hidden, is a record: returns the ID it claims. */
export function recordIdOf(name: string): string | undefined {
  if (!name.endsWith(".json") || name.startsWith(".")) return undefined;
  return name.slice(0, -".json".length);
}
