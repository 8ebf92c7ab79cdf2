// The job store's contract: what every store (the jobs directory, a
// PostgreSQL database) gives the library and the CLI, completely. What a
// store cannot do is a declared capability that callers check; nothing
// finds out what a store is by its class.

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
  /**
   * The records are files in {@linkcode JobStore.localDir} on this host
   * (a jobs directory), so changing a job needs write access there.
   */
  readonly localRecords: boolean;
  /**
   * Several hosts share the store: a job may run on another host (its
   * `host` says which), whose processes and files this host cannot reach.
   * A cancel reaches such a job through the store.
   */
  readonly sharedByHosts: boolean;
  /**
   * The store can hold jobs that start later: after others (`after`), or
   * when a slot frees under a parallel limit.
   */
  readonly scheduling: boolean;
}

/**
 * An update function: gets the current record, returns the new one. It must
 * be pure, acting on nothing but the record it is given: a store may call
 * it more than once (the PostgreSQL store calls it again when another write
 * came first), and only the last call's result is written. Do what follows
 * a change (signal a process, say) after the update has returned.
 */
export type JobUpdater = (job: Job) => Job | Promise<Job>;

/** Options for {@linkcode JobStore.update}. */
export interface UpdateOptions {
  /**
   * Make the write survive a machine crash (the file store flushes the new
   * record before it takes the record's name). With `false` the write is
   * still atomic for every reader: for stamps that a later durable write
   * carries along, or that mean nothing after a restart.
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
   * Asked about each job that would be removed; a job for which it returns
   * `true` is kept (say, a lost job whose processes still run).
   * @default {() => false}
   */
  keep?: (job: Job) => boolean | Promise<boolean>;
}

/**
 * What {@linkcode JobStore.hold} gives a job's supervisor: its hold on the
 * job's liveness, released when disposed or when the process dies.
 */
export interface JobLease extends AsyncDisposable {
  /** The record as it was when the hold was taken, before it was stamped. */
  readonly previous: Job;
  /**
   * The supervisor came after the start grace period: a reader may already
   * have reported the job lost, so it must not be run.
   */
  readonly late: boolean;
  /**
   * Aborts when the store sees a cancel request for the job that did not
   * come as a signal (one made on another host).
   */
  readonly cancelRequested: AbortSignal;
}

/**
 * Wake-ups when a job's record may have changed. Armed from the moment it
 * is made: a change between two waits is not lost.
 */
export interface ChangeFeed extends AsyncDisposable {
  /**
   * Resolves at the first change since the last call (at once if one came
   * already), or after `ms` milliseconds, whichever is first.
   */
  next(ms: number): Promise<void>;
}

/**
 * A job store. Every method that takes an ID checks it first
 * (`InvalidJobIdError`) and throws `JobNotFoundError` for an unknown job; a
 * ULID may be given in any case. {@linkcode JobStore.resolve} turns what a
 * user typed (an abbreviation) into an ID.
 *
 * Liveness is part of the contract: a job's supervisor
 * {@linkcode JobStore.hold | holds} it while it lives, and every read
 * applies the lost rule: a job that says a supervisor holds it, while none
 * does, reads `lost`.
 */
export interface JobStore extends AsyncDisposable {
  /** Where the jobs are: a directory, or a URL without its password. */
  readonly location: string;
  /** What the store can do. */
  readonly capabilities: StoreCapabilities;
  /**
   * This host's name as the store records it on each job, for a store
   * shared by hosts; `undefined` for a store of one host.
   */
  readonly host: string | undefined;
  /**
   * The directory on this host that holds the logs and liveness files of
   * the jobs this host runs.
   */
  readonly localDir: string;
  /**
   * The longest a cancel request takes to reach the supervisor of a job of
   * another host, in milliseconds: 0 for a store of one host.
   */
  readonly cancelReach: number;
  /**
   * How often this host renews the leases of its jobs, in milliseconds:
   * 0 for a store without leases.
   */
  readonly renewEvery: number;

  /**
   * Creates a job (status `running` unless `options.status` says
   * otherwise), its empty log and its liveness file. The record is checked
   * before anything is written; a create that fails part way leaves nothing.
   *
   * @throws {Deno.errors.AlreadyExists} If a job with that ID exists.
   */
  create(options: CreateJobOptions): Promise<Job>;
  /**
   * The ID of the one job a reference names: the exact ID, the same ULID
   * in another case, or a unique prefix or suffix (see `matchJobId`).
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
   * Read-modify-write of one job, atomic against every other update from
   * any process or host. The new record is checked before it is written.
   *
   * @throws {TypeError} If the new record has a field of a type the record
   * cannot hold; nothing is written.
   * @throws {RangeError} If it has a value the record cannot hold.
   */
  update(id: string, fn: JobUpdater, options?: UpdateOptions): Promise<Job>;
  /**
   * Records a job's end, `at` the time it happened (default: now). A job
   * that has ended keeps its first end.
   */
  finish(id: string, end: JobEnd, at?: Date): Promise<Job>;
  /** Deletes a job, and by default its log where the log is on this host. */
  delete(id: string, options?: DeleteOptions): Promise<void>;
  /**
   * Removes every job that has ended (lost ones included) more than
   * `olderThan` milliseconds ago, unless `options.keep` keeps it.
   *
   * @returns The IDs removed.
   */
  clean(olderThan: number, options?: CleanOptions): Promise<string[]>;
  /**
   * Takes the job's liveness for its supervisor and keeps it until the
   * lease is disposed or the process dies; stamps `supervisedAt` and the
   * PID.
   */
  hold(id: string): Promise<JobLease>;
  /**
   * Whether the job's supervisor holds its liveness: `undefined` if the job
   * has no liveness at all (a record epack's Go code made).
   */
  isHeld(id: string): Promise<boolean | undefined>;
  /** Wake-ups for a job's changes. */
  changes(id: string): Promise<ChangeFeed>;
  /**
   * How another process of this host opens this same store: a jobs
   * directory's path, or a database's URL with its credentials and
   * options. It may hold a secret: never print it or put it on a command
   * line (a job's supervisor gets it in its environment).
   */
  reopenSpec(): string;
  /**
   * Where this host keeps the log of job `id`: made from the ID under
   * {@linkcode JobStore.localDir}, never taken from a record. Only a job
   * of this host has its log there.
   */
  logPath(id: string): string;
}

/**
 * Whether a job runs on this host, so that its processes and files may be
 * acted on from here: always, for a store of one host.
 */
export function isLocalJob(store: JobStore, job: Job): boolean {
  return job.host === undefined || job.host === store.host;
}

export type { JobEnd };
