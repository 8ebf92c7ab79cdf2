// The one watch of a job's record, for every store and every caller
// (waitForJob(), watchJob(), cancel(), followLog(), `jobs wait`, `jobs
// logs -f`): yields the record at once, then again each time it changes,
// until it has ended. A store's change feed wakes it (a file watch, LISTEN);
// a look every `pollMs` sees what no change announces, such as a supervisor
// killed with SIGKILL, which writes nothing. While the job has not started,
// the watch repairs the queue, so a job whose starter died still starts.

import type { Job } from "../store/job.ts";
import type { ChangeFeed, JobStore } from "../store/contract.ts";
import { Wakeup } from "../util/wakeup.ts";
import { openStore, type StoreOption } from "../store/open.ts";
import { checkDuration } from "../duration.ts";
import { isFinalStatus, UNSTARTED_STATUSES } from "../store/rules.ts";
import { QueueRepair } from "../schedule/queue_repair.ts";
import { livenessPath, localJournal } from "../store/liveness.ts";
import { foldJournal, readJournal } from "../store/journal.ts";

/** How often a watch looks at a job that sends no news: 1 s. */
const LOST_CHECK_INTERVAL = 1_000;

/** Options for {@linkcode watchRecord}. */
export interface WatchRecordOptions {
  /**
   * A file of this host (the job's log) whose changes wake the watch too;
   * each such wake yields the record, changed or not, so that the caller
   * can read what the file gained.
   */
  file?: string;
  /** Give up after this many milliseconds. @default {Infinity} */
  timeout?: number;
  /** Give up when this signal aborts; the watch throws its reason. */
  signal?: AbortSignal;
  /** The longest wait between two looks. @default {1000} */
  pollMs?: number;
  /** Makes the error thrown when the timeout passes first. */
  onTimeout: () => Error;
}

/**
 * Yields a job's record (resolved `id`) at once and again each time it
 * changes, the last one final; changes that come faster than the loop takes
 * them are folded together. The caller has the final record before the
 * watch writes it into the record or lets go of its watches, so it can
 * answer first; one that leaves then leaves the write to the finisher.
 *
 * @throws {Error} What `options.onTimeout` returns, at the deadline.
 * @throws {JobNotFoundError} If the record is removed during the watch.
 */
export async function* watchRecord(
  store: JobStore,
  id: string,
  options: WatchRecordOptions,
): AsyncGenerator<Job, void, undefined> {
  const { timeout, signal } = options;
  const started = Date.now();
  const live = livenessPath(store, id);
  // Armed before the first look, so no change after it is missed: the
  // store's feed, and the job's journal on this host, where its end lands
  // first (docs/design.md, "Folding").
  await using feed = await wakeups(store, id, live, options.file);
  using repair = new QueueRepair(store);
  let job = await store.load(id);
  let last = JSON.stringify(job);
  const unstarted = (j: Job) => UNSTARTED_STATUSES.includes(j.status);
  repair.while(unstarted(job));
  yield job;
  if (isFinalStatus(job.status)) return;
  const deadline = timeout ?? Infinity;
  for (;;) {
    signal?.throwIfAborted();
    const left = deadline - (Date.now() - started);
    if (left <= 0) {
      // The end may have come with the deadline: it wins.
      job = await store.load(id);
      if (isFinalStatus(job.status)) {
        if (JSON.stringify(job) !== last) yield job;
        return;
      }
      throw options.onTimeout();
    }
    await abortable(
      feed.next(Math.min(left, options.pollMs ?? LOST_CHECK_INTERVAL)),
      signal,
    );
    const ended = await journaledEnd(store, id, live);
    if (ended !== undefined) {
      yield ended;
      // Written into the record after the answer (it is durable in the
      // journal already), unless the caller has left: the finisher will.
      await store.load(id).catch(() => {});
      return;
    }
    job = await store.load(id);
    repair.while(unstarted(job));
    const now = JSON.stringify(job);
    if (now !== last || options.file !== undefined) {
      last = now;
      yield job;
    }
    if (isFinalStatus(job.status)) return;
  }
}

/**
 * The job's end as its journal on this host has it (its `E` line), folded
 * into its record without writing: load() would first write it durably, a
 * few milliseconds on the way to the answer.
 */
