/**
 * The job store: one JSON record and one log file per job, kept in a jobs
 * directory, written atomically and updated under a cross-process lock.
 * It knows nothing of processes beyond the liveness lock its supervisors hold.
 *
 * The records use the key names and types of epack's Go `jobs.Job`, so the Go
 * CLI can read our files and we can read its files.
 *
 * @example Create a job, record its end, read it back
 * ```ts
 * import { JobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new JobStore(dir);
 * const job = await store.create({ command: "pull", args: ["https://example.com/r"], pid: Deno.pid });
 * await store.complete(job.id, { exitCode: 0 });
 * const done = await store.load(job.id);
 * console.log(done.status); // "completed"
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import {
  AmbiguousJobIdError,
  InvalidJobIdError,
  isJobId,
  JOB_ID_ENV,
  JobNotFoundError,
  matchJobId,
  newJobId,
  ulidSpelling,
  validateJobId,
} from "./store/job_id.ts";
import {
  cleanable,
  cleanCutoff,
  type CleanOptions,
  type CompleteOptions,
  type CreateJobOptions,
  type DeleteOptions,
  FINAL_STATUSES,
  type InvalidJobFile,
  InvalidJobFileError,
  isFinalStatus,
  isSupervisedStatus,
  type Job,
  JOB_STATUSES,
  type JobAttempt,
  type JobStatus,
  type JobUpdater,
  type ListOptions,
  type ListResult,
} from "./store/job.ts";
import type { JobControlOptions } from "./store/job_options.ts";
import {
  newJob,
  readJobFile,
  readJobFileSync,
  serializeJobRecord,
  writeJobFile,
  writeRecordText,
} from "./store/record.ts";
import {
  createFile,
  removeIfPresent,
  removeStaleTemps,
  removeSyncIfPresent,
  withFileLock,
  writeFileDurably,
} from "./store/durable.ts";
import {
  applyLiveness,
  claimNewLiveness,
  isLivenessHeld,
  SUPERVISOR_START_GRACE_MS,
} from "./store/liveness.ts";
import { removeDebris } from "./store/debris.ts";
import { resolve } from "./util/path.ts";
import { listJobs, recordIdOf } from "./store/list.ts";

/**
 * How old the files of a job without a record must be before
 * {@linkcode JobStore.clean} takes them for debris: 10 minutes. A create in
 * progress holds its liveness lock, which keeps clean away from it anyway;
 * the age also covers the instant between making that file and locking it.
 */
const DEBRIS_AGE_MS = 10 * 60 * 1000;

// The record's types and errors, and the ID functions, are defined beside
// the code that needs them, so that the store's files import one way; they
// are part of this module's API.
export {
  AmbiguousJobIdError,
  type CleanOptions,
  type CompleteOptions,
  type CreateJobOptions,
  type DeleteOptions,
  FINAL_STATUSES,
  type InvalidJobFile,
  InvalidJobFileError,
  InvalidJobIdError,
  isFinalStatus,
  isSupervisedStatus,
  type Job,
  JOB_ID_ENV,
  JOB_STATUSES,
  type JobAttempt,
  type JobControlOptions,
  JobNotFoundError,
  type JobStatus,
  type JobUpdater,
  type ListOptions,
  type ListResult,
  newJobId,
  SUPERVISOR_START_GRACE_MS,
  validateJobId,
};
export {
  DEFAULT_RETRY_DELAY,
  MAX_AFTER,
  MAX_RETRIES,
} from "./store/job_options.ts";

/** Options for {@linkcode JobStore.update}. */
export interface UpdateOptions {
  /**
   * Flush the new record to disk before it replaces the old one. With
   * `false` the write is still atomic for every reader, but a machine crash
   * may lose it (and, on a file system that does not flush a file renamed
   * over another, leave the record empty): for stamps that a later durable
   * write carries along, or that mean nothing after a restart.
   * @default {true}
   */
  durable?: boolean;
}

/**
 * The job store over one jobs directory.
 *
 * Requires `--allow-read` and `--allow-write` for the directory.
 *
 * @example List the running jobs
 * ```ts ignore
 * import { JobStore } from "@epack/detach/jobs";
 *
 * const store = new JobStore(".epack/jobs");
 * const { jobs, invalid } = await store.list({ status: "running" });
 * for (const job of jobs) console.log(job.id, job.command);
 * for (const bad of invalid) console.error(`${bad.id}: ${bad.reason}`);
 * ```
 */
export class JobStore {
  readonly #dir: string;

  /**
   * Opens a store over a jobs directory. Nothing is read or created until a
   * method needs it.
   *
   * @param dir The jobs directory; made absolute against the cwd.
   */
  constructor(dir: string) {
    this.#dir = resolve(dir);
  }

