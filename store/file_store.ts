// The file store (JobStore over a jobs directory) behind the store contract
// of store.ts. JobStore already is the contract in all but names; this only
// adds the supervisor's hold, the cancel request and the change feed, all in
// terms the file store has always used (the liveness flock, the record's
// cancelRequestedAt, a file-system watch). Nothing on disk changes.

import { Wakeup } from "../util/wakeup.ts";
import {
  type CleanOptions,
  type CreateJobOptions,
  type DeleteOptions,
  type Job,
  JobStore,
  type JobUpdater,
  type ListOptions,
  type ListResult,
  SUPERVISOR_START_GRACE_MS,
  type UpdateOptions,
} from "../jobs.ts";
import { holdLiveness } from "./liveness.ts";
import { requestCancel } from "./cancel_request.ts";
import type { ChangeFeed, JobBackend, JobEnd, JobLease } from "../store.ts";

/**
 * The file store as a {@linkcode JobBackend}: one JSON record per job in a
 * jobs directory, liveness by flock. Requires `--allow-read` and
 * `--allow-write` for the directory.
 *
 * @example Open a jobs directory through the contract
 * ```ts
 * import { FileJobBackend } from "@epack/detach/store";
 *
 * const dir = await Deno.makeTempDir();
 * await using store = new FileJobBackend(dir);
 * const job = await store.create({ command: "sync" });
 * console.log((await store.load(job.id)).status); // running
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FileJobBackend implements JobBackend {
  /** The underlying store. */
  readonly files: JobStore;
  /** Always `"file"`. */
  readonly kind: "file" = "file";
  /** A jobs directory lives on one host. */
  readonly host: undefined = undefined;

  // The supervisor's stamp (supervisedAt, its PID) is written atomically
  // but not flushed: the liveness lock, not the stamp, says whether the
  // supervisor lives, and after a machine crash the job reads as lost with
  // or without it. Its next write (the worker's PID) is durable and carries
  // the stamp along, which keeps a job's supervisor at two flushes.
  readonly #stamps: JobStore;

  /**
   * Opens a jobs directory; nothing is read until a method needs it.
   *
   * @param dir The jobs directory.
   */
  constructor(dir: string) {
    this.files = new JobStore(dir);
    this.#stamps = new StampingStore(dir);
  }

  /** The absolute jobs directory. */
  get location(): string {
    return this.files.dir;
  }

  /** See `JobStore.create`. */
  create(options: CreateJobOptions): Promise<Job> {
    return this.files.create(options);
  }

  /** See `JobStore.load`. */
  load(id: string): Promise<Job> {
    return this.files.load(id);
  }

  /** See `JobStore.loadRecorded`. */
  loadRecorded(id: string): Promise<Job> {
    return this.files.loadRecorded(id);
  }

  /** See `JobStore.resolveId`. */
  resolveId(prefix: string): Promise<string> {
    return this.files.resolveId(prefix);
  }

  /** See `JobStore.list`. */
  list(options?: ListOptions): Promise<ListResult> {
    return this.files.list(options);
  }

  /** See `JobStore.update`. */
  update(id: string, fn: JobUpdater): Promise<Job> {
    return this.files.update(id, fn);
  }

  /** See `JobStore.finish`. */
  finish(id: string, end: JobEnd): Promise<Job> {
    return this.files.finish(id, end);
  }

  /** See `JobStore.delete`. */
  delete(id: string, options?: DeleteOptions): Promise<void> {
    return this.files.delete(id, options);
  }

  /** See `JobStore.clean`. */
  clean(olderThan: number, options?: CleanOptions): Promise<string[]> {
    return this.files.clean(olderThan, options);
  }

  /** See `JobStore.isHeld`. */
  isHeld(id: string): Promise<boolean | undefined> {
    return this.files.isHeld(id);
  }

  /**
   * Takes the liveness flock for the supervisor's life. A cancel reaches a
   * file-store supervisor as SIGTERM, so `cancelRequested` never aborts.
   */
  async hold(id: string): Promise<JobLease> {
    const lease = await holdLiveness(this.#stamps, id);
    const previous = lease.previous;
    // Decided only now that the lock is held: a reader that found it free
    // before took its time earlier, so if it called the job lost (not
    // started within the grace period), this says late too.
    const late = previous.supervisedAt === undefined &&
      Date.now() - previous.startedAt.getTime() >= SUPERVISOR_START_GRACE_MS;
    return {
      previous,
      late,
      cancelRequested: new AbortController().signal,
      [Symbol.asyncDispose]: () => lease[Symbol.asyncDispose](),
    };
  }

  /** Records a cancel request in the record (`cancelRequestedAt`, `grace`). */
  requestCancel(id: string, grace: number): Promise<Job> {
    return this.files.update(id, (j) => {
      const now = Date.now();
      return requestCancel(j, now + grace, now);
    });
  }

  /**
   * A watch on the job's record. Each update replaces the file, which ends a
   * watch on it, so a new watch is armed as soon as one fires.
   */
  async changes(id: string): Promise<ChangeFeed> {
    id = await this.#storedId(id);
    const path = this.files.recordPath(id);
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

  // The stored spelling of a ULID typed in another case.
  async #storedId(id: string): Promise<string> {
    return (await this.files.loadRecorded(id)).id;
  }
}

/** A JobStore whose updates are not flushed: for holdLiveness()'s stamp. */
class StampingStore extends JobStore {
  override update(
    id: string,
    fn: JobUpdater,
    options: UpdateOptions = {},
  ): Promise<Job> {
    return super.update(id, fn, { durable: false, ...options });
  }
}
