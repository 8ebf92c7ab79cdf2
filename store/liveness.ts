// The liveness lock of the file store. A job's supervisor holds an exclusive
// flock on `<id>.live` for its whole life; the kernel releases it when the
// process dies, even by SIGKILL. A reader probes it with a shared tryLock, so
// "is the supervisor alive?" never depends on a PID, which may be reused (or
// belong to a zombie nobody reaps). The lost rule itself is in rules.ts.

import type { Job } from "./job.ts";
import { validateJobId } from "./job_id.ts";
import { asLost, isSupervisedStatus, lostReason } from "./rules.ts";
import {
  appendJournal,
  foldJournal,
  type Journal,
  openIfRegular,
  openJobFile,
  readJournal,
  reopened,
} from "./journal.ts";

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
 * Tells whether some process holds the liveness lock in `path`, asked
 * synchronously (an asynchronous probe is a trip through Deno's thread
 * pool for each running job of a listing) with a shared tryLock, which
 * conflicts with the supervisor's exclusive lock but not with other
 * readers probing at the same moment.
 *
 * @param path The job's liveness file.
 * @returns `true` if a live process holds it, `false` if nobody does, and
 * `undefined` if there is no liveness file (an epack record, say).
 */
export function isLivenessHeld(path: string): boolean | undefined {
  using file = openIfRegular(path);
  if (file === undefined) return undefined;
  const got = file.tryLockSync(false);
  if (got) file.unlockSync();
  return !got;
}

/**
 * What a reader makes of a job read from disk (docs/design.md, "Folding"):
 * a job that says it is supervised gets its journal folded in, and the
 * lost rule applied. A journal that holds the job's end is folded, and
 * through `write`, when given, the end is written into the record (a
 * failure to write only means the next reader does it). Otherwise the job
 * is lost if nobody holds the lock and its supervisor had taken the job (or
 * the start grace has passed). A job without a liveness file (epack's own)
 * is left as recorded. The lock is probed at most twice, the record and the
 * journal read again after each probe that finds it free.
 *
 * @param job The job as recorded, read before this call.
 * @param livenessPath The job's liveness file, `<id>.live`.
 * @param reread Reads the record again.
 * @param write Folds the journal into the record and returns it.
 * @returns The job as its journal says, `lost` with an error if it is lost.
 */
export async function applyLiveness(
  job: Job,
  livenessPath: string,
  reread: () => Promise<Job>,
  write?: () => Promise<Job>,
): Promise<Job> {
  if (!isSupervisedStatus(job.status)) {
    // An end this host's supervisor did not write, while it holds the
    // lock and its journal says none: the job runs (another host's word,
    // or a forged row, is not its evidence).
    const journal = readJournal(livenessPath);
    if (journal?.supervisor === undefined) return job;
    if (journal.end === undefined) {
      return isLivenessHeld(livenessPath) === true ? reopened(job) : job;
    }
    const folded = foldJournal(job, journal);
    return folded === job ? job : await settle(folded, write);
  }
  // The time is taken before the probe: a supervisor that takes the lock
  // after the probe decides whether it started too late with a later time,
  // so it never runs a job a reader has already called lost.
  const now = Date.now();
  // `before` is always a record read before the probe that follows.
  let before = foldJournal(job, readJournal(livenessPath));
  for (;;) {
    if (!isSupervisedStatus(before.status)) return await settle(before, write);
    const held = isLivenessHeld(livenessPath);
    if (held !== false) return before;
    // Nobody holds the lock. Read again: the supervisor writes its end
    // before it lets go, so a job that just ended shows its real end here.
    const fresh = foldJournal(await reread(), readJournal(livenessPath));
    if (!isSupervisedStatus(fresh.status)) return await settle(fresh, write);
    // A supervisor's stamp read before the probe means the lock was taken
    // before it, so a free lock means the supervisor is gone. A stamp seen
    // only now may have been made after the probe, by a supervisor that
    // took the lock just then and lives: probe again.
    if (fresh.supervisedAt !== undefined && before.supervisedAt === undefined) {
      before = fresh;
      continue;
    }
    const reason = lostReason(fresh, false, now);
    return reason === undefined ? fresh : asLost(fresh, reason);
  }
}

