// The liveness lock of the file store. A job's supervisor holds an exclusive
// flock on `<id>.live` for its whole life; the kernel releases it when the
// process dies, even by SIGKILL. A reader probes it with a shared tryLock, so
// "is the supervisor alive?" never depends on a PID, which may be reused (or
// belong to a zombie nobody reaps). The lost rule itself is in rules.ts.

import type { Job } from "./job.ts";
import { validateJobId } from "./job_id.ts";
import { asLost, isSupervisedStatus, lostReason } from "./rules.ts";

/**
 * Where a job's liveness file is on this host: `<localDir>/<id>.live`, for
 * every store (a jobs directory keeps it beside the record, a database
 * beside the log).
 *
 * @param store The store.
 * @param id The job ID.
 * @returns The path.
 */
export function livenessPath(store: { localDir: string }, id: string): string {
  return `${store.localDir}/${validateJobId(id)}.live`;
}

/**
 * Tells whether some process holds the liveness lock in `path`.
 *
 * @param path The job's liveness file.
 * @returns `true` if a live process holds it, `false` if nobody does, and
 * `undefined` if there is no liveness file (an epack record, say).
 */
export async function isLivenessHeld(
  path: string,
): Promise<boolean | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  try {
    // A shared probe: it conflicts with the supervisor's exclusive lock but
    // not with other readers probing at the same moment.
    const got = await file.tryLock(false);
    if (got) await file.unlock();
    return !got;
  } finally {
    file.close();
  }
}

/**
 * Applies the lost rule to a job read from disk: a job recorded as running
 * whose liveness lock nobody holds is lost, unless it was created less than
 * `SUPERVISOR_START_GRACE_MS` ago and its supervisor has not taken
 * the lock yet. A job without a liveness file (epack's own) is left as
 * recorded. The record on disk is not changed. The lock is probed at most
 * twice, and the record re-read after each probe that finds it free.
 *
 * @param job The job as recorded, read before this call.
 * @param livenessPath The job's liveness file.
 * @param reread Reads the record again.
 * @returns The job, with status `lost` and an error if it is lost.
 */
export async function applyLiveness(
  job: Job,
  livenessPath: string,
  reread: () => Promise<Job>,
): Promise<Job> {
  if (!isSupervisedStatus(job.status)) return job;
  // The time is taken before the probe: a supervisor that takes the lock
  // after the probe decides whether it started too late with a later time,
  // so it never runs a job a reader has already called lost.
  const now = Date.now();
  // `before` is always a record read before the probe that follows.
  let before = job;
  for (;;) {
    const held = await isLivenessHeld(livenessPath);
    if (held !== false) return before;
    // Nobody holds the lock. Re-read: the supervisor writes its final record
    // before it lets go, so a job that just ended shows its real end here.
    const fresh = await reread();
    // The supervisor stamps supervisedAt while it holds the lock, and lets
    // go only after its final write. A stamp read before the probe means the
    // lock was taken before it, so a free lock means the supervisor is gone.
    // A stamp seen only now may have been made after the probe, by a
    // supervisor that took the lock just then and lives: probe again.
    if (
      fresh.supervisedAt !== undefined && before.supervisedAt === undefined &&
      isSupervisedStatus(fresh.status)
    ) {
      before = fresh;
      continue;
    }
    const reason = lostReason(fresh, false, now);
    return reason === undefined ? fresh : asLost(fresh, reason);
  }
}

/**
 * Makes (or opens) a job's liveness file and takes its lock, for the store's
 * create: held until the record exists, the lock tells a clean that the
 * files beside it are a create in progress, not debris. Never waits.
 *
 * @param path The job's liveness file.
 * @returns The open, locked file (closing it releases the lock), and
 * whether it was made here.
 * @throws {Deno.errors.AlreadyExists} If another process holds the lock: the
 * job's supervisor, or another create of the same ID.
 */
export function claimNewLiveness(
  path: string,
): { file: Deno.FsFile; made: boolean } {
  // A clean may remove an old, unlocked liveness file between this open and
  // this lock; the name then points elsewhere or nowhere, so try again.
  for (let attempt = 1;; attempt++) {
    let file: Deno.FsFile;
    let made = true;
    try {
      file = Deno.openSync(path, {
        read: true,
        write: true,
        createNew: true,
        mode: 0o600,
      });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      made = false;
      try {
        file = Deno.openSync(path, { read: true });
      } catch (err) {
        if (err instanceof Deno.errors.NotFound && attempt < 3) continue;
        throw err;
      }
    }
    let keep = false;
    try {
      if (!file.tryLockSync(true)) {
        throw new Deno.errors.AlreadyExists(`Liveness file is locked: ${path}`);
      }
      keep = isAt(file, path);
      if (keep) return { file, made };
    } finally {
      if (!keep) file.close();
    }
    if (attempt === 3) {
      throw new Deno.errors.Busy(`Liveness file keeps being replaced: ${path}`);
    }
  }
}

/**
 * Claims a liveness or lock file that looks left behind: older than
 * `cutoff` and locked by nobody. The caller removes what it must while it
 * holds the claim, then closes it.
 *
 * @param path The file.
 * @param cutoff Only a file last modified before this time (ms since the
 * epoch) is claimed.
 * @returns The open, locked file, or `undefined` if it is gone, too new, or
 * held by someone.
 */
export function claimStale(
  path: string,
  cutoff: number,
): Deno.FsFile | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  let keep = false;
  try {
    const mtime = file.statSync().mtime?.getTime() ?? Infinity;
    keep = mtime < cutoff && file.tryLockSync(true) && isAt(file, path);
    return keep ? file : undefined;
  } finally {
    if (!keep) file.close();
  }
}

/** Whether `path` still names the open file (it was not removed since). */
function isAt(file: Deno.FsFile, path: string): boolean {
  try {
    const a = file.statSync();
    const b = Deno.lstatSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
