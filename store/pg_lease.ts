// The PostgreSQL store's renewer (docs/design.md, "PostgreSQL"): a pass
// per host and period, not a process per job nor one that stays. The jobs
// of a host are held by their supervisors' flocks on `<logDir>/<id>.live`,
// as in the file store; other hosts see a job alive by its lease. A pass
// renews the leases of every held job of its host in one statement, and
// carries news both ways: what a supervisor journaled goes into the row (so
// other hosts see its worker, its attempts and, if no finisher did, its
// end); a job whose supervisor died without an end has its lease ended at
// once (other hosts then show it lost; nothing final is written); and a
// cancel made on another host reaches the supervisor as a `C` line and
// SIGTERM, only on local proof. Whoever holds a job starts a pass when one
// is due (renewalDue(): the shim from perl, the Deno supervisor, spawn and
// every `jobs` command); the pass holds `<logDir>/.renewer-<host>`, keeps
// what the next one needs in `<lock>.state`, and exits: a Deno process
// with the PostgreSQL client costs ~29 MiB, which twenty jobs' shims do
// not, and a pass that dies loses nothing but its period.

import { appendControl } from "./control_file.ts";
import type { Job } from "./job.ts";
import { readJournal } from "./journal.ts";
import { isJobId } from "./job_id.ts";
import { lockHolder } from "./durable.ts";
import { postgresSettings } from "./pg_open.ts";
import { parseJobRecord } from "./record.ts";
import { cancelDeadline } from "./rules.ts";
import { isLivenessHeld, signalSupervisor } from "./liveness.ts";

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

/** What a pass keeps for the next: see {@linkcode runRenewer}. */
interface RenewerState {
  /** When the last pass ran (ms since the epoch). */
  at: number;
  /** The jobs held then: their journal's mtime, the cancel passed on. */
  known: Record<string, { mtime: number; cancelAt?: number }>;
  /** Jobs whose supervisor came and went: not looked at again. */
  done: string[];
}

/**
 * How long after a pass's start (its state file's mtime) the next is due:
 * the one threshold that the shim (given it in its plan), spawn and the
 * `jobs` commands check before they start a pass.
 */
export function renewalDueAfter(renewEvery: number): number {
  return Math.floor(renewEvery * 0.8);
}

/**
 * How long after the last pass started (its state file's mtime) a pass
 * that still holds the lock is taken to be stuck (stopped with SIGSTOP,
 * hung): about three leases' TTL by default. Ends within the TTL are the
 * rule ({@linkcode renewPass}).
 */
export function renewalStuckAfter(renewEvery: number): number {
  return 12 * renewalDueAfter(renewEvery);
}

/**
 * Whether a renewal pass is due on this host and none runs: the state
 * file is older than {@linkcode renewalDueAfter} (or missing) and the lock
 * is free. Marks it taken (the state's mtime now), so that the others who
 * look in the same period start none.
 */
export function renewalDue(
  store: { localDir: string; host: string | undefined; renewEvery: number },
): boolean {
  const lockPath = renewerLock(store.localDir, store.host ?? "");
  const statePath = `${lockPath}.state`;
  let age = Infinity;
  try {
    age = Date.now() - (Deno.statSync(statePath).mtime?.getTime() ?? 0);
    if (age >= 0 && age < renewalDueAfter(store.renewEvery)) return false;
  } catch {
    // No pass yet.
  }
  // A pass holds the lock: none is due, unless it has held it so long
  // that it must be stuck (the next pass kills it).
  if (
    isLivenessHeld(lockPath) === true &&
    !(age >= renewalStuckAfter(store.renewEvery))
  ) return false;
  try {
    using f = Deno.openSync(statePath, {
      write: true,
      create: true,
      mode: 0o600,
    });
    const now = new Date();
    f.utimeSync(now, now);
  } catch {
    return false; // A directory that cannot be written: no pass either.
  }
  return true;
}

/**
 * One renewal pass for the host of the PostgreSQL store `url` names (a
 * renewer process's whole work): see {@linkcode runRenewer}.
 */
export async function renewPass(url: string): Promise<void> {
  const { logDir, host, renewEvery, leaseTtl } = postgresSettings(url, {});
  // A pass that hangs (a server that stops answering) must not keep the
  // lock from the next one: it ends within the lease's TTL, whatever it
  // has not done left to the next. It is the process's whole work.
  const deadline = Date.now() + leaseTtl;
  Deno.unrefTimer(setTimeout(() => Deno.exit(0), leaseTtl));
  await runRenewer(
    { localDir: logDir, host, renewEvery, deadline },
    async () => {
      // Computed: a literal import() puts the PostgreSQL store's modules
      // in the reading of every start that imports this one (spawn's).
      const pg = new URL("./pg_store.ts", import.meta.url).href;
      const { PostgresJobStore } =
        (await import(pg)) as typeof import("./pg_store.ts");
      return await PostgresJobStore.open(url);
    },
  );
}

