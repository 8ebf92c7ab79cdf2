// The PostgreSQL store's renewer: one process per host, not one per job
// (docs/design.md, "PostgreSQL"). The jobs of a host are held by their
// supervisors' flocks on `<logDir>/<id>.live`, as in the file store; other
// hosts see a job alive by its lease, which the renewer renews for every
// held job of its host in one statement every `renewEvery`, on a brief
// connection. It also carries news both ways: what a supervisor journaled
// goes into the row (so other hosts see its worker, its attempts and, if
// no finisher did, its end); a job whose supervisor died without an end
// has its lease ended at once (other hosts then show it lost; nothing final
// is written); and a cancel made on another host reaches the supervisor as
// a `C` line and SIGTERM, only on local proof. It runs while any job of its
// host is held, and holds `<logDir>/.renewer` meanwhile, so that whoever
// finds that lock free starts one (spawn/launch.ts ensureRenewer()).

import type { Job } from "./job.ts";
import { appendControl, readJournal } from "./journal.ts";
import { parseJobRecord } from "./record.ts";
import { cancelDeadline, SUPERVISOR_START_GRACE_MS } from "./rules.ts";
import { isLivenessHeld, signalSupervisor } from "./liveness.ts";
import { isJobId } from "./job_id.ts";
import { sleep } from "../util/timer.ts";

/**
 * The renewer's lock file in a host's log directory, one per host name
 * (hosts that share a directory each have theirs).
 */
export function renewerLock(dir: string, host: string): string {
  return `${dir}/.renewer-${host.replace(/[^A-Za-z0-9._-]/g, "_")}`;
}

/** What the renewer needs of the store. */
export interface RenewedStore {
  readonly localDir: string;
  readonly host: string;
  readonly renewEvery: number;
  /**
   * Renews the leases of these jobs of this host; returns the renewed
   * ones, with the record of each whose cancel was requested.
   */
  renew(ids: string[]): Promise<{ id: string; record: string | null }[]>;
  /** Folds a job's journal into its row (an update does). */
  update(id: string, fn: (job: Job) => Job): Promise<Job>;
  /** Loads a job: folds an end left in its journal, or says it is lost. */
  load(id: string): Promise<Job>;
  /** Ends a supervised job's lease now. */
  expire(id: string): Promise<void>;
}

/** Whether the renewer of a store's host runs (it holds its lock). */
export function renewerRunning(
  store: { localDir: string; host: string | undefined },
): boolean {
  const lock = renewerLock(store.localDir, store.host ?? "");
  return isLivenessHeld(lock) === true;
}

/**
 * Renews the leases of the host's held jobs until none has been held for
 * two periods; returns at once if another renewer runs.
 */
export async function runRenewer(store: RenewedStore): Promise<void> {
  const dir = store.localDir;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  using lock = Deno.openSync(renewerLock(dir, store.host), {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  if (!lock.tryLockSync(true)) return;
  // The held jobs of the last period: when each journal last changed, and
  // the cancel deadline last passed on; and the jobs whose supervisor has
  // come and gone, never to hold them again.
  const known = new Map<string, { mtime: number; cancelAt?: number }>();
  const done = new Set<string>();
  for (let idle = 0;;) {
    if (idle >= 2) {
      // Let go, then look once more: a starter that found this renewer
      // running started none, and its job must not go unrenewed.
      lock.unlockSync();
      const last = await heldJobs(dir, done);
      const quiet = last.held.size === 0 && !last.starting;
      if (quiet || !lock.tryLockSync(true)) return;
    }
    const { held, starting } = await heldJobs(dir, done);
    for (const id of known.keys()) {
      if (held.has(id)) continue;
      known.delete(id);
      // Let go: an end it left is written now (the finisher may have died),
      // or its supervisor died without one.
      try {
        const job = await store.load(id);
        if (job.status === "lost" && job.host === store.host) {
          await store.expire(id);
        }
      } catch {
        // Gone, or the server away: the lease lapses by itself.
      }
    }
    idle = held.size === 0 && !starting ? idle + 1 : 0;
    if (held.size > 0) await renewAll(store, dir, held, known);
    await sleep(store.renewEvery * (0.9 + Math.random() * 0.2));
  }
}

async function renewAll(
  store: RenewedStore,
  dir: string,
  held: Map<string, number>,
  known: Map<string, { mtime: number; cancelAt?: number }>,
): Promise<void> {
  let renewed: { id: string; record: string | null }[];
  try {
    renewed = await store.renew([...held.keys()]);
  } catch {
    return; // The server away: tried again next period.
  }
  for (const { id, record } of renewed) {
    let cancelAt: number | undefined;
    try {
      if (record !== null) {
        cancelAt = cancelDeadline(parseJobRecord(record, id, id));
      }
    } catch {
      // A record no longer a job's: no cancel to pass on.
    }
    const seen = known.get(id);
    const mtime = held.get(id)!;
    if (seen?.mtime !== mtime) {
      await store.update(id, (job) => job).catch(() => {});
    }
    const last = seen?.cancelAt;
    known.set(id, { mtime, cancelAt: last });
    if (cancelAt === undefined || (last !== undefined && last <= cancelAt)) {
      continue;
    }
    // A cancel from another host: to the supervisor, on local proof.
    const live = `${dir}/${id}.live`;
    try {
      appendControl(live, `C ${Math.max(0, cancelAt - Date.now())}`);
      await signalSupervisor(live, "SIGTERM");
      known.set(id, { mtime, cancelAt });
    } catch {
      // Tried again next period.
    }
  }
}

/**
 * The jobs whose `.live` flock some process holds, with its mtime, and
 * whether a job is starting (its journal made within the start grace, no
 * supervisor yet); a job found free after its supervisor came (an `S`
 * line) goes into `done`, and is not looked at again.
 */
async function heldJobs(
  dir: string,
  done: Set<string>,
): Promise<{ held: Map<string, number>; starting: boolean }> {
  const held = new Map<string, number>();
  let starting = false;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".live")) continue;
    const id = entry.name.slice(0, -".live".length);
    const path = `${dir}/${entry.name}`;
    // A name is not a job's word that it is one ("a,b.live").
    if (done.has(id) || !isJobId(id)) continue;
    try {
      const mtime = Deno.statSync(path).mtime?.getTime() ?? 0;
      if (isLivenessHeld(path) === true) held.set(id, mtime);
      else if (readJournal(path)?.supervisor !== undefined) done.add(id);
      else {
        // Dated in the future (a hostile touch) is not starting.
        const age = Date.now() - mtime;
        starting ||= age >= 0 && age < SUPERVISOR_START_GRACE_MS;
      }
    } catch {
      // Removed meanwhile.
    }
  }
  return { held, starting };
}
