// A child in a process group of its own, and the one way to stop such a
// group: SIGTERM (then SIGCONT, so a stopped group acts on it), SIGKILL to
// whatever is left after a grace. A job's worker, its end hook and the CLI's
// foreground `run` all run through startGroup(); timeout.ts's public
// stopProcessGroup() is the stop below.
//
// Group membership is read through the process inspector (on Linux, /proc),
// so zombies, which nothing reaps where PID 1 does not, are not taken for
// live processes.

import {
  groupAlive,
  groupMembers,
  isEnded,
  markedProcesses,
  processInspector,
  readProcess,
  signalGroup,
  signalProcess,
} from "./inspect.ts";
import { checkDuration, MAX_DURATION } from "../duration.ts";
import { scheduleTimeout, sleep } from "../util/timer.ts";

/** How long a stop waits, after SIGKILL, for the kernel to tear down. */
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
 * Stops the group `pgid`: SIGTERM and SIGCONT to it, SIGKILL once `grace`
 * has passed (or `escalate` aborts) with a live process left, then waits at
 * most {@linkcode KILL_WAIT} for it to empty. With a `mark`, processes that
 * left the group but carry it get the same signals.
 *
 * @throws {RangeError} If `pgid` is not a valid group ID, or `grace` is not
 * a whole number of milliseconds from 0 to `MAX_DURATION`.
 */
export async function stopGroup(
  pgid: number,
  options: StopOptions & { grace: number },
): Promise<StopResult> {
  const grace = checkDuration("grace", options.grace);
  const interval = options.interval ?? 20;
  const { escalate, mark } = options;
  const sweep = new MarkSweep(pgid, mark);
  // SIGCONT right after SIGTERM: a stopped (paused) process holds SIGTERM
  // pending until continued, so without it a paused job could only end by
  // SIGKILL, which needs no such help.
  const existed = signalGroup(pgid, "SIGTERM");
  signalGroup(pgid, "SIGCONT");
  sweep.signal("SIGTERM", "SIGCONT");
  const result = (killed: boolean, remaining: number[]): StopResult =>
    mark === undefined
      ? { killed, remaining }
      : { killed, remaining, escaped: sweep.escaped() };
  if (!existed && !sweep.alive()) return result(false, []);
  // Once the group is gone, one more look for marked processes: one may have
  // left the group during the grace.
  const gone = async () =>
    !(await groupAlive(pgid)) && !sweep.alive() &&
    !sweep.signal("SIGTERM", "SIGCONT");
  const termDeadline = Date.now() + grace;
  // Polled rather than awaited: an abort is seen within one interval.
  while (Date.now() < termDeadline && !escalate?.aborted) {
    if (await gone()) return result(false, []);
    await sleep(Math.min(interval, Math.max(1, termDeadline - Date.now())));
  }
  if (await gone()) return result(false, []);
  signalGroup(pgid, "SIGKILL");
  sweep.signal("SIGKILL");
  const killDeadline = Date.now() + KILL_WAIT;
  while (
    Date.now() < killDeadline && ((await groupAlive(pgid)) || sweep.alive())
  ) {
    await sleep(interval);
  }
  return result(true, [...groupMembers(pgid) ?? [], ...sweep.survivors()]);
}

/**
 * The processes that carry a job's mark outside its group: looked for anew
 * at each signal, and remembered (with their start time, against PID reuse)
 * so their end is waited for.
 */
class MarkSweep {
  readonly #pgid: number;
  readonly #mark: string | undefined;
  readonly #found = new Map<number, number>();
  #looked = false;

  constructor(pgid: number, mark: string | undefined) {
    this.#pgid = pgid;
    this.#mark = mark;
  }

  /** Sends `signals` to the marked processes outside the group; any? */
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
    return this.survivors().length > 0;
  }

  escaped(): number[] | undefined {
    return this.#looked ? [...this.#found.keys()] : undefined;
  }
}

/** Options for {@linkcode startGroup}. */
export interface GroupOptions {
  args?: readonly string[];
  cwd?: string;
  env?: Record<string, string>;
  clearEnv?: boolean;
  /** The child's stdin, stdout and stderr. @default {"null"} */
  stdio?: "null" | "inherit";
  /**
   * Stops the group this many milliseconds after it starts (none for 0 or
   * undefined), SIGKILL `grace` later; the end says `timedOut`.
   */
  timeout?: number;
  /** SIGTERM to SIGKILL, for a stop by `timeout` or by `stopOn`. */
  grace: number;
  /** Marks the group's processes that leave it: see {@linkcode StopOptions}. */
  mark?: string;
  /** Signals to this process that are passed on to the group. */
  forward?: readonly Deno.Signal[];
  /** Signals to this process that stop the group. */
  stopOn?: readonly Deno.Signal[];
  /**
   * A program and its first arguments that exec `program` (with its
   * arguments) in place, to set what Deno cannot: the leader's signal mask
   * (process/signals.ts quietLaunch()).
   */
  via?: readonly string[];
}

/** A stop of a group, as it went. */
export interface GroupStop {
  /** When SIGTERM was sent (epoch ms). */
  startedAt: number;
  /** When SIGKILL was due, at the end (a stop may have been hastened). */
  killAt: number;
  /** What the stop did, unless it failed. */
  result?: StopResult;
  /** Why it failed, if it did. */
  error?: unknown;
}

/** How a group's leader ended, and the stop if one was made. */
export interface GroupEnd {
  status: Deno.CommandStatus;
  /** The group ran past `timeout` and was stopped. */
  timedOut: boolean;
  /** The stop, finished, if one was started before the leader ended. */
  stop?: GroupStop;
}