async function journaledEnd(
  store: JobStore,
  id: string,
  live: string,
): Promise<Job | undefined> {
  // A cheap look first: most wakes find no end.
  if (readJournal(live)?.end === undefined) return undefined;
  const recorded = await store.loadRecorded(id);
  const journal = localJournal(store, recorded);
  if (journal?.end === undefined) return undefined;
  const job = foldJournal(recorded, journal);
  return isFinalStatus(job.status) ? job : undefined;
}

/**
 * The store's change feed for the job, and watches of `files` that exist
 * (its journal; the log of a follower), as one feed.
 */
async function wakeups(
  store: JobStore,
  id: string,
  ...files: (string | undefined)[]
): Promise<ChangeFeed> {
  const feed = await store.changes(id);
  const wakeup = new Wakeup();
  let closed = false;
  // The store's feed, relayed: each change it announces kicks this one.
  const relay = (async () => {
    while (!closed) {
      await feed.next(60_000);
      wakeup.kick();
    }
  })();
  const watchers: Deno.FsWatcher[] = [];
  for (const file of files) {
    if (file === undefined) continue;
    try {
      watchers.push(Deno.watchFs(file, { recursive: false }));
    } catch {
      // Gone, another host's, or out of inotify watches: the poll sees it.
    }
  }
  const pumps = watchers.map(async (watcher) => {
    try {
      for await (const _ of watcher) wakeup.kick();
    } catch {
      // Closed.
    }
  });
  return {
    next: (ms) => wakeup.next(ms),
    async [Symbol.asyncDispose]() {
      closed = true;
      for (const watcher of watchers) watcher.close();
      await feed[Symbol.asyncDispose]();
      await Promise.all([relay, ...pumps]);
    },
  };
}

/** Waits for `wait`, or until `signal` aborts (then throws its reason). */
async function abortable(
  wait: Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  signal?.throwIfAborted();
  const aborted = Promise.withResolvers<void>();
  const onAbort = () => aborted.resolve();
  signal?.addEventListener("abort", onAbort);
  try {
    await Promise.race([wait, aborted.promise]);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  signal?.throwIfAborted();
}

/**
 * Thrown by {@linkcode waitForJob} and {@linkcode watchJob} when their
 * timeout passes before the job ends.
 *
 * @example Give up on a job that is still running
 * ```ts
 * import { FileJobStore } from "@epack/detach/jobs";
 * import { waitForJob, WaitTimeoutError } from "@epack/detach";
 *
 * const dir = await Deno.makeTempDir();
 * await using store = new FileJobStore(dir);
 * const job = await store.create({ command: "sync" });
 * try {
 *   await waitForJob(job.id, { store, timeout: 50 });
 * } catch (err) {
 *   if (!(err instanceof WaitTimeoutError)) throw err;
 *   console.log(err.jobId === job.id); // true
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class WaitTimeoutError extends Error {
  /** The job waited for. */
  readonly jobId: string;
  /**
   * Makes the error.
   * @param jobId The job waited for.
   * @param ms How long the wait lasted.
   */
  constructor(jobId: string, ms: number) {
    super(`Timed out after ${ms} ms waiting for job ${jobId}`);
    this.jobId = jobId;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "WaitTimeoutError";
  }
}

/**
 * Options for {@linkcode watchJob} and {@linkcode waitForJob}.
 *
 * @example Watch a job of another project for at most a minute
 * ```ts ignore
 * import { watchJob, type WatchOptions } from "@epack/detach";
 *
 * const options: WatchOptions = { store: "/srv/app/.epack/jobs", timeout: 60_000 };
 * for await (const job of watchJob("K7QZ", options)) console.log(job.status);
 * ```
 */
export interface WatchOptions extends StoreOption {
  /**
   * Give up after this many milliseconds: a whole number from 0 to
   * `MAX_DURATION` (36500 days; timeouts beyond `setTimeout`'s 24.8 days are
   * chained, not cut short). Left out, the watch has no time limit.
   * @default {undefined}
   */
  timeout?: number;
  /** Give up when this signal aborts; the watch throws its reason. */
  signal?: AbortSignal;
}

