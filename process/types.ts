// What process inspection answers, for both of its implementations
// (inspect.ts's /proc, ps.ts's `ps`): the lowest module of process/.

/** A process, as the inspector sees it. */
export interface ProcessInfo {
  /** The process ID. */
  pid: number;
  /** The state letter: `R`, `S`, `D`, `T`, `I`, `Z` (zombie), `X` (dead) … */
  state: string;
  /** The process group ID. */
  pgid: number;
  /** The session ID, where the system tells it (BSD `ps` does not). */
  sid?: number;
  /**
   * The start time in clock ticks after boot (`/proc/<pid>/stat` field
   * 22), where /proc is read: with the PID, it names one process for good.
   */
  startTicks?: number;
  /**
   * The start time in whole seconds since the epoch: every implementation
   * tells it, so it can be compared across them (at a second's resolution).
   */
  startTime: number;
}

/**
 * How a process's start is recorded, to tell it later from another process
 * that got the same PID. A job's record holds `ticks` (`worker_start_ticks`)
 * where /proc was read; `time` is what every implementation can compare.
 */
export interface StartStamp {
  /** Clock ticks after boot, as `/proc/<pid>/stat` gives them. */
  ticks?: number;
  /** Whole seconds since the epoch. */
  time?: number;
}

/**
 * How the library looks at processes. Each method answers `undefined` when
 * it cannot tell, never a guess: callers then fall back to what is safe
 * (leave a group alone, or signal it and see), and {@linkcode problem} says
 * why.
 */
export interface ProcessInspector {
  /** `proc` or `ps`. */
  readonly kind: string;
  /**
   * Processes, zombies included: all of them, or those of `pids` (a PID
   * with no process is left out). `undefined` when they cannot be listed.
   */
  processes(pids?: readonly number[]): ProcessInfo[] | undefined;
  /**
   * The PIDs, among all processes or among `pids`, whose environment holds
   * `entry` (`NAME=value`); `undefined` when environments cannot be read.
   */
  carrying(
    entry: string,
    pids?: readonly number[],
  ): Set<number> | undefined;
  /** Why the last question went unanswered (a missing permission …). */
  problem(): string | undefined;
}
