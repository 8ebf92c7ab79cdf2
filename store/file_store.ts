// The file store: one JSON record, one log and one liveness file per job, in
// a jobs directory; records written atomically and updated under a
// cross-process lock; liveness by a flock the supervisor holds for its life.

import { Wakeup } from "../util/wakeup.ts";
import {
  isJobId,
  JobNotFoundError,
  matchJobId,
  ulidSpelling,
  validateJobId,
  validateReference,
} from "./job_id.ts";
import type { CreateJobOptions, DeleteOptions, Job, JobEnd } from "./job.ts";
import type * as contract from "./contract.ts";
import {
  newestNamed,
  readJobFile,
  readJobFileSync,
  serializeJobRecord,
} from "./record.ts";
import { newJob } from "./job_options.ts";
import {
  createFile,
  removeIfPresent,
  removeStaleTemps,
  removeSyncIfPresent,
  withFileLock,
  writeFileDurably,
} from "./durable.ts";
import {
  applyLiveness,
  claimNewLiveness,
  holdLiveness,
  isLivenessHeld,
  localFiles,
} from "./liveness.ts";
import { foldJournal, readJournal as readJournalOf } from "./journal.ts";
import { granted } from "../util/permissions.ts";
import { endJob, isFinalStatus, isLate } from "./rules.ts";
import { cleanEnded, removeDebris } from "./debris.ts";
import { resolve } from "../util/path.ts";
import { listJobs, recordIdOf } from "./list.ts";
import { FILE_STORE_CAPABILITIES } from "./capabilities.ts";

// How old the files of a job without a record must be to be debris: a
// create in progress holds its liveness lock; the age covers the instant
// before it does.
const DEBRIS_AGE_MS = 10 * 60 * 1000;

// Temp files a crashed writer left are removed once this old.
const STALE_TEMP_MS = 60 * 60 * 1000;

const encoder = new TextEncoder();

/**
 * The job store over one jobs directory: `<id>.json` (the record, in
 * epack's format), `<id>.log`, `<id>.live` (flocked by the supervisor while
 * it lives) and `<id>.lock` (flocked by updates). Records are replaced
 * atomically, by rename.
 *
 * Requires `--allow-read` and `--allow-write` for the directory.
 */
export class FileJobStore implements contract.JobStore {
  /** The absolute path of the jobs directory. */
  readonly dir: string;
  /** The absolute path of the jobs directory. */
  readonly location: string;
  /** The jobs directory: logs and liveness files are there too. */
  readonly localDir: string;
  /** A jobs directory belongs to one host, and can schedule. */
  readonly capabilities: contract.StoreCapabilities = FILE_STORE_CAPABILITIES;
  /** `undefined`: a jobs directory belongs to one host. */
  readonly host: undefined = undefined;
  /** 0: a cancel reaches the supervisor as a signal, at once. */
  readonly cancelReach: number = 0;
  /** 0: liveness is a lock, no lease. */
  readonly renewEvery: number = 0;
  readonly #dir: string;

  /**
   * Opens a store over a jobs directory; nothing is read or made yet.
   * @param dir The jobs directory, made absolute against the cwd.
   */
  constructor(dir: string) {
    this.#dir =
      this.dir =
      this.location =
      this.localDir =
        resolve(dir);
  }

  /** The jobs directory: what `openStore()` takes to open it again. */
  reopenSpec(): string {
    return this.#dir;
  }

  /** `<dir>/<id>.log`. */
  logPath(id: string): string {
    return `${this.#dir}/${validateJobId(id)}.log`;
  }

  /** `<dir>/<id>.json`, the job's record. */
  recordPath(id: string): string {
    return `${this.#dir}/${validateJobId(id)}.json`;
  }

  /** `<dir>/<id>.live`, whose lock the supervisor holds while it lives. */
  livenessPath(id: string): string {
    return `${this.#dir}/${validateJobId(id)}.live`;
  }

  /** Creates the jobs directory (mode 0700) if it does not exist. */
  async ensureDir(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
  }

  /** See {@linkcode JobStore.create}; a log kept by `delete()` stays. */
  async create(options: CreateJobOptions): Promise<Job> {
    const job = newJob(options, (id) => this.logPath(id));
    // Before the disk: a record the store would refuse is never begun.
    const text = serializeJobRecord(job);
    await this.ensureDir();
    this.#createFiles(job, text);
    return job;
  }