  /** The absolute path of the jobs directory. */
  get dir(): string {
    return this.#dir;
  }

  /**
   * The path of a job's log file.
   *
   * @param id The job ID.
   * @returns `<dir>/<id>.log`.
   * @throws {InvalidJobIdError} If the ID is not valid.
   */
  logPath(id: string): string {
    return `${this.#dir}/${validateJobId(id)}.log`;
  }

  /**
   * The path of a job's record.
   *
   * @param id The job ID.
   * @returns `<dir>/<id>.json`.
   * @throws {InvalidJobIdError} If the ID is not valid.
   */
  recordPath(id: string): string {
    return `${this.#dir}/${validateJobId(id)}.json`;
  }

  /**
   * The path of the file whose lock the supervisor holds while it lives.
   *
   * @param id The job ID.
   * @returns `<dir>/<id>.live`.
   * @throws {InvalidJobIdError} If the ID is not valid.
   */
  livenessPath(id: string): string {
    return `${this.#dir}/${validateJobId(id)}.live`;
  }

  /**
   * Creates the jobs directory (mode 0700) if it does not exist.
   *
   * @throws {Deno.errors.PermissionDenied} If it cannot be created.
   */
  async ensureDir(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
  }

  /**
   * Creates a job record with status `running`, an empty log file and the
   * job's liveness file (all mode 0600).
   *
   * The record is checked before anything touches the disk (see
   * {@linkcode JobStore.update}). A create that fails part way (a full
   * disk, say) removes the files it made, in reverse order, and leaves no
   * file of the job behind (the jobs directory, once made, stays); a file
   * that was already there (a log kept by `delete(id, { log: false })`) is
   * left alone.
   *
   * @param options What to record.
   * @returns The new job.
   * @throws {InvalidJobIdError} If `options.id` is given and not valid.
   * @throws {RangeError} If `timeout` or `grace` is not a whole number of
   * milliseconds from 0 to `MAX_DURATION`, or another field has a value the
   * record cannot hold (a fractional `pid`, say).
   * @throws {TypeError} If a field has a type the record cannot hold.
   * @throws {Deno.errors.AlreadyExists} If a job with that ID exists (or is
   * being created).
   */
  async create(options: CreateJobOptions): Promise<Job> {
    const job = newJob(options, (id) => this.logPath(id));
    // Before anything touches the disk: a record the store would refuse to
    // read is never begun.
    const text = serializeJobRecord(job);
    await this.ensureDir();
    this.#createFiles(job, text);
    return job;
  }

