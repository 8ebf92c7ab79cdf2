/**
 * Timeout monitoring and the stopping of a job's whole process group:
 * SIGTERM to the group, then SIGKILL to whatever is left after a grace
 * period. Grandchildren are stopped too, because the worker leads its own
 * process group and they stay in it.
 *
 * On Linux, group membership and process identity are read from `/proc`, so
 * zombies (which nothing reaps on machines whose PID 1 does not) are not
 * mistaken for live processes, and a reused PID is not mistaken for the
 * worker.
 *
 * @example Stop a process group
 * ```ts ignore
 * import { stopProcessGroup } from "@epack/detach/timeout";
 *
 * const result = await stopProcessGroup(12345, { grace: 5_000 });
 * console.log(result.killed ? "needed SIGKILL" : "ended on SIGTERM");
 * ```
 *
 * @module
 */

/**
 * Default time between SIGTERM and SIGKILL: 10 seconds.
 *
 * @example Show the default
 * ```ts
 * import { DEFAULT_KILL_GRACE } from "@epack/detach/timeout";
 * import { formatDuration } from "@epack/detach/duration";
 *
 * console.log(formatDuration(DEFAULT_KILL_GRACE)); // 10s
 * ```
 */
export const DEFAULT_KILL_GRACE = 10_000;

/** The longest delay `setTimeout` takes; longer timers are chained. */
const MAX_TIMER = 2 ** 31 - 1;

/**
 * Options for {@linkcode stopProcessGroup}.
 *
 * @example A short grace period, checked every 100 ms
 * ```ts ignore
 * import { stopProcessGroup, type StopOptions } from "@epack/detach/timeout";
 *
 * const options: StopOptions = { grace: 2_000, interval: 100 };
 * await stopProcessGroup(12345, options);
 * ```
 */
export interface StopOptions {
  /**
   * Milliseconds between SIGTERM and SIGKILL.
   * @default {10_000}
   */
  grace?: number;
  /**
   * How often, in milliseconds, to look whether the group has emptied.
   * @default {20}
   */
  interval?: number;
}

/**
 * What {@linkcode stopProcessGroup} did.
 *
 * @example Warn about what SIGKILL could not stop
 * ```ts ignore
 * import { stopProcessGroup } from "@epack/detach/timeout";
 *
 * const { killed, remaining } = await stopProcessGroup(12345);
 * if (killed) console.warn("the group ignored SIGTERM");
 * if (remaining.length > 0) console.warn(`still there: ${remaining.join(", ")}`);
 * ```
 */
export interface StopResult {
  /** Whether any process was left after the grace period and got SIGKILL. */
  killed: boolean;
  /** Processes still in the group at the end (should be none). */
  remaining: number[];
}

/**
 * A process as `/proc/<pid>/stat` describes it.
 *
 * @example This process's own entry (Linux)
 * ```ts
 * import { readProcess } from "@epack/detach/timeout";
 *
 * const info = readProcess(Deno.pid);
 * // undefined where /proc cannot be read (not Linux)
 * if (info !== undefined) console.log(info.pid === Deno.pid); // true
 * ```
 */
export interface ProcessInfo {
  /** The process ID. */
  pid: number;
  /** The state letter: `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead) … */
  state: string;
  /** The process group ID. */
  pgid: number;
  /** The session ID. */
  sid: number;
  /** The start time, in clock ticks after boot. */
  startTicks: number;
}

/**
 * Reads one process's `/proc/<pid>/stat` (Linux only).
 *
 * Requires `--allow-read` for `/proc`.
 *
 * @param pid The process ID.
 * @returns Its information, or `undefined` if there is no such process or
 * `/proc` cannot be read.
 *
 * @example The current process
 * ```ts
 * import { readProcess } from "@epack/detach/timeout";
 *
 * console.log(readProcess(Deno.pid)?.state); // R or S (undefined off Linux)
 * ```
 */
export function readProcess(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  return parseStat(text);
}