  // The liveness file first, locked until the record exists (which keeps
  // clean() off it), then the log, then the record, by a link that fails if
  // the name exists. spawn() waits on this: few, synchronous system calls.
  #createFiles(job: Job, text: string): void {
    const livePath = this.livenessPath(job.id);
    const made: string[] = [];
    let live: Deno.FsFile | undefined;
    try {
      const claim = claimNewLiveness(livePath);
      live = claim.file;
      if (claim.made) made.push(livePath);
      if (createFile(job.logPath)) made.push(job.logPath);
      writeFileDurably(this.recordPath(job.id), encoder.encode(text), {
        createNew: true,
      });
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

  /** See {@linkcode JobStore.load}. */
  async load(id: string): Promise<Job> {
    const job = await this.#read(this.#stored(id));
    return await applyLiveness(
      job,
      this.livenessPath(job.id),
      () => this.#read(job.id),
      this.fold(job.id),
    );
  }

  /**
   * Folds a job's journal into its record, for a reader that finds an end
   * there; `undefined` without write access.
   */
  fold(id: string): (() => Promise<Job>) | undefined {
    if (!granted({ name: "write", path: this.#dir })) return undefined;
    return () => this.update(id, (job) => job);
  }

  /** See {@linkcode JobStore.loadRecorded}. */
  async loadRecorded(id: string): Promise<Job> {
    return await this.#read(this.#stored(id));
  }

  /** See {@linkcode JobStore.list}. */
  async list(options: contract.ListOptions = {}): Promise<contract.ListResult> {
    return await listJobs(this, options);
  }

  /** See {@linkcode JobStore.resolve}: records are read only for a name. */
  async resolve(ref: string): Promise<string> {
    validateReference(ref);
    const ids: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        const id = recordIdOf(entry.name);
        if (id === ref) return id;
        if (id !== undefined && isJobId(id)) ids.push(id);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return matchJobId(ref, ids, this.#dir, () =>
      newestNamed(ref, ids, (id) => {
        try {
          return Deno.readTextFileSync(this.recordPath(id));
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) return undefined;
          throw err;
        }
      }));
  }

  /** See {@linkcode JobStore.update}: under the job's lock, `fn` runs once. */
  async update(
    id: string,
    fn: contract.JobUpdater,
    options: contract.UpdateOptions = {},
  ): Promise<Job> {
    id = this.#stored(id);
    return await withFileLock(id, this.#lockPath(id), async () => {
      // Synchronous: under the lock nothing else is waited for. The journal
      // is folded in first, so every write carries it.
      const current = foldJournal(
        readJobFileSync(this.recordPath(id), id),
        readJournalOf(this.livenessPath(id)),
      );
      const next = await fn(structuredClone(current));
      next.id = id;
      const text = serializeJobRecord(next);
      writeFileDurably(this.recordPath(id), encoder.encode(text), {
        sync: options.durable ?? true,
      });
      return next;
    });
  }

  /** See {@linkcode JobStore.finish}: the first end wins. */
  async finish(id: string, end: JobEnd, at?: Date): Promise<Job> {
    return await this.update(id, endJob(end, at));
  }

  /** See {@linkcode JobStore.delete}. */
  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    id = this.#stored(id);
    await withFileLock(id, this.#lockPath(id), async () => {
      try {
        await Deno.remove(this.recordPath(id));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          throw new JobNotFoundError(id, { cause: err, where: this.#dir });
        }
        throw err;
      }
      for (const path of localFiles(this.#dir, id, options.log ?? true)) {
        await removeIfPresent(path);
      }
    });
    await removeIfPresent(this.#lockPath(id));
  }

  /**
   * See {@linkcode JobStore.clean}; also removes temp files and the debris
   * of a create that died (see store/debris.ts). Invalid files stay.
   */
  async clean(
    olderThan: number,
    options: contract.CleanOptions = {},
  ): Promise<string[]> {
    const removed = await cleanEnded(this, olderThan, options, async (job) => {
      // Re-checked: the job may have been touched since the listing.
      const fresh = await this.load(job.id).catch(() => undefined);
      if (fresh === undefined || !isFinalStatus(fresh.status)) return false;
      try {
        await this.delete(job.id);
        return true;
      } catch (err) {
        if (!(err instanceof JobNotFoundError)) throw err;
        return false;
      }
    });
    await removeStaleTemps(this.#dir, STALE_TEMP_MS);
    await removeDebris(this.#dir, Date.now() - DEBRIS_AGE_MS);
    return removed;
  }

  /**
   * Takes the job's liveness flock for the supervisor's life. A cancel
   * comes as SIGTERM, so `cancelRequested` never aborts.
   */
  async hold(id: string): Promise<contract.JobLease> {
    id = this.#stored(id);
    const previous = await this.loadRecorded(id);
    const file = await holdLiveness(this.livenessPath(id));
    // Decided once the lock is held: a reader that called the job lost
    // found it free earlier, so this says late too.
    const late = isLate(previous, Date.now());
    return {
      previous,
      late,
      cancelRequested: new AbortController().signal,
      [Symbol.asyncDispose]() {
        file.close();
        return Promise.resolve();
      },
    };
  }

  /** See {@linkcode JobStore.isHeld}. */
  isHeld(id: string): Promise<boolean | undefined> {
    try {
      return Promise.resolve(
        isLivenessHeld(this.livenessPath(this.#stored(id))),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A watch on the job's record; an update replaces the file, which ends
   * the watch, so a new one is armed as soon as one fires.
   */
  async changes(id: string): Promise<contract.ChangeFeed> {
    id = (await this.loadRecorded(id)).id;
    const path = this.recordPath(id);
    const wakeup = new Wakeup();
    let watcher: Deno.FsWatcher | undefined;
    let closed = false;
    const arm = () => {
      if (closed) return;
      try {
        watcher = Deno.watchFs(path, { recursive: false });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        // Gone: the next look tells the caller.
        watcher = undefined;
        wakeup.kick();
        return;
      }
      const mine = watcher;
      (async () => {
        try {
          for await (const _ of mine) {
            wakeup.kick();
            mine.close();
          }
        } catch {
          // Closed.
        }
        if (mine === watcher && !closed) arm();
      })();
    };
    arm();
    return {
      next: (ms: number) => wakeup.next(ms),
      [Symbol.asyncDispose]() {
        closed = true;
        try {
          watcher?.close();
        } catch {
          // Already closed.
        }
        wakeup.kick();
        return Promise.resolve();
      },
    };
  }

  /** Nothing to close: every method opens and closes what it uses. */
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }

  // A ULID typed in another case names the job stored in upper case, unless
  // one is stored exactly as typed.
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
    try {
      return await readJobFile(this.recordPath(id), id);
    } catch (err) {
      if (err instanceof JobNotFoundError && err.where === undefined) {
        throw new JobNotFoundError(id, { cause: err, where: this.#dir });
      }
      throw err;
    }
  }

  #lockPath(id: string): string {
    return `${this.#dir}/${validateJobId(id)}.lock`;
  }
}
