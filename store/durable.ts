// Durable writes and the per-job lock: the only code of the store that
// writes a record or takes a job's lock, so every writer gets the same
// guarantees (a reader or a crash never sees a partial record; updates from
// several processes never lose each other).

import { JobNotFoundError } from "./job_id.ts";

/**
 * Writes a file so that it is either absent, as it was, or complete: the data
 * goes to a temp file beside it (`.<stem>.<random>.tmp`), is flushed, and
 * only then takes the name, by a hard link when the file must be new (which
 * fails if the name exists) or by a rename. Synchronous: a record is a few
 * hundred bytes, less than one async operation costs.
 *
 * With `sync: false` the flush is skipped: readers still see the old file or
 * the new one, but a machine crash may lose the write (or, on file systems
 * other than ext4 and btrfs, leave it empty). For writes that a later
 * durable one supersedes, or that nothing relies on after a crash.
 *
 * @throws {Deno.errors.AlreadyExists} With `createNew`, if the file exists.
 */
export function writeFileDurably(
  path: string,
  data: Uint8Array,
  options: { createNew?: boolean; sync?: boolean } = {},
): void {
  const slash = path.lastIndexOf("/");
  const name = path.slice(slash + 1);
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const temp = `${path.slice(0, slash + 1)}.${stem}.${
    crypto.randomUUID().slice(0, 8)
  }.tmp`;
  const file = Deno.openSync(temp, {
    write: true,
    createNew: true,
    mode: 0o600,
  });
  try {
    try {
      let written = 0;
      while (written < data.length) {
        written += file.writeSync(data.subarray(written));
      }
      if (options.sync ?? true) file.syncDataSync();
    } finally {
      file.close();
    }
    if (options.createNew) {
      Deno.linkSync(temp, path);
      Deno.removeSync(temp);
    } else {
      Deno.renameSync(temp, path);
    }
  } catch (err) {
    try {
      Deno.removeSync(temp);
    } catch {
      // Already gone (linked and removed, or never made).
    }
    throw err;
  }
}

/** Removes the temp files older than `maxAge` ms a crashed writer left. */
export async function removeStaleTemps(
  dir: string,
  maxAge: number,
): Promise<void> {
  const cutoff = Date.now() - maxAge;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.startsWith(".")) continue;
      if (!entry.name.endsWith(".tmp")) continue;
      const path = `${dir}/${entry.name}`;
      const info = await Deno.lstat(path).catch(() => undefined);
      if (info?.mtime && info.mtime.getTime() < cutoff) {
        await removeIfPresent(path);
      }
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/**
 * Opens (creating, mode 0600) a job's lock file, never its directory: a
 * late writer (a supervisor outliving its removed jobs directory) must not
 * make it again. Synchronous inside, quicker than a trip through Deno's
 * thread pool.
 *
 * @throws {JobNotFoundError} If the jobs directory does not exist.
 */
export function openLockFile(
  id: string,
  path: string,
): Promise<Deno.FsFile> {
  try {
    return Promise.resolve(openLockFileSync(id, path));
  } catch (err) {
    return Promise.reject(err);
  }
}

function openLockFileSync(id: string, path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new JobNotFoundError(id, { cause: err });
    }
    throw err;
  }
}

// How long a lock another process holds is waited for: a few seconds for
// a command someone waits on; a supervisor raises it (its end is worth it).
let lockWait = 5_000;

/** Sets how long {@linkcode lockBounded} waits (for this process). */
export function setLockWait(ms: number): void {
  lockWait = ms;
}

/**
 * Takes an exclusive flock on an open file, waiting at most the process's
 * lock wait: a holder that is stopped (SIGSTOP) or hung must not stop every
 * other process for ever. Polled, not `lock()`: a pending flock cannot be
 * called off, and would keep the process alive.
 *
 * @throws {Deno.errors.TimedOut} Naming the file and, on Linux, the PID
 * that holds it.
 */
export async function lockBounded(
  file: Deno.FsFile,
  path: string,
): Promise<void> {
  const end = Date.now() + lockWait;
  for (
    let pause = 5;
    !file.tryLockSync(true);
    pause = Math.min(pause * 2, 100)
  ) {
    if (Date.now() >= end) {
      const pid = lockHolder(file);
      throw new Deno.errors.TimedOut(
        `Gave up after ${lockWait / 1000} s waiting for the lock on ${path}${
          pid === undefined ? "" : ` (held by PID ${pid})`
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, pause));
  }
}

/** The PID that holds a flock on the file, from /proc/locks (Linux). */
export function lockHolder(file: Deno.FsFile): number | undefined {
  try {
    const { ino, dev } = file.statSync();
    // The file's device as /proc/locks writes it: major:minor, in hex.
    const major = ((dev ?? 0) >> 8) & 0xfff;
    const minor = ((dev ?? 0) & 0xff) | (((dev ?? 0) >> 12) & 0xfff00);
    for (const line of Deno.readTextFileSync("/proc/locks").split("\n")) {
      const m = /^\d+: FLOCK\s+\S+\s+\S+\s+(\d+) ([0-9a-f]+):([0-9a-f]+):(\d+) /
        .exec(line);
      if (
        m && Number(m[4]) === ino && parseInt(m[2], 16) === major &&
        parseInt(m[3], 16) === minor
      ) return Number(m[1]);
    }
  } catch {
    // Not Linux, or not allowed: the file alone is named.
  }
  return undefined;
}

/**
 * Runs `fn` holding a job's lock file's flock ({@linkcode lockBounded}),
 * which goes with the process if it dies, even by SIGKILL.
 *
 * @throws {JobNotFoundError} If the jobs directory does not exist.
 * @throws {Deno.errors.TimedOut} If another process holds the lock too long.
 */
export async function withFileLock<T>(
  id: string,
  path: string,
  fn: () => Promise<T>,
): Promise<T> {
  const file = openLockFileSync(id, path);
  try {
    await lockBounded(file, path);
    return await fn();
  } finally {
    file.close();
  }
}

/** Removes a file if it is there. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** Makes an empty file (mode 0600); `false` if one was there already. */
export function createFile(path: string): boolean {
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
    return true;
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    return false;
  }
}

/**
 * Removes a file if it is there, synchronously, never throwing: an undo's
 * error must not hide the one that caused it. `true` unless it is still
 * there.
 */
export function removeSyncIfPresent(path: string): boolean {
  try {
    Deno.removeSync(path);
    return true;
  } catch (err) {
    return err instanceof Deno.errors.NotFound;
  }
}