  // The liveness file first, locked until the record exists, then the log,
  // then the record, by a hard link that fails if the name exists (so two
  // creators of one ID cannot both succeed). clean() takes an unlocked
  // liveness file without a record, older than DEBRIS_AGE_MS, for the debris
  // of a create that died; the lock keeps it off a create in progress.
  // spawn() waits on this, so it uses few, synchronous system calls.
  #createFiles(job: Job, text: string): void {
    const livePath = this.livenessPath(job.id);
    const made: string[] = [];
    let live: Deno.FsFile | undefined;
    try {
      const claim = claimNewLiveness(livePath);
      live = claim.file;
      if (claim.made) made.push(livePath);
      // The liveness file exists from the start, so a supervisor that never
      // takes its lock (it failed to start) is told apart from an epack
      // record, which has none, and is reported lost after the grace period.
      if (createFile(job.logPath)) made.push(job.logPath);
      writeRecordText(this.recordPath(job.id), text, { createNew: true });
    } catch (err) {
      for (const path of made.reverse()) removeSyncIfPresent(path);
      if (err instanceof Deno.errors.AlreadyExists) {
        throw new Deno.errors.AlreadyExists(`Job already exists: ${job.id}`);
      }
      throw err;
    } finally {
      live?.close();
    }
  }

  /**
   * Loads one job. A running job whose supervisor is gone is reported
   * `lost`; the file is not changed by reading it. A ULID may be given in
   * any case.
   *
   * @param id The job ID.
   * @returns The job.
   * @throws {InvalidJobIdError} If the ID is not valid.
   * @throws {JobNotFoundError} If there is no such job.
   * @throws {InvalidJobFileError} If the record is corrupt or foreign.
   */
  async load(id: string): Promise<Job> {
    return await this.#withLiveness(await this.#read(this.#stored(id)));
  }

  /**
   * Loads the record as it is on disk, without the liveness check.
   *
   * @param id The job ID (a ULID in any case).
   * @returns The job as recorded.
   * @throws {InvalidJobIdError} If the ID is not valid.
   * @throws {JobNotFoundError} If there is no such job.
   * @throws {InvalidJobFileError} If the record is corrupt or foreign.
   */
  async loadRecorded(id: string): Promise<Job> {
    return await this.#read(this.#stored(id));
  }

  /**
   * Lists the jobs, newest first. Log files are never read. A file that fails
   * to load is returned in `invalid` with its reason; it never hides the
   * valid jobs.
   *
   * @param options An optional status filter.
   * @returns The jobs and the invalid files.
   */
  async list(options: ListOptions = {}): Promise<ListResult> {
    return await listJobs(this, options);
  }

  /**
   * Finds the one job an abbreviated ID names. An exact ID always wins; then
   * the same ULID typed in another case; then a unique prefix; then, only if
   * no ID has that prefix, a unique suffix. ULIDs made close together share
   * their first characters (they encode the time), so the end of an ID, its
   * random part, is often the shorter way to name it. ULIDs are matched
   * without regard to case. Only file names are read.
   *
   * @param prefix An ID, an ID prefix, or an ID suffix (letters, digits,
   * underscores).
   * @returns The full job ID.
   * @throws {InvalidJobIdError} If the prefix is not valid.
   * @throws {JobNotFoundError} If no job matches.
   * @throws {AmbiguousJobIdError} If more than one matches.
   */
  async resolveId(prefix: string): Promise<string> {
    validateJobId(prefix);
    const ids: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        const id = recordIdOf(entry.name);
        if (id === prefix) return id;
        if (id !== undefined && isJobId(id)) ids.push(id);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return matchJobId(prefix, ids);
  }

  /**
   * Read-modify-write of one job under the job's cross-process lock, so
   * concurrent updates from several processes never lose each other. The new
   * record replaces the old one atomically, and by default durably (flushed
   * to disk before it takes the record's name).
   *
   * The store never writes a record it would refuse to read: the new
   * record is checked field by field, by the rule the parser applies, before
   * anything is written, and a record that fails is refused with the file
   * left as it was.
   *
   * @param id The job ID (a ULID in any case).
   * @param fn Gets the current record (as recorded, without the liveness
   * check) and returns the new one. Its `id` cannot change.
   * @param options Whether the write must survive a machine crash.
   * @returns The record as written.
   * @throws {InvalidJobIdError} If the ID is not valid.
   * @throws {JobNotFoundError} If there is no such job.
   * @throws {InvalidJobFileError} If the record is corrupt or foreign.
   * @throws {TypeError} If the new record has a field of a type the record
   * cannot hold (the message names its key); nothing is written.
   * @throws {RangeError} If the new record has a field with a value the
   * record cannot hold (a fractional or unsafe integer, an invalid date, an
   * unknown status); nothing is written.
   */
  async update(
    id: string,
    fn: JobUpdater,
    options: UpdateOptions = {},
  ): Promise<Job> {
    id = this.#stored(id);
    return await withFileLock(id, this.#lockPath(id), async () => {
      // Read synchronously: under the lock, nothing else is waited for, and
      // an asynchronous read is a trip through Deno's thread pool.
      const current = readJobFileSync(this.recordPath(id), id);
      const next = await fn(structuredClone(current));
      next.id = id;
      this.#write(next, { sync: options.durable ?? true });
      return next;
    });
  }

  /**
   * Records the end of a job: `completed` for exit code 0, otherwise
   * `failed`. A job that has already ended keeps its first end.
   *
   * @param id The job ID.
   * @param options The exit code or the signal, and optional result data.
   * @returns The record as written.
   * @throws {JobNotFoundError} If there is no such job.
   */
  async complete(id: string, options: CompleteOptions): Promise<Job> {
    return await this.finish(id, {
      status: options.exitCode === 0 && options.signal === undefined
        ? "completed"
        : "failed",
      ...options,
    });
  }

  /**
   * Records that a job failed with a message.
   *
   * @param id The job ID.
   * @param message What went wrong.
   * @returns The record as written.
   * @throws {JobNotFoundError} If there is no such job.
   */
  async fail(id: string, message: string): Promise<Job> {
    return await this.finish(id, { status: "failed", error: message });
  }

  /**
   * Records any final status. It is a no-op on a job that has already ended,
   * so the first recorded end wins.
   *
   * @param id The job ID.
   * @param end The final status and what goes with it.
   * @returns The record as written (or as it was, if it had already ended).
   * @throws {JobNotFoundError} If there is no such job.
   */
  async finish(
    id: string,
    end: CompleteOptions & { status: JobStatus; error?: string },
  ): Promise<Job> {
    if (!isFinalStatus(end.status)) {
      throw new TypeError(`Cannot finish a job with status ${end.status}`);
    }
    return await this.update(id, (job) => {
      if (isFinalStatus(job.status)) return job;
      job.status = end.status;
      job.completedAt = new Date();
      if (end.exitCode !== undefined) job.exitCode = end.exitCode;
      if (end.signal !== undefined) job.signal = end.signal;
      if (end.error !== undefined) job.error = end.error;
      if (end.result !== undefined) job.result = end.result;
      return job;
    });
  }

  /**
   * Deletes a job's record and its lock files, and by default its log.
   *
   * @param id The job ID (a ULID in any case).
   * @param options Whether to keep the log.
   * @throws {InvalidJobIdError} If the ID is not valid.
   * @throws {JobNotFoundError} If there is no such job.
   */
  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    id = this.#stored(id);
    await withFileLock(id, this.#lockPath(id), async () => {
      try {
        await Deno.remove(this.recordPath(id));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          throw new JobNotFoundError(id, { cause: err });
        }
        throw err;
      }
      const extra = [this.livenessPath(id)];
      if (options.log ?? true) extra.push(this.logPath(id));
      for (const path of extra) await removeIfPresent(path);
    });
    await removeIfPresent(this.#lockPath(id));
  }

  /**
   * Removes every job that has ended (including lost jobs) and whose end, or
   * start if it has no end, is older than `olderThan`. Running jobs are never
   * removed, nor jobs that `options.keep` keeps. Invalid files are left
   * alone. Temp files left by a crash are removed once they are an hour old.
   *
   * It also removes debris: the files of an ID that has no record. A
   * liveness file (`<id>.live`) without a record is what a create that died
   * part way leaves; it goes, with its `<id>.log` and `<id>.lock`, once it
   * is 10 minutes old and nobody holds its lock (a create in progress holds
   * it until the record exists). A lock file (`<id>.lock`) alone goes on the
   * same terms. A log alone is kept: `delete(id, { log: false })` leaves
   * one on purpose.
   *
   * The store knows nothing of processes: a lost job whose worker's
   * processes still run is kept only if `keep` says so (`cleanJobs()` does).
   *
   * @param olderThan Age in milliseconds.
   * @param options Which jobs to keep anyway.
   * @returns The IDs removed.
   * @throws {RangeError} If `olderThan` is negative or not finite.
   */
  async clean(
    olderThan: number,
    options: CleanOptions = {},
  ): Promise<string[]> {
    const cutoff = cleanCutoff(olderThan);
    const { jobs } = await this.list();
    const removed: string[] = [];
    for await (const job of cleanable(jobs, cutoff, options.keep)) {
      // Re-check under the lock: the job may have been touched since listing.
      const fresh = await this.load(job.id).catch(() => undefined);
      if (fresh === undefined || !isFinalStatus(fresh.status)) continue;
      try {
        await this.delete(job.id);
        removed.push(job.id);
      } catch (err) {
        if (!(err instanceof JobNotFoundError)) throw err;
      }
    }
    await removeStaleTemps(this.#dir, 60 * 60 * 1000);
    await removeDebris(this.#dir, Date.now() - DEBRIS_AGE_MS);
    return removed;
  }

  /**
   * Tells whether some process holds the job's liveness lock.
   *
   * @param id The job ID (a ULID in any case).
   * @returns `true` if a live process holds it, `false` if nobody does, and
   * `undefined` if there is no liveness file (an epack record, say).
   * @throws {InvalidJobIdError} If the ID is not valid.
   */
  async isHeld(id: string): Promise<boolean | undefined> {
    return await isLivenessHeld(this.livenessPath(this.#stored(id)));
  }

  async #withLiveness(job: Job): Promise<Job> {
    return await applyLiveness(
      job,
      this.livenessPath(job.id),
      () => this.#read(job.id),
    );
  }

  // A ULID typed in another case names the job stored in upper case, unless
  // a job is stored under exactly what was typed. The file system is asked
  // only for such IDs, never for one already in its stored form.
  #stored(id: string): string {
    validateJobId(id);
    const upper = ulidSpelling(id);
    if (upper === undefined) return id;
    try {
      Deno.lstatSync(this.recordPath(id));
      return id;
    } catch {
      return upper;
    }
  }

  async #read(id: string): Promise<Job> {
    return await readJobFile(this.recordPath(id), id);
  }

  #write(job: Job, options: { sync: boolean }): void {
    const path = this.recordPath(job.id);
    if (options.sync) writeJobFile(path, job);
    else {
      writeFileDurably(
        path,
        new TextEncoder().encode(serializeJobRecord(job)),
        { sync: false },
      );
    }
  }

  #lockPath(id: string): string {
    return `${this.#dir}/${validateJobId(id)}.lock`;
  }
}
