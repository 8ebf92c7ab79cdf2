// Process inspection and process-group signalling, behind one seam. Every
// question the library asks about processes (is this PID still the worker?
// which processes are left in a job's group? is that one a zombie? which
// processes carry a job's mark?) goes through a ProcessInspector; nothing
// else reads /proc or runs ps.
//
// Two implementations: Linux's /proc where it can be read (Deno 2.9 allows
// that only under --allow-all), and `ps` everywhere else (macOS, and Linux
// under narrower permissions), in _process_ps.ts. The choice is made once,
// by looking whether /proc/self/stat can be read; tests force one with
// EPACK_DETACH_PROCESS_INSPECTOR=proc|ps.
//
// Zombies matter here: on machines whose PID 1 does not reap orphans, a
// process that has ended stays a zombie, and `kill(pid, 0)` still succeeds
// on it. So "alive" is always decided from a process's state, never from a
// PID alone.

import { PsInspector } from "./ps.ts";
import type { ProcessInfo, ProcessInspector, StartStamp } from "./types.ts";

export type { ProcessInfo, ProcessInspector, StartStamp };

/** The environment variable that forces an implementation (`proc`, `ps`). */
export const INSPECTOR_ENV = "EPACK_DETACH_PROCESS_INSPECTOR";

/** Linux's user-visible clock tick (USER_HZ): 100 on every Deno target. */
const CLOCK_TICKS = 100;

/** Linux: everything is read from `/proc` (needs `--allow-all` in Deno 2.9). */
export class ProcFsInspector implements ProcessInspector {
  readonly kind = "proc";
  #bootTime: number | undefined;
  #problem: string | undefined;

  /** The PIDs asked about, or every one in /proc (forgetting the last problem). */
  #list(pids?: readonly number[]): readonly number[] | undefined {
    this.#problem = undefined;
    try {
      return pids ?? numericEntries();
    } catch (err) {
      this.#problem = `Cannot list /proc: ${String(err)}`;
      return undefined;
    }
  }

  processes(pids?: readonly number[]): ProcessInfo[] | undefined {
    const out: ProcessInfo[] = [];
    const list = this.#list(pids);
    if (list === undefined) return undefined;
    const boot = this.#boot();
    if (boot === undefined) return undefined;
    for (const pid of list) {
      let text: string;
      try {
        text = Deno.readTextFileSync(`/proc/${pid}/stat`);
      } catch {
        continue; // Gone meanwhile, or never there.
      }
      const info = parseStat(text, boot);
      if (info !== undefined) out.push(info);
    }
    return out;
  }

  carrying(entry: string, pids?: readonly number[]): Set<number> | undefined {
    const list = this.#list(pids);
    if (list === undefined) return undefined;
    const found = new Set<number>();
    const decoder = new TextDecoder();
    for (const pid of list) {
      try {
        const env = decoder.decode(Deno.readFileSync(`/proc/${pid}/environ`));
        if (env.split("\0").includes(entry)) found.add(pid);
      } catch {
        // Gone, or another user's: it cannot be the job's.
      }
    }
    return found;
  }

  problem(): string | undefined {
    return this.#problem;
  }

  #boot(): number | undefined {
    if (this.#bootTime !== undefined) return this.#bootTime;
    try {
      const stat = Deno.readTextFileSync("/proc/stat");
      const m = /^btime (\d+)$/m.exec(stat);
      if (m === null) throw new Error("no btime line");
      return this.#bootTime = Number(m[1]);
    } catch (err) {
      this.#problem = `Cannot read /proc/stat: ${String(err)}`;
      return undefined;
    }
  }
}

function numericEntries(): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const c = entry.name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(entry.name));
  }
  return pids;
}

/**
 * Parses one `/proc/<pid>/stat` line.
 *
 * @param text The line.
 * @param bootTime The boot time in seconds since the epoch (`/proc/stat`
 * `btime`), which turns ticks into {@linkcode ProcessInfo.startTime} as
 * procps's `ps -o lstart` does.
 */
export function parseStat(
  text: string,
  bootTime = 0,
): ProcessInfo | undefined {
  // The command name, in parentheses, may itself hold spaces and ")".
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const pid = Number(text.slice(0, text.indexOf(" ")));
  const f = text.slice(close + 2).split(" ");
  if (f.length < 20) return undefined;
  const startTicks = Number(f[19]);
  return {
    pid,
    state: f[0],
    pgid: Number(f[2]),
    sid: Number(f[3]),
    startTicks,
    startTime: bootTime + Math.floor(startTicks / CLOCK_TICKS),
  };
}

