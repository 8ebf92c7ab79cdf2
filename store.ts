/**
 * The job store's contract: what every backend (the jobs directory, a
 * PostgreSQL database, a third one) gives the library and the CLI. The
 * library never needs more than this to create, supervise, list, cancel and
 * follow a job.
 *
 * {@linkcode openStore} opens a store from what a user typed: a plain path is
 * the file store (the default, unchanged on disk); a `postgres://` or
 * `postgresql://` URL is the PostgreSQL store, whose client is loaded only
 * then (file-store users never load it).
 *
 * Liveness is part of the contract, in two halves: the supervisor
 * {@linkcode JobBackend.hold | holds} it while it lives, and every reader
 * applies the lost rule to what it loads: a job recorded as running whose
 * holder is gone is reported `lost`. The file store holds a flock the kernel
 * drops when the supervisor dies; the PostgreSQL store holds a lease that the
 * supervisor renews and that expires by the server's clock.
 *
 * @example Open the store a user named and list its jobs
 * ```ts ignore
 * import { openStore } from "@epack/detach/store";
 *
 * await using store = await openStore(Deno.env.get("EPACK_DETACH_STORE") ?? ".epack/jobs");
 * const { jobs } = await store.list();
 * for (const job of jobs) console.log(job.host ?? "-", job.id, job.status);
 * ```
 *
 * @module
 */

import type {
  CleanOptions,
  CompleteOptions,
  CreateJobOptions,
  DeleteOptions,
  InvalidJobFile,
  Job,
  JobStatus,
  JobUpdater,
  ListOptions,
  ListResult,
} from "./jobs.ts";
import { FINAL_STATUSES } from "./jobs.ts";
import { FileJobBackend } from "./store/file_store.ts";

export { FileJobBackend };
// The types the contract speaks in, so that a backend elsewhere can
// implement it from this module alone.
export { JobStore } from "./jobs.ts";
export type {
  CleanOptions,
  CompleteOptions,
  CreateJobOptions,
  DeleteOptions,
  InvalidJobFile,
  Job,
  JobStatus,
  JobUpdater,
  ListOptions,
  ListResult,
};

/**
 * The environment variable that overrides this host's name, so that tests
 * can run two "hosts" on one machine.
 */
export const HOST_ENV = "EPACK_DETACH_HOST";

/**
 * The environment variable naming the store: a path or a `postgres://` URL.
 */
export const STORE_ENV = "EPACK_DETACH_STORE";

/**
 * A job as a store returns it: the record, plus what a store shared by
 * several hosts knows about where it runs.
 */
export interface StoredJob extends Job {
  /** The host that created the job, for a store shared by hosts. */
  host?: string;
  /**
   * The end of the job's log, kept in the store when the job ended, for a
   * store whose readers may be on another host than the log.
   */
  logTail?: string;
}

/** What {@linkcode JobBackend.list} returns. */
export interface StoredListResult {
  /** The valid jobs, newest first. */
  jobs: StoredJob[];
  /** Records that could not be read as jobs. */
  invalid: InvalidJobFile[];
}

/** How a job ended, for {@linkcode JobBackend.finish}. */
export interface JobEnd {
  /** The final status (not `running`). */
  status: JobStatus;
  /** The exit code, when the worker exited normally. */
  exitCode?: number;
  /** The signal, when the worker was killed by one. */
  signal?: string;
  /** What went wrong. */
  error?: string;
  /** Job-specific result data. */
  result?: Record<string, unknown>;
}

/**
 * What {@linkcode JobBackend.hold} gives the supervisor: its hold on the
 * job's liveness, released when disposed.
 */
export interface JobLease extends AsyncDisposable {
  /** The record as it was when the hold was taken, before it was stamped. */
  readonly previous: Job;
  /**
   * The supervisor came after the start grace period: a reader may already
   * have called the job lost, so it must not run it.
   */
  readonly late: boolean;
  /**
   * Aborts when the store sees a cancel request for the job (one made on
   * another host, say). A store whose cancels always come as a signal to
   * the supervisor (the file store) may never abort it.
   */
  readonly cancelRequested: AbortSignal;
}

/**
 * Wake-ups when a job's record may have changed, for a watch loop. It is
 * armed from the moment it is made: a change between two waits is not lost.
 */
export interface ChangeFeed extends AsyncDisposable {
  /**
   * Resolves at the first change since the last call (at once if one came
   * already), or after `ms` milliseconds, whichever is first.
   *
   * @param ms The longest wait.
   */
  next(ms: number): Promise<void>;
}

/**
 * A job store backend. Every method that takes an ID validates it first
 * (`InvalidJobIdError`) and throws `JobNotFoundError` for an unknown job.
 * IDs are matched as the file store matches them: exactly, and ULIDs in any
 * case.
 */
