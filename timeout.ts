/**
 * Stopping a job's whole process group, grandchildren included: SIGTERM,
 * then SIGKILL to what is left after a grace period. Zombies are not taken
 * for live processes. The one stop routine, for the supervisor, `cancel()`
 * and the CLI's foreground `run`.
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
 * Stops a process group: SIGTERM (and SIGCONT, to wake a paused one), then
 * SIGKILL if a live process is left after `grace` or when `escalate`
 * aborts. Returns once the group is empty, or 2 seconds after SIGKILL
 * (with what is left in `remaining`). With a `mark`, processes outside the
 * group that carry it (a grandchild that called `setsid`) are stopped too.
 *
 * Requires `--allow-run`.
 *
 * @param pgid The process group ID, which is the worker's PID.
 * @param options The grace period, the polling interval, and a signal that
 * brings SIGKILL forward.
 * @returns Whether SIGKILL was needed, and what is left.
 * @throws {RangeError} If `pgid` is not a valid group ID, or `grace` is not a
 * whole number of milliseconds from 0 to `MAX_DURATION`.
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