/**
 * The implementation to use: the one `EPACK_DETACH_PROCESS_INSPECTOR`
 * names, else /proc if this process may read it, else `ps`.
 *
 * @param forced The value of `EPACK_DETACH_PROCESS_INSPECTOR`, if any.
 * @throws {TypeError} If `forced` names no implementation.
 */
export function chooseInspector(forced?: string): ProcessInspector {
  if (forced === "ps") return new PsInspector();
  if (forced === "proc") return new ProcFsInspector();
  if (forced !== undefined && forced !== "") {
    throw new TypeError(
      `Invalid ${INSPECTOR_ENV}: ${
        JSON.stringify(forced)
      } (use "proc" or "ps")`,
    );
  }
  try {
    Deno.readTextFileSync("/proc/self/stat");
    return new ProcFsInspector();
  } catch {
    // No /proc (macOS), or not readable under these permissions.
    return new PsInspector();
  }
}

function forcedInspector(): string | undefined {
  try {
    return Deno.env.get(INSPECTOR_ENV);
  } catch {
    return undefined; // No --allow-env for it: nothing forced.
  }
}

let inspector: ProcessInspector | undefined;

/** The process inspector in use (chosen at the first call). */
export function processInspector(): ProcessInspector {
  return inspector ??= chooseInspector(forcedInspector());
}

/**
 * Replaces the process inspector, or puts the default back with
 * `undefined`. For tests, and for a further implementation to be tried.
 */
export function setProcessInspector(
  replacement: ProcessInspector | undefined,
): void {
  inspector = replacement;
}

/**
 * Why the inspector could not answer its last question, for messages (for
 * example Deno's "Requires run access to "ps", run again with the
 * --allow-run flag").
 */
export function inspectionProblem(): string | undefined {
  return processInspector().problem();
}

/** Whether a process has ended: a zombie (`Z`) or dead (`X`). */
export function isEnded(info: ProcessInfo): boolean {
  return info.state === "Z" || info.state === "X";
}

/** One process, or `undefined` if there is none or it cannot be read. */
export function readProcess(pid: number): ProcessInfo | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return processInspector().processes([pid])?.[0];
}

/**
 * What to record of a process's start, to know it again later; `undefined`
 * if it cannot be read.
 */
export function startStamp(pid: number): StartStamp | undefined {
  const info = readProcess(pid);
  if (info === undefined) return undefined;
  return info.startTicks === undefined
    ? { time: info.startTime }
    : { ticks: info.startTicks, time: info.startTime };
}

/** The live (not zombie) processes of a group, or `undefined`. */
function liveMembers(pgid: number): ProcessInfo[] | undefined {
  return processInspector().processes()?.filter((p) =>
    p.pgid === pgid && !isEnded(p)
  );
}

/**
 * The PIDs of a group's live (not zombie) members, or `undefined` when
 * processes cannot be listed.
 */
export function groupMembers(pgid: number): number[] | undefined {
  return liveMembers(pgid)?.map((p) => p.pid);
}

/** Whether a process's environment holds `entry` (`NAME=value`). */
export function hasEnvEntry(pid: number, entry: string): boolean {
  return processInspector().carrying(entry, [pid])?.has(pid) ?? false;
}

/**
 * The live processes, in any group or session, whose environment holds
 * `mark` (such as `EPACK_DETACH_JOB_ID=<id>`), this process excepted; or
 * `undefined` when environments cannot be read.
 */
export function markedProcesses(mark: string): ProcessInfo[] | undefined {
  const ins = processInspector();
  const pids = ins.carrying(mark);
  if (pids === undefined) return undefined;
  pids.delete(Deno.pid);
  if (pids.size === 0) return [];
  return ins.processes([...pids])?.filter((p) => !isEnded(p));
}

/**
 * Whether `info` started when `stamp` says: `undefined` if the two cannot
 * be compared (ticks recorded, but only seconds can be read).
 */
function startCompare(
  info: ProcessInfo,
  stamp: StartStamp,
): number | undefined {
  if (stamp.ticks !== undefined && info.startTicks !== undefined) {
    return Math.sign(info.startTicks - stamp.ticks);
  }
  if (stamp.time !== undefined) return Math.sign(info.startTime - stamp.time);
  return undefined;
}

