// Lease renewal for the PostgreSQL store, one connection per host rather
// than one per job.
//
// Each supervisor holds an exclusive flock on `<logDir>/<id>.live` (its PID
// inside) for its whole life, as in the file store; the kernel drops it when
// the process dies, even by SIGKILL. Every `renewEvery`, each supervisor's
// timer tries the host's renewal lock (`<logDir>/.renew`); the one that gets
// it, if no batch ran in the last half period, probes the `.live` files and
// renews the lease of every job whose flock is held, in one statement on one
// brief connection. So 1,000 jobs on a host cost the server one short
// connection per period, not 1,000, and no connection is held between
// periods. A dead supervisor's job drops out of the next batch, and its lease
// expires at most `leaseTtl` after it was last renewed; a vanished host's
// jobs likewise.
//
// The same statement returns the jobs with a cancel request: the renewer
// aborts the lease of a job it holds itself and sends SIGTERM to any other
// supervisor (whose PID is in its `.live` file, and which holds the flock
// at that moment, so the PID is its own), which handles it as a cancel.

import postgres from "npm:postgres@3.4.9";
import type { JobLease } from "./contract.ts";
import type { Job } from "./job.ts";
import { supervisedSql } from "./pg_sql.ts";

/** What the renewer needs from the store. */
export interface RenewTarget {
  /** The host's directory of `.live` files (the store's log directory). */
  dir: string;
  /** The server URL, without the store's own query parameters. */
  url: string;
  /** The lease's TTL, in ms. */
  ttl: number;
  /** The renewal period, in ms. */
  every: number;
}

// Leases held by this process: a cancel request for one of them aborts it
// here instead of signalling ourselves.
const local = new Map<string, AbortController>();

/**
 * Takes a job's local liveness flock, and registers its cancel controller.
 *
 * @returns The open, locked file; close it (and call the returned release)
 * to let go.
 */
export async function holdLocal(
  dir: string,
  id: string,
  cancelled: AbortController,
): Promise<() => Promise<void>> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = `${dir}/${id}.live`;
  const file = await Deno.open(path, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  try {
    if (!(await file.tryLock(true))) {
      throw new Deno.errors.AlreadyExists(
        `Job ${id} is already supervised on this host`,
      );
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(String(Deno.pid)));
  } catch (err) {
    file.close();
    throw err;
  }
  local.set(id, cancelled);
  return async () => {
    local.delete(id);
    await Deno.remove(path).catch(() => {});
    file.close();
  };
}

/**
 * Renews the leases of every job held on this host, unless another
 * supervisor did so within the last half period or is doing it now.
 *
 * @returns `true` if renewed (or nothing needed it), `"skipped"` if another
 * did, `false` if the server could not be reached.
 */
export async function renewHost(
  target: RenewTarget,
): Promise<boolean | "skipped"> {
  const path = `${target.dir}/.renew`;
  let lock: Deno.FsFile;
  try {
    lock = await Deno.open(path, { read: true, write: true });
  } catch {
    try {
      lock = await Deno.open(path, {
        read: true,
        write: true,
        createNew: true,
        mode: 0o600,
      });
      // Its time says when the last batch ran: none has yet.
      await Deno.utime(path, 0, 0);
    } catch {
      return false;
    }
  }
  try {
    if (!(await lock.tryLock(true))) return "skipped";
    const last = (await lock.stat()).mtime?.getTime() ?? 0;
    if (Date.now() - last < target.every / 2) return "skipped";
    // IDs are letters, digits and underscores: a comma list is exact, and
    // needs no array type from the server (fetch_types is off).
    const held = await heldJobs(target.dir);
    if (held.size === 0) return true;
    const sql = postgres(target.url, {
      max: 1,
      fetch_types: false,
      connect_timeout: Math.max(1, Math.ceil(target.every / 1000)),
      onnotice: () => {},
      connection: { application_name: "epack-detach lease" },
    });
    let rows: { id: string; cancel_requested: boolean }[];
    try {
      rows = await sql<{ id: string; cancel_requested: boolean }[]>`
        UPDATE epack_detach_jobs SET
          lease_until = now() + ${target.ttl} * interval '1 millisecond'
        WHERE id = ANY(string_to_array(${[...held.keys()].join(",")}, ','))
          AND ${
        supervisedSql(sql as unknown as Parameters<typeof supervisedSql>[0])
      }
        RETURNING id, cancel_requested`;
    } catch {
      return false;
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
    const now = new Date();
    await Deno.utime(path, now, now).catch(() => {});
    for (const row of rows) {
      if (!row.cancel_requested) continue;
      const mine = local.get(row.id);
      if (mine !== undefined) {
        mine.abort();
        continue;
      }
      const pid = held.get(row.id);
      if (pid === undefined || pid <= 1 || pid === Deno.pid) continue;
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // Gone since the probe: its job is ending anyway.
      }
    }
    return true;
  } finally {
    lock.close();
  }
}

/** The jobs whose `.live` flock some process holds, with the PID inside. */
async function heldJobs(dir: string): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".live")) continue;
    const id = entry.name.slice(0, -".live".length);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(`${dir}/${entry.name}`, { read: true });
    } catch {
      continue;
    }
    try {
      // A shared probe: it fails only against a supervisor's exclusive lock.
      if (await file.tryLock(false)) continue;
      const buf = new Uint8Array(32);
      const n = (await file.read(buf)) ?? 0;
      held.set(id, Number(new TextDecoder().decode(buf.subarray(0, n))) || 0);
    } finally {
      file.close();
    }
  }
  return held;
}

/**
 * A job's lease for its supervisor: the local flock taken, and this host's
 * renewals scheduled every `target.every` (with a little jitter, so that
 * supervisors started together do not all try at the same instant; a failed
 * renewal is tried again sooner). Disposing it stops the renewals, lets the
 * flock go and calls `expire`, which ends the lease at once, as the kernel
 * drops a flock.
 */
export async function holdLease(
  target: RenewTarget,
  id: string,
  held: { previous: Job; late: boolean; cancelRequested: boolean },
  expire: () => Promise<void>,
): Promise<JobLease> {
  const cancelled = new AbortController();
  if (held.cancelRequested) cancelled.abort();
  let release: () => Promise<void>;
  try {
    release = await holdLocal(target.dir, id, cancelled);
  } catch (err) {
    await expire();
    throw err;
  }
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let renewing: Promise<unknown> = Promise.resolve();
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      renewing = renewHost(target).then((ok) => {
        const next = ok === false ? target.every / 4 : target.every;
        schedule(next * (0.9 + Math.random() * 0.2));
      });
    }, ms);
  };
  schedule(target.every * (0.9 + Math.random() * 0.2));
  return {
    previous: held.previous,
    late: held.late,
    cancelRequested: cancelled.signal,
    async [Symbol.asyncDispose]() {
      stopped = true;
      clearTimeout(timer);
      await renewing;
      clearTimeout(timer);
      await release();
      await expire();
    },
  };
}