/**
 * One renewal pass for a host, if none ran in the last half period (a pass
 * that came too late finds its work done) and none runs. The store is
 * opened (the PostgreSQL client loaded, a connection made) only if some job
 * is held or was at the last pass: an idle host's pass costs a directory
 * listing.
 */
export async function runRenewer(
  local: {
    localDir: string;
    host: string;
    renewEvery: number;
    /** When to stop starting work: the rest is the next pass's. */
    deadline?: number;
  },
  open: () => Promise<RenewedStore & AsyncDisposable>,
): Promise<void> {
  const dir = local.localDir;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const lockPath = renewerLock(dir, local.host);
  using lock = Deno.openSync(lockPath, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  const statePath = `${lockPath}.state`;
  const state = readState(statePath);
  if (!lock.tryLockSync(true)) {
    // Held longer than any pass runs (its holder wrote when it took it):
    // a stuck pass, killed.
    if (!(Date.now() - takenAt(lock) >= renewalStuckAfter(local.renewEvery))) {
      return;
    }
    if (!(await takeFromStuck(lock))) return;
  }
  // When this pass took the lock, for the next to judge it by.
  lock.truncateSync(0);
  lock.writeSync(new TextEncoder().encode(String(Date.now())));
  const now = Date.now();
  if (now >= state.at && now - state.at < local.renewEvery / 2) return;
  const known = new Map(Object.entries(state.known));
  const { held, done } = await heldJobs(dir, new Set(state.done));
  if (held.size > 0 || known.size > 0) {
    await using store = await open();
    await pass(store, dir, held, known, local.deadline ?? Infinity);
  }
  const next: RenewerState = {
    at: now,
    known: Object.fromEntries(known),
    done: [...done],
  };
  const temp = `${statePath}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    Deno.writeTextFileSync(temp, JSON.stringify(next), { mode: 0o600 });
    Deno.renameSync(temp, statePath);
  } catch {
    Deno.remove(temp).catch(() => {});
  }
}

/** A pass's work on the store: the jobs let go, then the renewals. */
async function pass(
  store: RenewedStore,
  dir: string,
  held: Map<string, number>,
  known: Map<string, { mtime: number; cancelAt?: number }>,
  deadline: number,
): Promise<void> {
  for (const id of known.keys()) {
    if (held.has(id) || Date.now() > deadline) continue;
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
  if (held.size === 0) return;
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
    let mtime = held.get(id)!;
    if (seen?.mtime !== mtime) {
      // Past the deadline, the fold is the next pass's.
      if (Date.now() > deadline) mtime = seen?.mtime ?? -1;
      else await store.update(id, (job) => job).catch(() => {});
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
 * When the holder of the renewer's lock took it: the time it wrote there,
 * else (none yet, or a holder that writes none) the file's mtime.
 */
function takenAt(lock: Deno.FsFile): number {
  const buf = new Uint8Array(32);
  lock.seekSync(0, Deno.SeekMode.Start);
  const n = lock.readSync(buf) ?? 0;
  return Number(new TextDecoder().decode(buf.subarray(0, n))) ||
    (lock.statSync().mtime?.getTime() ?? 0);
}

/**
 * Kills the renewal pass that holds the lock (found in /proc/locks, and
 * only if it is one: a `--renew` process), then takes the lock.
 */
async function takeFromStuck(lock: Deno.FsFile): Promise<boolean> {
  const pid = lockHolder(lock);
  if (pid === undefined || pid === Deno.pid) return false;
  try {
    const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    if (!argv.includes("--renew")) return false;
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Gone since.
  }
  for (let i = 0; i < 100; i++) {
    if (lock.tryLockSync(true)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** The last pass's state; a missing or unreadable one is a first pass. */
function readState(path: string): RenewerState {
  const none: RenewerState = { at: 0, known: {}, done: [] };
  try {
    if (!Deno.lstatSync(path).isFile) return none;
    const s = JSON.parse(Deno.readTextFileSync(path));
    const ok = typeof s?.at === "number" && typeof s.known === "object" &&
      s.known !== null && Array.isArray(s.done);
    return ok ? s : none;
  } catch {
    return none;
  }
}

/**
 * The jobs whose `.live` flock some process holds, with its mtime; a job
 * found free after its supervisor came (an `S` line) goes into `done`, and
 * is not looked at again (the journals of ended jobs stay until a clean).
 * `done` comes back without the jobs whose journal is gone.
 */
async function heldJobs(
  dir: string,
  wasDone: Set<string>,
): Promise<{ held: Map<string, number>; done: Set<string> }> {
  const held = new Map<string, number>();
  const done = new Set<string>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".live")) continue;
    const id = entry.name.slice(0, -".live".length);
    if (!isJobId(id)) continue; // Not a job's: "a,b.live" renews neither.
    const path = `${dir}/${entry.name}`;
    if (wasDone.has(id)) {
      done.add(id);
      continue;
    }
    try {
      if (isLivenessHeld(path) === true) {
        held.set(id, Deno.statSync(path).mtime?.getTime() ?? 0);
      } else if (readJournal(path)?.supervisor !== undefined) done.add(id);
    } catch {
      // Removed meanwhile.
    }
  }
  return { held, done };
}