function parseStat(text: string): ProcessInfo | undefined {
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

/**
 * The live (not zombie) members of a process group, read from `/proc`.
 *
 * Requires `--allow-read` for `/proc`.
 *
 * @param pgid The process group ID.
 * @returns Their PIDs, or `undefined` where `/proc` cannot be read (not
 * Linux, or no permission).
 *
 * @example The group this process belongs to
 * ```ts
 * import { groupMembers, readProcess } from "@epack/detach/timeout";
 *
 * const self = readProcess(Deno.pid); // undefined off Linux
 * if (self !== undefined) {
 *   console.log(groupMembers(self.pgid)?.includes(Deno.pid)); // true
 * }
 * ```
 */
export function groupMembers(pgid: number): number[] | undefined {
  return groupProcesses(pgid)?.map((p) => p.pid);
}

function groupProcesses(pgid: number): ProcessInfo[] | undefined {
  const out: ProcessInfo[] = [];
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      const c = entry.name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const info = readProcess(Number(entry.name));
      if (info === undefined || info.pgid !== pgid) continue;
      if (info.state === "Z" || info.state === "X") continue;
      out.push(info);
    }
  } catch {
    return undefined;
  }
  return out;
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
 * Requires `--allow-read` for `/proc` (in Deno 2.9, `--allow-all`).
 *
 * @param pgid The worker's PID, which is its group's ID.
 * @param startTicks The worker's start time, as recorded when it started.
 * @param mark An environment entry (`NAME=value`) every member must have
 * when the leader is gone; without it, a leaderless group is never claimed.
 * @returns The group's live processes (maybe none), or `undefined` when the
 * group cannot be identified safely (or `/proc` cannot be read).
 *
 * @example Is anything of a lost job still running?
 * ```ts ignore
 * import { JobStore } from "@epack/detach/jobs";
 * import { identifyGroup } from "@epack/detach/timeout";
 *
 * const job = await new JobStore(".epack/jobs").load("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * const left = identifyGroup(
 *   job.workerPid!,
 *   job.workerStartTicks!,
 *   `EPACK_DETACH_JOB_ID=${job.id}`,
 * );
 * console.log(left === undefined ? "unknown" : `${left.length} processes`);
 * ```
 */
export function identifyGroup(
  pgid: number,
  startTicks: number,
  mark?: string,
): ProcessInfo[] | undefined {
  const leader = readProcess(pgid);
  if (leader !== undefined && leader.startTicks !== startTicks) {
    return undefined;
  }
  const members = groupProcesses(pgid);
  if (members === undefined) return undefined;
  const ours = (p: ProcessInfo) => p.sid === pgid && p.startTicks >= startTicks;
  if (!members.every(ours)) return undefined;
  if (leader === undefined && members.length > 0) {
    if (mark === undefined) return undefined;
    if (!members.every((p) => hasEnvEntry(p.pid, mark))) return undefined;
  }
  return members;
}

function hasEnvEntry(pid: number, entry: string): boolean {
  try {
    const env = new TextDecoder().decode(
      Deno.readFileSync(`/proc/${pid}/environ`),
    );
    return env.split("\0").includes(entry);
  } catch {
    return false;
  }
}

