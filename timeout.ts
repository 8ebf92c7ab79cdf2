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

import { DEFAULT_KILL_GRACE } from "./store/job_options.ts";
import {
  stopGroup,
  type StopOptions,
  type StopResult,
} from "./process/group.ts";
import { scheduleTimeout } from "./util/timer.ts";

export { DEFAULT_KILL_GRACE, scheduleTimeout };
export type { StopOptions, StopResult };

/**
 * Stops a process group: SIGTERM to the whole group, then, if any live
 * process is left after `grace` (or as soon as `escalate` aborts, if that is
 * sooner), SIGKILL to the group. SIGCONT follows SIGTERM, so a group that
 * was stopped (a paused job) wakes up to act on it. Returns once the group
 * is empty, or at most 2 seconds after SIGKILL (what is left then is in `remaining`): it never
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
export function stopProcessGroup(
  pgid: number,
  options: StopOptions = {},
): Promise<StopResult> {
  return stopGroup(pgid, {
    ...options,
    grace: options.grace ?? DEFAULT_KILL_GRACE,
  });
}