export interface JobBackend extends AsyncDisposable {
  /** Where the jobs are: a directory, or a URL without its password. */
  readonly location: string;
  /** What kind of store this is. */
  readonly kind: "file" | "postgres" | string;
  /**
   * This host's name as the store records it, or `undefined` for a store
   * that lives on one host.
   */
  readonly host: string | undefined;
  /** Creates a running job (see `JobStore.create`). */
  create(options: CreateJobOptions): Promise<StoredJob>;
  /** Loads a job, with the lost rule applied. */
  load(id: string): Promise<StoredJob>;
  /** Loads a job as recorded, without the lost rule. */
  loadRecorded(id: string): Promise<StoredJob>;
  /** Finds the one job an abbreviated ID names (see `JobStore.resolveId`). */
  resolveId(prefix: string): Promise<string>;
  /** Lists the jobs, newest first, with the lost rule applied. */
  list(options?: ListOptions): Promise<StoredListResult>;
  /**
   * Read-modify-write of one job, atomic against every other update from
   * any process or host; the new record is checked before it is written.
   */
  update(id: string, fn: JobUpdater): Promise<StoredJob>;
  /** Records a job's end; a job that has ended keeps its first end. */
  finish(id: string, end: JobEnd): Promise<StoredJob>;
  /** Deletes a job (and by default its log, where the log is on this host). */
  delete(id: string, options?: DeleteOptions): Promise<void>;
  /** Removes ended jobs older than `olderThan` ms (see `JobStore.clean`). */
  clean(olderThan: number, options?: CleanOptions): Promise<string[]>;
  /**
   * Takes the job's liveness for its supervisor and keeps it until the lease
   * is disposed or the process dies; stamps `supervisedAt` and the PID.
   */
  hold(id: string): Promise<JobLease>;
  /**
   * Tells whether the job's supervisor holds its liveness: `undefined` if
   * the job has no liveness at all (an epack record, say).
   */
  isHeld(id: string): Promise<boolean | undefined>;
  /**
   * Records a cancel request on a running job: SIGKILL is due `grace` ms
   * from now, or at the deadline of an earlier request if that is sooner
   * (see `_cancel.ts`). The supervisor picks it up.
   */
  requestCancel(id: string, grace: number): Promise<StoredJob>;
  /** Wake-ups for a job's changes. */
  changes(id: string): Promise<ChangeFeed>;
}

/**
 * Whether a store name is a PostgreSQL URL.
 *
 * @param name A path or URL.
 * @returns `true` for `postgres://` and `postgresql://` URLs.
 */
export function isPostgresUrl(name: string): boolean {
  return /^postgres(ql)?:\/\//i.test(name);
}

/**
 * This host's name as stores record it: `EPACK_DETACH_HOST` if set, else
 * `Deno.hostname()`.
 *
 * @returns The host name.
 */
export function hostName(): string {
  let set: string | undefined;
  try {
    set = Deno.env.get(HOST_ENV);
  } catch {
    // Without --allow-env the override cannot be read: not set, then.
  }
  return set !== undefined && set !== "" ? set : Deno.hostname();
}

/**
 * Opens the store a user named. A `postgres://` URL loads the PostgreSQL
 * client (only then) and connects; anything else is a jobs directory.
 *
 * @param name A jobs directory or a `postgres://` URL.
 * @returns The open store; dispose it to close its connections.
 * @throws {Error} If the database cannot be reached or its schema is from
 * a newer version (a one-line message).
 */
export async function openStore(name: string): Promise<JobBackend> {
  if (isPostgresUrl(name)) {
    const { PostgresJobStore } = await import("./postgres.ts");
    return await PostgresJobStore.open(name);
  }
  return new FileJobBackend(name);
}

/** Options for {@linkcode watchStoredJob}. */
export interface WatchStoreOptions {
  /** Give up after this many milliseconds. @default {Infinity} */
  timeout?: number;
  /** Give up when this signal aborts; the watch throws its reason. */
  signal?: AbortSignal;
  /**
   * The longest wait between two looks, so that a job whose supervisor
   * vanished is seen lost without any change to its record.
   * @default {1000}
   */
  pollMs?: number;
  /** Called when the timeout passes with the job still running. */
  onTimeout: () => Error;
}

/**
 * Yields a job's record at once and again each time it changes, until it
 * has ended. The one watch loop, for every backend.
 *
 * @param store The store.
 * @param id The job ID.
 * @param options Deadline, abort signal, poll period.
 * @returns An iterator of the job's records.
 * @throws {Error} What `options.onTimeout` returns, at the deadline.
 */
export async function* watchStoredJob(
  store: JobBackend,
  id: string,
  options: WatchStoreOptions,
): AsyncGenerator<StoredJob, void, undefined> {
  const { timeout, signal } = options;
  if (timeout !== undefined && !(timeout >= 0)) {
    throw new RangeError(`Invalid timeout: ${timeout}`);
  }
  const isFinal = (j: Job) => FINAL_STATUSES.includes(j.status);
  const started = Date.now();
  // Armed before the first look, so no change after it is missed.
  await using feed = await store.changes(id);
  let job = await store.load(id);
  let last = JSON.stringify(job);
  yield job;
  if (isFinal(job)) return;
  const deadline = timeout ?? Infinity;
  for (;;) {
    signal?.throwIfAborted();
    const left = deadline - (Date.now() - started);
    if (left <= 0) {
      // The end may have come with the deadline: it wins.
      job = await store.load(id);
      if (isFinal(job)) {
        if (JSON.stringify(job) !== last) yield job;
        return;
      }
      throw options.onTimeout();
    }
    await abortable(
      feed.next(Math.min(left, options.pollMs ?? 1_000)),
      signal,
    );
    job = await store.load(id);
    const now = JSON.stringify(job);
    if (now !== last) {
      last = now;
      yield job;
    }
    if (isFinal(job)) return;
  }
}

async function abortable(
  wait: Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (signal === undefined) return await wait;
  signal.throwIfAborted();
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      wait,
      new Promise<void>((res) => {
        onAbort = res;
        signal.addEventListener("abort", onAbort);
      }),
    ]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
  signal.throwIfAborted();
}