/** A job whose end was folded from its journal: written, where it can be. */
async function settle(
  folded: Job,
  write: (() => Promise<Job>) | undefined,
): Promise<Job> {
  if (write === undefined) return folded;
  try {
    return await write();
  } catch {
    // Read-only, or a full disk: the journal keeps the end for the next.
    return folded;
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
  const file = openIfRegular(path);
  if (file === undefined) return undefined;
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

/**
 * Sends `signal` to a job's supervisor, on local proof only: the process
 * named by the `S` line of its journal, while the journal's lock is held
 * and (where start times can be read) that process started when the line
 * says. A record's `pid`, or a database row's, is never used for a signal.
 * SIGCONT goes first: a supervisor stopped by SIGSTOP would act on nothing.
 *
 * @param livePath The job's `<id>.live`.
 * @param signal The signal.
 * @returns Whether it was sent.
 */
export async function signalSupervisor(
  livePath: string,
  signal: Deno.Signal,
): Promise<boolean> {
  const pid = await provenSupervisor(livePath);
  if (pid === undefined) return false;
  try {
    Deno.kill(pid, "SIGCONT");
    if (signal !== "SIGCONT") Deno.kill(pid, signal);
    return true;
  } catch {
    return false; // Gone since: its job is ending anyway.
  }
}

/**
 * Whether a job's supervisor, proven as {@linkcode signalSupervisor} proves
 * it, is stopped (SIGSTOP, or a debugger): then it enforces nothing, its
 * timeout included, until it is continued.
 */
export async function isSupervisorStopped(livePath: string): Promise<boolean> {
  const pid = await provenSupervisor(livePath);
  if (pid === undefined) return false;
  const { readProcess } = await import("../process/inspect.ts");
  const state = readProcess(pid)?.state ?? "";
  return state === "T" || state === "t";
}

/** The PID of the `S` line, on local proof; `undefined` without it. */
async function provenSupervisor(livePath: string): Promise<number | undefined> {
  if (isLivenessHeld(livePath) !== true) return undefined;
  const s = readJournal(livePath)?.supervisor;
  if (s === undefined || s.pid <= 1 || s.pid === Deno.pid) return undefined;
  if (s.ticks !== undefined) {
    const { isEnded, readProcess } = await import("../process/inspect.ts");
    const info = readProcess(s.pid);
    if (
      info !== undefined &&
      (isEnded(info) || (info.startTicks ?? s.ticks) !== s.ticks)
    ) return undefined;
  }
  return s.pid;
}

/**
 * Takes a job's liveness for a Deno supervisor (a store's `hold()`): the
 * flock on its `<id>.live`, waited for (a starter holds it a moment), then
 * the journal's `S` line that says who holds it. Closing the file lets it
 * go.
 *
 * @throws {Deno.errors.NotFound} If its directory is gone.
 */
export async function holdLiveness(path: string): Promise<Deno.FsFile> {
  const file = openJobFile(path, { write: true, create: true })!;
  try {
    await file.lock(true);
    appendJournal(path, "S", [Deno.pid, "-", "deno"]);
    return file;
  } catch (err) {
    file.close();
    throw err;
  }
}

/**
 * A job's files on this host beside its record: its journal and control
 * file, and with `log` its log and the log cap's older half `<id>.log.1`.
 */
export function localFiles(dir: string, id: string, log: boolean): string[] {
  const base = `${dir}/${validateJobId(id)}`;
  const files = [`${base}.live`, `${base}.ctl`];
  return log ? [...files, `${base}.log`, `${base}.log.1`] : files;
}

/**
 * The worker of a job of this host as its own journal says (its last `W`
 * line), the one local proof of which process group is the job's: never
 * a record's or a row's `worker_pid`, which anyone who can write the store
 * can forge. `undefined` for a job of another host, or without a journal.
 */
export function localWorker(
  store: { localDir: string; host: string | undefined },
  job: Job,
): { pid: number; ticks?: number } | undefined {
  const worker = localJournal(store, job)?.attempts.at(-1);
  return worker !== undefined && worker.pid > 1 ? worker : undefined;
}

/**
 * The journal of a job of this host, its supervisor's own word; `undefined`
 * for a job of another host (a journal found under the same name, in a log
 * directory two hosts share, is not evidence of a job this host does not
 * run), or without a journal.
 */
export function localJournal(
  store: { localDir: string; host: string | undefined },
  job: Job,
): Journal | undefined {
  if (job.host !== undefined && job.host !== store.host) return undefined;
  return readJournal(livenessPath(store, job.id));
}
