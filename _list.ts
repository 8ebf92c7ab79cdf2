// Listing a jobs directory: JobStore.list(), which returns every job, and
// the CLI's `jobs --json`, which must not hold every job of a large
// directory at once and takes them one at a time (streamJobs).

import { isJobId, JobNotFoundError } from "./_job_id.ts";
import {
  FINAL_STATUSES,
  type InvalidJobFile,
  InvalidJobFileError,
  isSupervisedStatus,
  type Job,
  type JobStatus,
  type ListOptions,
  type ListResult,
} from "./_job.ts";
import { parseJobRecord, readJobFile, readJobFileSync } from "./_record.ts";
import { applyLiveness } from "./_liveness.ts";
import { isLockedSync } from "./_durable.ts";
import {
  keyHash,
  ListCache,
  ListCacheWriter,
  type RecordStat,
  settled,
  statRecord,
} from "./_list_cache.ts";

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
  return await stream(store, {
    wants: (status) =>
      options.status === undefined || status === options.status,
    job: emit,
  });
}

/**
 * How a listing turns jobs into text, for {@linkcode streamJobTexts}: the
 * text of a job whose recorded status is final must be a function of its
 * record alone, for the listing cache keeps it.
 */
export interface ListingText {
  /** Whether the listing shows jobs in this status. */
  wants(status: JobStatus): boolean;
  /** Takes the next job shown, read now (a job that has not ended, say). */
  job(job: Job): void | Promise<void>;
  /**
   * The text of an ended job, as the listing shows it, in UTF-8; the bytes
   * need only last until the next call.
   */
  text(job: Job): Uint8Array;
  /**
   * Takes the text of the next job shown: text() of it, now or before. The
   * bytes are valid only during the call.
   */
  put(text: Uint8Array): void | Promise<void>;
  /**
   * Names the way text() renders (its version): a cache made under another
   * key is ignored, and replaced.
   */
  key: string;
  /** Whether to use the listing cache. */
  cache: boolean;
}

/**
 * {@linkcode streamJobs} for a listing printed as text: the jobs whose
 * recorded status is final come from the directory's listing cache
 * (_list_cache.ts) when their records are as they were when it was written,
 * without being read; the others are read as streamJobs() reads them. A
 * listing that read more of those than CACHE_SLACK allows writes a new
 * cache, as it goes. The output is the same with the cache or without.
 *
 * @returns The files that failed to load, by ID.
 */
export async function streamJobTexts(
  store: ListedStore,
  listing: ListingText,
): Promise<InvalidJobFile[]> {
  return await stream(store, listing);
}

/**
 * Entries read from records rather than the cache, as a share of the
 * cache's size, above which a listing writes the cache again (with at least
 * CACHE_MIN_NEW of them): a few new jobs do not rewrite a large cache each
 * time, and removed records' entries go at the next write.
 */
const CACHE_SLACK = 1 / 8;
const CACHE_MIN_NEW = 64;

type Sink = Pick<ListingText, "wants" | "job"> & Partial<ListingText>;

