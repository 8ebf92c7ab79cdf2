// The job store's contract, which every store implements completely. What
// a store cannot do is a declared capability, never found by its class.

import type {
  CreateJobOptions,
  DeleteOptions,
  InvalidJobFile,
  Job,
  JobEnd,
  JobStatus,
} from "./job.ts";

/** What a store can and cannot do, for callers to check before they ask. */
export interface StoreCapabilities {
  /** The records are files in {@linkcode JobStore.localDir} on this host. */
  readonly localRecords: boolean;
  /** Several hosts share the store: a job may run on another (its `host`). */
  readonly sharedByHosts: boolean;
  /** The store can hold jobs that start later (`after`, a parallel limit). */
  readonly scheduling: boolean;
}

/**
 * An update function: gets the current record, returns the new one. It must
 * be pure: a store may call it more than once, and writes only the last
 * result. Signal a process after the update has returned.
 */
export type JobUpdater = (job: Job) => Job | Promise<Job>;

/** Options for {@linkcode JobStore.update}. */
export interface UpdateOptions {
  /**
   * Make the write survive a machine crash; with `false` it is still atomic.
   * @default {true}
   */
  durable?: boolean;
}

/** Options for {@linkcode JobStore.list}. */
export interface ListOptions {
  /** Only jobs with this status (after the lost rule is applied). */
  status?: JobStatus;
}

/** What {@linkcode JobStore.list} returns. */
export interface ListResult {
  /** The valid jobs, newest first. */
  jobs: Job[];
  /** Records that could not be read as jobs, with the reason. */
  invalid: InvalidJobFile[];
}

/** Options for {@linkcode JobStore.clean}. */
export interface CleanOptions {
  /**
   * Keeps each job that would be removed for which it returns `true`.
   * @default {() => false}
   */
  keep?: (job: Job) => boolean | Promise<boolean>;
}

/** A supervisor's hold on a job's liveness, until disposed or its death. */
export interface JobLease extends AsyncDisposable {
  /** The record as it was when the hold was taken, before it was stamped. */
  readonly previous: Job;
  /** The supervisor came too late (the job may read lost): do not run it. */
  readonly late: boolean;
  /** Aborts at a cancel request that came through the store, not a signal. */
  readonly cancelRequested: AbortSignal;
}

/** Wake-ups when a job's record may have changed, armed from the start. */
export interface ChangeFeed extends AsyncDisposable {
  /** Resolves at the first change since the last call, or after `ms`. */
  next(ms: number): Promise<void>;
}

/**
 * A job store. Every method that takes an ID checks it
 * (`InvalidJobIdError`), takes a ULID in any case, and throws
 * `JobNotFoundError` for an unknown job. A job's supervisor
 * {@linkcode JobStore.hold | holds} its liveness, and every read applies
 * the lost rule.
 */
export interface JobStore extends AsyncDisposable {
  /** Where the jobs are: a directory, or a URL without its password. */
  readonly location: string;
  /** What the store can do. */
  readonly capabilities: StoreCapabilities;
  /** This host's name in a store shared by hosts, else `undefined`. */
  readonly host: string | undefined;
  /** The directory of this host's logs and liveness files. */
  readonly localDir: string;
  /** The longest a cancel takes to reach another host's job, in ms. */
  readonly cancelReach: number;
  /**
   * How often this host renews the leases of its jobs, in milliseconds:
   * 0 for a store without leases.
   */
  readonly renewEvery: number;

  /**
   * Creates a job, its empty log and its liveness file, or nothing.
   *
   * @throws {Deno.errors.AlreadyExists} If a job with that ID exists.
   */
  create(options: CreateJobOptions): Promise<Job>;
  /**
   * The ID of the one job a reference (ID, prefix, suffix, name) names.
   *
   * @throws {JobNotFoundError} If no job matches.
   * @throws {AmbiguousJobIdError} If more than one does.
   */
  resolve(ref: string): Promise<string>;
  /** Loads a job, with the lost rule applied. */
  load(id: string): Promise<Job>;
  /** Loads a job as recorded, without the lost rule. */
  loadRecorded(id: string): Promise<Job>;
  /** Lists the jobs, newest first, with the lost rule applied. */
  list(options?: ListOptions): Promise<ListResult>;
  /**
   * Read-modify-write of one job, atomic against every other update.
   *
   * @throws {TypeError} If the new record has a field of the wrong type.
   * @throws {RangeError} If it has a value the record cannot hold.
   */
  update(id: string, fn: JobUpdater, options?: UpdateOptions): Promise<Job>;
  /** Records a job's end, `at` the time it happened; the first end wins. */
  finish(id: string, end: JobEnd, at?: Date): Promise<Job>;
  /** Deletes a job, and by default its log where the log is on this host. */
  delete(id: string, options?: DeleteOptions): Promise<void>;
  /** Removes the jobs that ended more than `olderThan` ms ago; their IDs. */
  clean(olderThan: number, options?: CleanOptions): Promise<string[]>;
  /** Takes the job's liveness for its supervisor. */
  hold(id: string): Promise<JobLease>;
  /** Whether the job's liveness is held; `undefined` if it has none. */
  isHeld(id: string): Promise<boolean | undefined>;
  /** Wake-ups for a job's changes. */
  changes(id: string): Promise<ChangeFeed>;
  /** How another process opens this store: a secret, never to print. */
  reopenSpec(): string;
  /** Where this host keeps the log of job `id`, made from the ID. */
  logPath(id: string): string;
}

/** Whether a job runs on this host, so its processes and files are here. */
export function isLocalJob(store: JobStore, job: Job): boolean {
  return job.host === undefined || job.host === store.host;
}

export type { JobEnd };
