// Process inspection and process-group signalling, behind one seam. Every
// question the library asks about processes (is this PID still the worker?
// which processes are left in a job's group? is that one a zombie?) goes
// through a ProcessInspector; nothing else reads /proc. Linux's /proc is the
// one implementation today; a `ps`-based one can be plugged in for systems
// without /proc (or for Deno versions that refuse /proc without
// --allow-all) by changing processInspector() alone.
//
// Zombies matter here: on machines whose PID 1 does not reap orphans, a
// process that has ended stays a zombie, and `kill(pid, 0)` still succeeds
// on it. So "alive" is always decided from a process's state, never from a
// PID alone.

/** A process, as the inspector sees it. */
export interface ProcessInfo {
  /** The process ID. */
  pid: number;
  /** The state letter: `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead) … */
  state: string;
  /** The process group ID. */
  pgid: number;
  /** The session ID. */
  sid: number;
  /**
   * The start time, in clock ticks after boot (`/proc/<pid>/stat` field
   * 22): with the PID, it names one process for good.
   */
  startTicks: number;
}

/**
 * How the library looks at processes. Each method answers `undefined` (or
 * `false`) when it cannot tell, never a guess: callers then fall back to
 * what is safe (leave a group alone, or signal it and see).
 */
export interface ProcessInspector {
  /** One process, or `undefined` if there is none or it cannot be read. */
  process(pid: number): ProcessInfo | undefined;
  /**
   * The live (not zombie) processes of a group, or `undefined` when the
   * system's processes cannot be listed.
   */
  groupProcesses(pgid: number): ProcessInfo[] | undefined;
  /** Whether a process's environment holds `entry` (`NAME=value`). */
  hasEnvEntry(pid: number, entry: string): boolean;
}

/** Linux: everything is read from `/proc` (needs `--allow-all` in Deno 2.9). */
class ProcFsInspector implements ProcessInspector {
  process(pid: number): ProcessInfo | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    } catch {
      return undefined;
    }
    return parseStat(text);
  }

  groupProcesses(pgid: number): ProcessInfo[] | undefined {
    const out: ProcessInfo[] = [];
    try {
      for (const entry of Deno.readDirSync("/proc")) {
        const c = entry.name.charCodeAt(0);
        if (c < 48 || c > 57) continue;
        const info = this.process(Number(entry.name));
        if (info === undefined || info.pgid !== pgid) continue;
        if (isEnded(info)) continue;
        out.push(info);
      }
    } catch {
      return undefined;
    }
    return out;
  }

  hasEnvEntry(pid: number, entry: string): boolean {
    try {
      const env = new TextDecoder().decode(
        Deno.readFileSync(`/proc/${pid}/environ`),
      );
      return env.split("\0").includes(entry);
    } catch {
      return false;
    }
  }
}

/** Parses one `/proc/<pid>/stat` line. */
export function parseStat(text: string): ProcessInfo | undefined {
  // The command name, in parentheses, may itself hold spaces and ")".
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const pid = Number(text.slice(0, text.indexOf(" ")));
  const f = text.slice(close + 2).split(" ");
  if (f.length < 20) return undefined;
  return {
    pid,
    state: f[0],
    pgid: Number(f[2]),
    sid: Number(f[3]),
    startTicks: Number(f[19]),
  };
}

let inspector: ProcessInspector = new ProcFsInspector();

/** The process inspector in use. */
export function processInspector(): ProcessInspector {
  return inspector;
}

/**
 * Replaces the process inspector, or puts the default back with
 * `undefined`. For tests, and for a second implementation to be tried.
 */
export function setProcessInspector(
  replacement: ProcessInspector | undefined,
): void {
  inspector = replacement ?? new ProcFsInspector();
}

/** Whether a process has ended: a zombie (`Z`) or dead (`X`). */
export function isEnded(info: ProcessInfo): boolean {
  return info.state === "Z" || info.state === "X";
}

/** One process, or `undefined` if there is none or it cannot be read. */
export function readProcess(pid: number): ProcessInfo | undefined {
  return inspector.process(pid);
}

/**
 * The PIDs of a group's live (not zombie) members, or `undefined` when
 * processes cannot be listed.
 */
export function groupMembers(pgid: number): number[] | undefined {
  return inspector.groupProcesses(pgid)?.map((p) => p.pid);
}

/**
 * The live processes of a job's worker group, but only when the group is
 * certainly the job's. The worker led its own session and group, so every
 * process of the job has session and group ID equal to the worker's PID and
 * started no earlier than the worker. While the leader exists (even as an
 * unreaped zombie) with the worker's start time, its PID cannot have been
 * reused, so that is proof enough. Once the leader is gone, its PID may lead
 * another session by now, so each member must also carry `mark`, an entry
 * of the job's environment such as `EPACK_DETACH_JOB_ID=<id>`.
 *
 * @param pgid The worker's PID, which is its group's ID.
 * @param startTicks The worker's start time, as recorded when it started.
 * @param mark An environment entry (`NAME=value`) every member must have
 * when the leader is gone; without it, a leaderless group is never claimed.
 * @returns The group's live processes (maybe none), or `undefined` when the
 * group cannot be identified safely (or processes cannot be read).
 */
export function identifyGroup(
  pgid: number,
  startTicks: number,
  mark?: string,
): ProcessInfo[] | undefined {
  const leader = inspector.process(pgid);
  if (leader !== undefined && leader.startTicks !== startTicks) {
    return undefined;
  }
  const members = inspector.groupProcesses(pgid);
  if (members === undefined) return undefined;
  const ours = (p: ProcessInfo) => p.sid === pgid && p.startTicks >= startTicks;
  if (!members.every(ours)) return undefined;
  if (leader === undefined && members.length > 0) {
    if (mark === undefined) return undefined;
    if (!members.every((p) => inspector.hasEnvEntry(p.pid, mark))) {
      return undefined;
    }
  }
  return members;
}

/**
 * Whether any live process is left in a group. Where processes cannot be
 * listed it falls back to `kill(-pgid, 0)`, which also counts zombies.
 * Without `--allow-run` there, every group is reported alive: a stop then
 * goes on to SIGKILL rather than giving up early.
 */
export async function groupAlive(pgid: number): Promise<boolean> {
  const members = groupMembers(pgid);
  if (members !== undefined) return members.length > 0;
  if (!Number.isSafeInteger(pgid) || pgid <= 1) return false;
  // Loaded only here: node:process costs the long-lived supervisor memory,
  // and on Linux /proc answers first.
  const { default: process } = await import("node:process");
  try {
    // Signal 0 checks existence only; Deno.kill does not take it.
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // Only "no such process" means gone. EPERM, or a missing permission,
    // says nothing about the group: assume it lives.
    return (err as { code?: string }).code !== "ESRCH";
  }
}

/**
 * Sends a signal to every process of a group; a group that no longer exists
 * is not an error.
 *
 * @returns `true` if the group existed.
 * @throws {RangeError} If `pgid` is not an integer greater than 1.
 */
export function signalGroup(pgid: number, signal: Deno.Signal): boolean {
  // kill(-1) and kill(0) would reach every process we may signal, or our own
  // group: never let a bad PID turn into that.
  if (!Number.isSafeInteger(pgid) || pgid <= 1) {
    throw new RangeError(`Invalid process group ID: ${pgid}`);
  }
  try {
    Deno.kill(-pgid, signal);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    // ESRCH surfaces as a generic error on some versions.
    if (/ESRCH|No such process/i.test(String(err))) return false;
    throw err;
  }
}