async function stream(
  store: ListedStore,
  sink: Sink,
): Promise<InvalidJobFile[]> {
  const now = Date.now();
  const key = sink.cache && sink.key !== undefined ? keyHash(sink.key) : -1;
  const { ids, invalid } = await scan(store);
  const cache = key < 0 ? undefined : ListCache.open(store.dir, key);
  try {
    const starts = new Float64Array(ids.length);
    // Per record: its cache entry, or -1.
    const hits = new Int32Array(ids.length).fill(-1);
    // Per record, with a cache: the identity a new entry would have
    // (ino, size, mtime, ctime), or NaN if it must not have one.
    const stats = new Float64Array(key < 0 ? 0 : ids.length * 4).fill(NaN);
    const statOf = (i: number): RecordStat | undefined =>
      Number.isNaN(stats[i * 4]) ? undefined : {
        ino: stats[i * 4],
        size: stats[i * 4 + 1],
        mtime: stats[i * 4 + 2],
        ctime: stats[i * 4 + 3],
      };
    const texts: (string | undefined)[] = new Array(ids.length);
    const keep = ids.length <= KEEP_TEXT_UP_TO;
    let hit = 0;
    let fresh = 0;
    for (let i = 0; i < ids.length; i++) {
      const path = store.recordPath(ids[i]);
      if (key >= 0) {
        // Looked at before it is read: a write between the two gives the
        // file another identity than the one an entry would be made with.
        const stat = statRecord(path);
        // An entry was made for a settled file; the same file still is.
        if (stat !== undefined && settled(stat, now)) {
          stats[i * 4] = stat.ino;
          stats[i * 4 + 1] = stat.size;
          stats[i * 4 + 2] = stat.mtime;
          stats[i * 4 + 3] = stat.ctime;
        }
        const entry = cache?.find(ids[i], stat) ?? -1;
        if (entry >= 0) {
          hits[i] = entry;
          starts[i] = cache!.start(entry);
          hit++;
          continue;
        }
      }
      let start = NaN;
      try {
        const text = Deno.readTextFileSync(path);
        if (keep) texts[i] = text;
        const raw = JSON.parse(text) as {
          started_at?: unknown;
          status?: unknown;
        };
        const started = raw?.started_at;
        if (typeof started === "string") start = Date.parse(started);
        if (
          key >= 0 && !Number.isNaN(stats[i * 4]) && FINAL.has(raw?.status)
        ) {
          fresh++;
        }
      } catch {
        // Gone, or not a record: the second pass says which.
      }
      starts[i] = Number.isNaN(start) ? -Infinity : start;
    }
    const stale = (cache?.size ?? 0) - hit;
    const writer = key >= 0 &&
        fresh + stale >= Math.max(CACHE_MIN_NEW, hit * CACHE_SLACK)
      ? ListCacheWriter.create(store.dir, key)
      : undefined;
    const order = presorted(ids.length, hits, cache?.size ?? 0).sort((a, b) =>
      starts[b] - starts[a] || byIdDescending(ids[a], ids[b])
    );
    try {
      for (let k = 0; k < order.length; k++) {
        const i = order[k];
        const entry = hits[i];
        if (entry >= 0) {
          const status = cache!.status(entry);
          const shown = sink.wants(status);
          if (!shown && writer === undefined) continue;
          const bytes = cache!.text(entry);
          if (bytes !== undefined) {
            // Its identity is the one the entry was made with.
            writer?.add(ids[i], statOf(i)!, starts[i], status, bytes);
            if (shown) await sink.put!(bytes);
            continue;
          }
          // A torn cache: the record says.
        }
        const text = texts[i];
        texts[i] = undefined;
        const path = store.recordPath(ids[i]);
        let job: Job | undefined;
        try {
          job = text === undefined
            ? readJobFileSync(path, ids[i])
            : parseJobRecord(text, ids[i], path);
        } catch (err) {
          job = failed(err, invalid);
        }
        if (job === undefined) continue;
        const stat = key < 0 ? undefined : statOf(i);
        if (FINAL.has(job.status) && stat !== undefined && sink.text) {
          const bytes = sink.text(job);
          writer?.add(ids[i], stat, starts[i], job.status, bytes);
          if (sink.wants(job.status)) await sink.put!(bytes);
          continue;
        }
        // A lock that is held leaves the job as recorded, as applyLiveness()
        // would: asked synchronously first, which saves its asynchronous
        // probe (about 1.3 ms a running job in a listing, under load).
        if (
          isSupervisedStatus(job.status) &&
          isLockedSync(store.livenessPath(job.id)) === false
        ) {
          job = await live(store, job, invalid);
        }
        if (job !== undefined && sink.wants(job.status)) await sink.job(job);
      }
    } catch (err) {
      writer?.abort();
      throw err;
    }
    writer?.commit();
  } finally {
    cache?.close();
  }
  return sortInvalid(invalid);
}

const FINAL: ReadonlySet<unknown> = new Set<JobStatus>(FINAL_STATUSES);

/**
 * The records' indexes, those found in the cache first, in the cache's
 * order, which is the listing's: the sort (a merge sort that takes runs
 * as they come) then has little left to do (20 against 80 ms for 100,000
 * jobs).
 */
function presorted(count: number, hits: Int32Array, cached: number): number[] {
  const order: number[] = [];
  if (cached > 0) {
    const byEntry = new Int32Array(cached).fill(-1);
    for (let i = 0; i < count; i++) if (hits[i] >= 0) byEntry[hits[i]] = i;
    for (let e = 0; e < cached; e++) {
      if (byEntry[e] >= 0) order.push(byEntry[e]);
    }
  }
  for (let i = 0; i < count; i++) if (hits[i] < 0) order.push(i);
  return order;
}

/**
 * Up to how many records streamJobs() keeps their text between its passes
 * (about 11 MiB of records written by this module).
 */
const KEEP_TEXT_UP_TO = 16_384;

/**
 * The IDs of the records in a directory; misnamed ones are invalid. Read
 * asynchronously: Deno's readDirSync() builds every entry at once, which
 * for 100,000 jobs (200,000 files) peaked 150 MiB higher than readDir()
 * (205 against 51 MiB VmHWM, in a script doing only that).
 */
async function scan(
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

function byIdDescending(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

function sortInvalid(invalid: InvalidJobFile[]): InvalidJobFile[] {
  return invalid.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** `<id>.json`, not hidden, is a record: returns the ID it claims. */
export function recordIdOf(name: string): string | undefined {
  if (!name.endsWith(".json") || name.startsWith(".")) return undefined;
  return name.slice(0, -".json".length);
}