/**
 * Whether any live process is left in a group. Where `/proc` cannot be read
 * it falls back to `kill(-pgid, 0)`, which also counts zombies.
 *
 * Requires `--allow-read` for `/proc`; where `/proc` cannot be read,
 * `--allow-run` (without it, every group is reported gone).
 *
 * @param pgid The process group ID.
 * @returns `true` while the group has a live member.
 *
 * @example Wait until a job's worker and its children are gone
 * ```ts ignore
 * import { JobStore } from "@epack/detach/jobs";
 * import { groupAlive } from "@epack/detach/timeout";
 *
 * const job = await new JobStore(".epack/jobs").load("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * while (job.workerPid !== undefined && await groupAlive(job.workerPid)) {
 *   await new Promise((resolve) => setTimeout(resolve, 100));
 * }
 * ```
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
    // says nothing about the group: assume it lives, so stopping it goes on
    // to SIGKILL rather than giving up early.
    return (err as { code?: string }).code !== "ESRCH";
  }
}

/**
 * Sends a signal to every process of a group. A group that no longer exists
 * is not an error.
 *
 * Requires `--allow-run`.
 *
 * @param pgid The process group ID (positive).
 * @param signal The signal.
 * @returns `true` if the group existed.
 * @throws {RangeError} If `pgid` is not a positive integer greater than 1.
 *
 * @example Hang up a worker's whole group
 * ```ts ignore
 * import { signalGroup } from "@epack/detach/timeout";
 *
 * const workerPid = 12345; // a job's `workerPid`, which leads its group
 * if (!signalGroup(workerPid, "SIGHUP")) console.log("already gone");
 * ```
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

/**
 * Stops a process group: SIGTERM to the whole group, then, if any live
 * process is left after `grace`, SIGKILL to the group. Returns once the
 * group is empty (or after a short wait following SIGKILL).
 *
 * Requires `--allow-run`, and `--allow-read` for `/proc` to tell zombies from
 * live processes.
 *
 * @param pgid The process group ID, which is the worker's PID.
 * @param options The grace period and the polling interval.
 * @returns Whether SIGKILL was needed, and what is left.
 * @throws {RangeError} If `pgid` is not a valid group ID.
 *
 * @example Stop with a 2 s grace
 * ```ts ignore
 * import { stopProcessGroup } from "@epack/detach/timeout";
 *
 * await stopProcessGroup(12345, { grace: 2_000 });
 * ```
 */
export async function stopProcessGroup(
  pgid: number,
  options: StopOptions = {},
): Promise<StopResult> {
  const grace = options.grace ?? DEFAULT_KILL_GRACE;
  const interval = options.interval ?? 20;
  if (!signalGroup(pgid, "SIGTERM")) return { killed: false, remaining: [] };
  const termDeadline = Date.now() + grace;
  while (Date.now() < termDeadline) {
    if (!(await groupAlive(pgid))) return { killed: false, remaining: [] };
    await delay(Math.min(interval, Math.max(1, termDeadline - Date.now())));
  }
  if (!(await groupAlive(pgid))) return { killed: false, remaining: [] };
  signalGroup(pgid, "SIGKILL");
  // SIGKILL cannot be caught, but the kernel needs a moment to tear down.
  const killDeadline = Date.now() + 2_000;
  while (Date.now() < killDeadline && await groupAlive(pgid)) {
    await delay(interval);
  }
  return { killed: true, remaining: groupMembers(pgid) ?? [] };
}

/**
 * Calls `fn` once after `ms` milliseconds, even when `ms` is longer than
 * `setTimeout` allows (about 24.8 days). A non-finite or non-positive `ms`
 * schedules nothing.
 *
 * @param ms The delay.
 * @param fn What to call.
 * @returns A handle; disposing it cancels the call.
 *
 * @example A deadline that can be cancelled
 * ```ts
 * import { scheduleTimeout } from "@epack/detach/timeout";
 *
 * using timer = scheduleTimeout(60_000, () => console.log("too late"));
 * // ... the work finished first; leaving the block cancels the timer.
 * ```
 */
export function scheduleTimeout(ms: number, fn: () => void): Disposable {
  let id: ReturnType<typeof setTimeout> | undefined;
  if (Number.isFinite(ms) && ms > 0) {
    const end = Date.now() + ms;
    const arm = () => {
      const left = end - Date.now();
      if (left <= 0) {
        id = undefined;
        fn();
        return;
      }
      id = setTimeout(arm, Math.min(left, MAX_TIMER));
    };
    arm();
  }
  return {
    [Symbol.dispose]() {
      if (id !== undefined) clearTimeout(id);
      id = undefined;
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