/**
 * The live processes of a job's worker group, but only when the group is
 * certainly the job's. The worker led its own session and group, so every
 * process of the job has group ID (and session ID) equal to the worker's
 * PID and started no earlier than the worker. While the leader exists (even
 * as an unreaped zombie) with the worker's start time, its PID cannot have
 * been reused, so that is proof enough. Once the leader is gone, its PID may
 * lead another session by now, so each member must also carry `mark`, an
 * entry of the job's environment such as `EPACK_DETACH_JOB_ID=<id>`. Where
 * start times cannot be compared (the record has /proc ticks, and only `ps`
 * can be run, or nothing was recorded), the mark alone decides, for every
 * member, the leader too.
 *
 * @param pgid The worker's PID, which is its group's ID.
 * @param start The worker's start as recorded: ticks (a number, as
 * `worker_start_ticks`), a {@linkcode StartStamp}, or `undefined`.
 * @param mark An environment entry (`NAME=value`) every member must have
 * when the leader is gone or start times cannot be compared; without it,
 * such a group is never claimed.
 * @returns The group's live processes (maybe none), or `undefined` when the
 * group cannot be identified safely (or processes cannot be read).
 */
export function identifyGroup(
  pgid: number,
  start: number | StartStamp | undefined,
  mark?: string,
): ProcessInfo[] | undefined {
  const stamp: StartStamp = typeof start === "number"
    ? { ticks: start }
    : start ?? {};
  const ins = processInspector();
  const all = ins.processes();
  if (all === undefined) return undefined;
  const leader = all.find((p) => p.pid === pgid);
  let needMark = leader === undefined;
  if (leader !== undefined) {
    // The worker led its group to its end (a zombie keeps its group): a
    // process with its PID outside that group is another process.
    if (leader.pgid !== pgid) return undefined;
    const same = startCompare(leader, stamp);
    if (same === undefined) needMark = true;
    else if (same !== 0) return undefined;
  }
  const members = all.filter((p) => p.pgid === pgid && !isEnded(p));
  for (const p of members) {
    if (p.sid !== undefined && p.sid !== pgid) return undefined;
    const order = startCompare(p, stamp);
    if (order === undefined) needMark = true;
    else if (order < 0) return undefined;
  }
  if (needMark && members.length > 0) {
    if (mark === undefined) return undefined;
    const marked = ins.carrying(mark, members.map((p) => p.pid));
    if (marked === undefined) return undefined;
    const unmarked = members.filter((p) => !marked.has(p.pid));
    if (unmarked.length > 0) {
      // A member that ended between the listing and the look at its
      // environment (a short `sleep` of the job, say) is not a stranger:
      // only one still there, the same process, without the mark is.
      // One caught in the middle of an exec shows an empty environment for a
      // moment (the kernel is swapping its memory), so a member still there
      // is asked again, a few times, a few milliseconds apart.
      let still = unmarked;
      for (let tries = 0; still.length > 0; tries++) {
        const again = ins.processes(still.map((p) => p.pid));
        if (again === undefined) return undefined;
        still = still.filter((p) =>
          again.some((q) =>
            q.pid === p.pid && q.startTime === p.startTime && !isEnded(q)
          )
        );
        if (still.length === 0) break;
        const marks = ins.carrying(mark, still.map((p) => p.pid));
        if (marks === undefined) return undefined;
        for (const p of still) if (marks.has(p.pid)) marked.add(p.pid);
        still = still.filter((p) => !marks.has(p.pid));
        if (still.length === 0) break;
        if (tries === 4) return undefined;
        pause(5);
      }
      return members.filter((p) => marked.has(p.pid));
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
  return await exists(-pgid);
}

/**
 * Whether a process (or, for a negative ID, a group) exists, zombies
 * included, by `kill(id, 0)`; `true` when that cannot be told.
 */
async function exists(id: number): Promise<boolean> {
  if (!Number.isSafeInteger(id) || Math.abs(id) <= 1) return false;
  // Loaded only here: node:process costs the long-lived supervisor memory,
  // and an inspector answers first.
  const { default: process } = await import("node:process");
  try {
    // Signal 0 checks existence only; Deno.kill does not take it.
    process.kill(id, 0);
    return true;
  } catch (err) {
    // Only "no such process" means gone. EPERM, or a missing permission,
    // says nothing about the process: assume it lives.
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
  return kill(-pgid, signal);
}

/**
 * Sends a signal to one process; one that no longer exists is not an
 * error.
 *
 * @returns `true` if the process existed.
 * @throws {RangeError} If `pid` is not an integer greater than 1.
 */
export function signalProcess(pid: number, signal: Deno.Signal): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 1) {
    throw new RangeError(`Invalid process ID: ${pid}`);
  }
  return kill(pid, signal);
}

function kill(id: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(id, signal);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    // ESRCH surfaces as a generic error on some versions.
    if (/ESRCH|No such process/i.test(String(err))) return false;
    throw err;
  }
}

/** Blocks the thread for `ms`: identifyGroup() is synchronous. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