/**
 * Watches a job's record: yields it at once, then again each time it
 * changes, and finishes after yielding a final record (`completed`,
 * `failed`, `timed_out`, `cancelled` or `lost`). Leaving the loop early
 * (`break`) ends the watch and frees what it holds.
 *
 * Only the record is watched, not the jobs directory (the logs live
 * there too, and a busy log would wake the watch for every write), so a
 * change is seen within milliseconds. A job whose supervisor was killed
 * with SIGKILL writes nothing: the record is looked at once a second too,
 * and such a job is yielded as `lost` within about a second. Changes that
 * come faster than the loop takes them are folded together: the next record
 * yielded is the newest one.
 *
 * While a job is `waiting` or `queued`, the watch runs a scheduler pass
 * every 2 seconds (when the store's pending marker says one may be due),
 * so a job whose starter died still starts; with `--allow-write` and
 * `--allow-run`, else the passes are skipped.
 *
 * Requires `--allow-read` (and `--allow-write` to record a lost job).
 *
 * @param ref The job: its ID, or a unique prefix or suffix of it of at
 * least 4 characters.
 * @param options The store, a timeout, an abort signal.
 * @returns The job's records, oldest first, the last one final.
 * @throws {InvalidJobIdError} If the reference is not valid.
 * @throws {JobNotFoundError} If no job matches, or its record is removed
 * during the watch.
 * @throws {AmbiguousJobIdError} If more than one job matches.
 * @throws {RangeError} If `timeout` is not a whole number of milliseconds
 * from 0 to `MAX_DURATION`.
 * @throws {WaitTimeoutError} If `timeout` passes before the job ends.
 *
 * @example Report each change of a job
 * ```ts
 * import { FileJobStore } from "@epack/detach/jobs";
 * import { watchJob } from "@epack/detach";
 *
 * const jobsDir = await Deno.makeTempDir();
 * await using store = new FileJobStore(jobsDir);
 * const job = await store.create({ command: "sync" });
 * setTimeout(() => store.finish(job.id, { status: "completed" }), 50);
 * const seen = [];
 * for await (const record of watchJob(job.id, { store })) {
 *   seen.push(record.status);
 * }
 * console.log(seen); // [ "running", "completed" ]
 * await Deno.remove(jobsDir, { recursive: true });
 * ```
 */
export async function* watchJob(
  ref: string,
  options: WatchOptions = {},
): AsyncGenerator<Job, void, undefined> {
  const { timeout, signal } = options;
  if (timeout !== undefined) checkDuration("timeout", timeout);
  const store = await openStore(options.store);
  try {
    const id = await store.resolve(ref);
    yield* watchRecord(store, id, {
      timeout,
      signal,
      onTimeout: () => new WaitTimeoutError(id, timeout ?? Infinity),
    });
  } finally {
    if (typeof options.store !== "object") await store[Symbol.asyncDispose]();
  }
}

/**
 * Waits until a job has ended and returns its final record. It wakes on the
 * change of the job's record, so it returns within milliseconds of the end;
 * a lost job is noticed within a second. It is {@linkcode watchJob} with
 * only the last record kept.
 *
 * Requires `--allow-read`.
 *
 * @param ref The job: its ID, or a unique prefix or suffix of it of at
 * least 4 characters.
 * @param options The store, a timeout, an abort signal.
 * @returns The final record.
 * @throws {JobNotFoundError} If no job matches, or its record is removed
 * during the wait.
 * @throws {AmbiguousJobIdError} If more than one job matches.
 * @throws {RangeError} If `timeout` is not a whole number of milliseconds
 * from 0 to `MAX_DURATION`.
 * @throws {WaitTimeoutError} If `timeout` passes first.
 *
 * @example Wait for a job
 * ```ts ignore
 * import { waitForJob } from "@epack/detach";
 *
 * const job = await waitForJob("01JD0Q2V3K5W8Y9Z0A1B2C3D4E", { timeout: 60_000 });
 * console.log(job.status, job.exitCode);
 * ```
 */
export async function waitForJob(
  ref: string,
  options: WatchOptions = {},
): Promise<Job> {
  return await lastOf(watchJob(ref, options));
}

/** waitForJob() for a caller that has the store and the ID (cancel()). */
export async function waitFor(
  store: JobStore,
  id: string,
  options: { timeout?: number; signal?: AbortSignal },
): Promise<Job> {
  return await lastOf(watchRecord(store, id, {
    ...options,
    onTimeout: () => new WaitTimeoutError(id, options.timeout ?? Infinity),
  }));
}

// A watch ends only after a final record, or throws.
async function lastOf(watch: AsyncIterable<Job>): Promise<Job> {
  let last: Job | undefined;
  for await (const job of watch) last = job;
  return last!;
}