// Without /proc (it needs --allow-all in Deno 2.9) a leader's end is known
// only from its status.
let procReadable: boolean | undefined;

/**
 * A child running as the leader of its own session and process group (so
 * the whole group can be signalled without touching this process), with a
 * stop whose SIGKILL deadline can move earlier, never later.
 */
export class ProcessGroup {
  /** The leader's PID, which is the group's ID. */
  readonly pid: number;
  /** Settles once the leader has ended and a stop under way has finished. */
  readonly ended: Promise<GroupEnd>;
  readonly #mark: string | undefined;
  #exited = false;
  #timedOut = false;
  #stop: Stop | undefined;

  /**
   * Starts `program` as the leader of a new session and process group.
   * Listeners for `forward` and `stopOn` are in place before it starts, so
   * no such signal can end this process and leave the group running.
   *
   * @throws What `Deno.Command` throws when the program cannot be started.
   */
  constructor(program: string, options: GroupOptions) {
    this.#mark = options.mark;
    const { grace } = options;
    const listeners: [Deno.Signal, () => void][] = [
      ...(options.forward ?? []).map((s): [Deno.Signal, () => void] => [
        s,
        () => this.signal(s),
      ]),
      ...(options.stopOn ?? []).map((s): [Deno.Signal, () => void] => [
        s,
        () => void this.stop(Date.now() + grace),
      ]),
    ];
    for (const [s, fn] of listeners) Deno.addSignalListener(s, fn);
    const unlisten = () => {
      for (const [s, fn] of listeners) Deno.removeSignalListener(s, fn);
    };
    const stdio = options.stdio ?? "null";
    const [command, ...args] = [
      ...options.via ?? [],
      program,
      ...options.args ?? [],
    ];
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(command, {
        args,
        cwd: options.cwd,
        env: options.env,
        clearEnv: options.clearEnv ?? false,
        stdin: stdio,
        stdout: stdio,
        stderr: stdio,
        detached: true,
      }).spawn();
    } catch (err) {
      unlisten();
      throw err;
    }
    this.pid = child.pid;
    const timer = scheduleTimeout(options.timeout ?? 0, () => {
      this.#timedOut = this.stop(Date.now() + grace) || this.#timedOut;
    });
    this.ended = (async () => {
      try {
        const status = await child.status;
        // From now on no stop starts: a stop of a group whose leader ended
        // on its own would turn its real end into a stop.
        this.#exited = true;
        const stop = await this.#stop?.finished();
        const end: GroupEnd = { status, timedOut: this.#timedOut };
        return stop === undefined ? end : { ...end, stop };
      } finally {
        timer[Symbol.dispose]();
        unlisten();
      }
    })();
  }

  /**
   * Stops the group: SIGTERM now, SIGKILL at `killAt` (epoch ms); for a
   * stop under way, moves SIGKILL to `killAt` if that is sooner. Nothing is
   * started once the leader has ended, or when it is seen to have ended a
   * moment ago (a zombie, or reaped before its status reached us): its real
   * end stands.
   *
   * @returns Whether a stop is under way.
   */
  stop(killAt: number): boolean {
    if (this.#stop !== undefined) {
      this.#stop.hasten(killAt);
      return true;
    }
    if (this.#exited) return false;
    const info = readProcess(this.pid);
    procReadable ??= readProcess(Deno.pid) !== undefined;
    if (info === undefined ? procReadable : isEnded(info)) return false;
    this.#stop = new Stop(this.pid, this.#mark, killAt);
    return true;
  }

  /** Sends `signal` to the whole group, unless it has gone. */
  signal(signal: Deno.Signal): void {
    try {
      signalGroup(this.pid, signal);
    } catch {
      // The group has gone.
    }
  }
}

/** Starts `program` in a group of its own: see {@linkcode ProcessGroup}. */
export function startGroup(
  program: string,
  options: GroupOptions,
): ProcessGroup {
  return new ProcessGroup(program, options);
}

/**
 * A stop under way: SIGTERM now, SIGKILL at a deadline that can only move
 * earlier while it runs.
 */
class Stop {
  readonly #startedAt = Date.now();
  #killAt: number;
  readonly #escalate = new AbortController();
  #timer: Disposable | undefined;
  #over = false;
  readonly #done: Promise<GroupStop>;

  constructor(pid: number, mark: string | undefined, killAt: number) {
    this.#killAt = Math.max(killAt, this.#startedAt);
    const grace = Math.min(MAX_DURATION, this.#killAt - this.#startedAt);
    this.#done = stopGroup(pid, {
      grace,
      mark,
      escalate: this.#escalate.signal,
    })
      .then(
        (result) => ({ ...this.#times(), result }),
        (error) => ({ ...this.#times(), error }),
      );
  }

  #times(): { startedAt: number; killAt: number } {
    return { startedAt: this.#startedAt, killAt: this.#killAt };
  }

  hasten(killAt: number): void {
    // Once over, a timer set now would only keep this process alive.
    if (this.#over || killAt >= this.#killAt) return;
    const now = Date.now();
    this.#killAt = Math.max(killAt, now);
    this.#timer?.[Symbol.dispose]();
    this.#timer = undefined;
    if (this.#killAt <= now) this.#escalate.abort();
    else {
      this.#timer = scheduleTimeout(
        this.#killAt - now,
        () => this.#escalate.abort(),
      );
    }
  }

  async finished(): Promise<GroupStop> {
    try {
      return await this.#done;
    } finally {
      this.#over = true;
      this.#timer?.[Symbol.dispose]();
    }
  }
}
