/**
 * Timeout monitoring and the stopping of a job's whole process group:
 * SIGTERM to the group, then SIGKILL to whatever is left after a grace
 * period. Grandchildren are stopped too, because the worker leads its own
 * process group and they stay in it.
 *
 * Group membership is read through the library's process inspector (on
 * Linux, `/proc`), so zombies (which nothing reaps on machines whose PID 1
 * does not) are not mistaken for live processes. This is the one stop
 * routine: the supervisor uses it at a timeout and on cancel, `cancel()`
 * for a lost job's leftovers, and the CLI's foreground `run`.
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

import {
  groupAlive,
  groupMembers,
  isEnded,
  markedProcesses,
  processInspector,
  signalGroup,
  signalProcess,
} from "./process/inspect.ts";
import { checkDuration } from "./duration.ts";
import { after, sleep } from "./util/timer.ts";

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

/**
 * How long {@linkcode stopProcessGroup} waits, after SIGKILL, for the
 * kernel to tear the group down before it returns what is left.
 */
const KILL_WAIT = 2_000;

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
  /**
   * Sends SIGKILL as soon as this aborts, without waiting for the rest of
   * the grace period. It lets a caller shorten a stop already under way: a
   * later cancel that asks for a shorter grace than the one that started it.
   * An already aborted signal makes the stop SIGTERM then SIGKILL at once.
   * @default {undefined}
   */
  escalate?: AbortSignal;
  /**
   * An environment entry (`NAME=value`, such as `EPACK_DETACH_JOB_ID=<id>`)
   * that marks the job's processes: those that left the group (by `setsid`)
   * are stopped too, with the same policy. Where environments cannot be
   * read, they cannot be found, and {@linkcode StopResult.escaped} says so.
   */
  mark?: string;
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
  /**
   * Processes seen alive at the end (should be none): the group's, and
   * marked ones that had left it.
   */
  remaining: number[];
  /**
   * With a `mark`: the processes found outside the group carrying it, which
   * were signalled too; `undefined` when they could not be looked for (no
   * `mark`, or environments cannot be read).
   */
  escaped?: number[];
}

/**
 * Stops a process group: SIGTERM to the whole group, then, if any live
 * process is left after `grace` (or as soon as `escalate` aborts, if that is
 * sooner), SIGKILL to the group. SIGCONT follows SIGTERM, so a group that
 * was stopped (a paused job) wakes up to act on it. Returns once the group is empty, or at most
 * 2 seconds after SIGKILL (what is left then is in `remaining`): it never
 * takes much longer than `grace` plus those 2 seconds.
 *
 * With a `mark`, processes outside the group that carry it (a grandchild
 * that called `setsid`) get the same signals, and the stop waits for them
 * too.
 *
 * Requires `--allow-run` (signals, and `ps` where `/proc` cannot be read,
 * which is how zombies are told from live processes).
 *
 * @param pgid The process group ID, which is the worker's PID.
 * @param options The grace period, the polling interval, and a signal that
 * brings SIGKILL forward.
 * @returns Whether SIGKILL was needed, and what is left.
 * @throws {RangeError} If `pgid` is not a valid group ID, or `grace` is not a
 * whole number of milliseconds from 0 to `MAX_DURATION`.
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
  const grace = checkDuration("grace", options.grace ?? DEFAULT_KILL_GRACE);
  const interval = options.interval ?? 20;
  const { escalate } = options;
  const sweep = new MarkSweep(pgid, options.mark);
  // SIGCONT right after SIGTERM: a paused job's processes (stopped with
  // SIGSTOP) would hold SIGTERM pending and act on it only once continued,
  // so without it a paused job could end only by SIGKILL. SIGKILL needs no
  // such help: it ends a stopped process too.
  const existed = signalGroup(pgid, "SIGTERM");
  signalGroup(pgid, "SIGCONT");
  sweep.signal("SIGTERM", "SIGCONT");
  const result = (killed: boolean, remaining: number[]): StopResult =>
    options.mark === undefined
      ? { killed, remaining }
      : { killed, remaining, escaped: sweep.escaped() };
  if (!existed && !sweep.alive()) return result(false, []);
  const alive = async () => (await groupAlive(pgid)) || sweep.alive();
  const termDeadline = Date.now() + grace;
  // Polled rather than awaited: the group is looked at every `interval`
  // anyway, so an abort is seen within one interval.
  while (Date.now() < termDeadline && !escalate?.aborted) {
    // Once the group is gone, one more look for marked processes: one may
    // have left the group during the grace period.
    if (!(await alive()) && !sweep.signal("SIGTERM", "SIGCONT")) {
      return result(false, []);
    }
    await sleep(Math.min(interval, Math.max(1, termDeadline - Date.now())));
  }
  if (!(await alive()) && !sweep.signal("SIGTERM", "SIGCONT")) {
    return result(false, []);
  }
  signalGroup(pgid, "SIGKILL");
  sweep.signal("SIGKILL");
  // SIGKILL cannot be caught, but the kernel needs a moment to tear down.
  const killDeadline = Date.now() + KILL_WAIT;
  while (Date.now() < killDeadline && await alive()) {
    await sleep(interval);
  }
  return result(true, [...groupMembers(pgid) ?? [], ...sweep.survivors()]);
}

/**
 * The processes that carry a job's mark outside its group: found anew at
 * each {@linkcode MarkSweep.signal}, and remembered so that their end is
 * waited for.
 */
class MarkSweep {
  #pgid: number;
  #mark: string | undefined;
  #found = new Map<number, number>(); // PID -> start time, against reuse
  #looked = false;

  constructor(pgid: number, mark: string | undefined) {
    this.#pgid = pgid;
    this.#mark = mark;
  }

  /**
   * Sends `signals`, in order, to the marked processes outside the group;
   * `true` if any.
   */
  signal(...signals: Deno.Signal[]): boolean {
    if (this.#mark === undefined) return false;
    const marked = markedProcesses(this.#mark);
    if (marked === undefined) return false;
    this.#looked = true;
    let any = false;
    for (const p of marked) {
      if (p.pgid === this.#pgid) continue; // The group's own signal.
      this.#found.set(p.pid, p.startTime);
      for (const signal of signals) {
        if (signalProcess(p.pid, signal)) any = true;
      }
    }
    return any;
  }

  /** The found processes still alive (the same processes, not reused PIDs). */
  survivors(): number[] {
    if (this.#found.size === 0) return [];
    // Unreadable: assume they live, so the stop goes on to SIGKILL.
    const seen = processInspector().processes([...this.#found.keys()]);
    if (seen === undefined) return [...this.#found.keys()];
    return seen.filter((p) =>
      !isEnded(p) && p.startTime === this.#found.get(p.pid)
    ).map((p) => p.pid);
  }

  alive(): boolean {
    return this.#found.size > 0 && this.survivors().length > 0;
  }

  escaped(): number[] | undefined {
    return this.#looked ? [...this.#found.keys()] : undefined;
  }
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
  // Longer delays than a timer takes are chained. Not setTimeout: see
  // _timer.ts (what it costs every supervisor's memory).
  let cancel: (() => void) | undefined;
  if (Number.isFinite(ms) && ms > 0) {
    const end = Date.now() + ms;
    const arm = () => {
      const left = end - Date.now();
      if (left <= 0) {
        cancel = undefined;
        fn();
        return;
      }
      cancel = after(left, arm);
    };
    arm();
  }
  return {
    [Symbol.dispose]() {
      cancel?.();
      cancel = undefined;
    },
  };
}
