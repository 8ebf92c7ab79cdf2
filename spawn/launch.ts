// How a job's supervisor is started, by spawn() or, for a job that starts
// later, by whichever process runs the scheduler; and the two files beside
// the records that say whether the scheduler has anything to do. Small on
// purpose: detach.ts loads it in every program, the scheduler only when
// these files say so.

import { join } from "../util/path.ts";
import { findExecutable } from "./which.ts";
import { granted } from "../util/permissions.ts";
import { quietLaunch } from "../process/signals.ts";

/** The argument that starts the program as a supervisor. Internal. */
export const SUPERVISE_ARG = "__epack_detach_supervise__";

/** Carries a database store's URL to the supervisor. Internal. */
export const SUPERVISOR_STORE_ENV = "EPACK_DETACH_SUPERVISOR_STORE";

/** The jobs directory's parallel limit: a whole number, in text. */
export const LIMIT_FILE = "limit";

/**
 * Present while some job of the directory may be `waiting` or `queued`:
 * set before such a job is created, and set or removed by each scheduler
 * pass, all under the scheduler lock, so it is never absent while one is.
 * Hidden, so no listing or clean takes it for a job's file.
 */
export const PENDING_FILE = ".pending";

/** The scheduler's lock: one pass at a time per jobs directory. */
export const SCHEDULE_LOCK_FILE = ".schedule.lock";

/** Whether the file `name` exists in `dir`. */
export function hasFile(dir: string, name: string): boolean {
  try {
    Deno.lstatSync(join(dir, name));
    return true;
  } catch (err) {
    // A path through a regular file has no such file either; whoever
    // writes there reports it.
    if (
      err instanceof Deno.errors.NotFound ||
      err instanceof Deno.errors.NotADirectory
    ) return false;
    throw err;
  }
}

/** The supervisor's cwd, and its environment (whole with `clearEnv`). */
type LaunchOptions = Pick<Deno.CommandOptions, "cwd" | "env" | "clearEnv">;

/**
 * Starts a job's supervisor, detached in its own session with no stdio,
 * and lets this process exit without waiting for it.
 *
 * On Linux it is started through util-linux's (or busybox's) `setsid`
 * program rather than with Deno's `detached: true`: for a detached child,
 * Rust's std must fork() the whole Deno process (its page tables: ~6 ms of
 * this process's time, more the more it has loaded) to call setsid() before
 * exec, while a plain child is started with posix_spawn (vfork). Such a
 * child is not a process-group leader, so `setsid prog` calls setsid() and
 * execs the supervisor in place: same PID, a new session (sid = pgid =
 * pid), as `detached: true` gives. See {@linkcode setsidProgram} for when
 * it is not used.
 *
 * A program that cannot be executed would then be setsid's exit 126 or 127,
 * after this function has returned; so the supervisor's program is looked
 * up first, and one that cannot run is refused here, with the error the
 * runtime gives when it cannot start a program. `store` is the jobs
 * directory, or `""` when the store's URL comes in the environment.
 *
 * @throws {Error} If it could not be started (the runtime's error, or
 * `Deno.errors.NotFound` or `Deno.errors.PermissionDenied` for a program
 * that cannot be executed).
 */
export function launchSupervisor(
  argv: readonly string[],
  store: string,
  id: string,
  options: LaunchOptions = {},
): Deno.ChildProcess {
  const setsid = setsidProgram(argv[0]);
  // With the signals that must never reach a supervisor blocked (SIGUSR1
  // would open Deno's inspector), through a program that then execs it.
  const quiet = quietLaunch(argv[0]);
  if (setsid !== undefined || quiet.length > 0) checkSupervisorProgram(argv[0]);
  const [program, ...args] = [
    ...(setsid === undefined ? [] : [setsid]),
    ...quiet,
    ...argv,
    SUPERVISE_ARG,
    store,
    id,
  ];
  const child = new Deno.Command(program, {
    // What follows setsid is absolute (setsidProgram() and quietLaunch()
    // say so), so no setsid takes it for an option of its own: no `--`,
    // which an old busybox setsid would run as the program.
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv ?? false,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: setsid === undefined,
  }).spawn();
  child.unref();
  return child;
}

/**
 * Set to `0` in the environment, makes {@linkcode launchSupervisor} start
 * supervisors with Deno's `detached: true` rather than through `setsid`.
 */
export const SETSID_ENV = "EPACK_DETACH_SETSID";

// Where util-linux (and busybox) install it; looked for once per process.
const SETSID_PATHS = ["/usr/bin/setsid", "/bin/setsid"];
let setsidFound: string | null | undefined;

/**
 * The `setsid` program to start `program` through, or `undefined` to start
 * it with `detached: true`: off Linux (macOS has none, and another system's
 * may mean something else), when {@linkcode SETSID_ENV} is `0`, when
 * `program` is not absolute or may not be read (to check that it can be
 * executed), when no executable `setsid` is at its usual paths or this
 * process may not run it, or when this Deno would kill the child at exit
 * (see {@linkcode unrefdChildOutlivesExit}).
 */
export function setsidProgram(program: string): string | undefined {
  if (Deno.build.os !== "linux" || !program.startsWith("/")) return undefined;
  if (!unrefdChildOutlivesExit(Deno.version.deno)) return undefined;
  if (!granted({ name: "read", path: program })) return undefined;
  if (granted({ name: "env", variable: SETSID_ENV })) {
    if (Deno.env.get(SETSID_ENV) === "0") return undefined;
  }
  if (setsidFound === undefined) {
    setsidFound = null;
    for (const path of SETSID_PATHS) {
      if (!granted({ name: "read", path })) continue;
      try {
        const info = Deno.statSync(path);
        if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) {
          setsidFound = path;
          break;
        }
      } catch {
        // Not there.
      }
    }
  }
  if (setsidFound === null) return undefined;
  return granted({ name: "run", command: setsidFound })
    ? setsidFound
    : undefined;
}

/**
 * Whether a Deno of this version lets a child that was not started with
 * `detached: true`, once `unref()`ed, outlive it. Up to 2.7.5, Deno sent
 * SIGKILL at exit to every such child (tokio's kill_on_drop), which would
 * kill a supervisor started through `setsid` as the spawner exits; 2.7.6
 * made `unref()` turn that off (tried here: 2.7.5 kills it, 2.7.6, 2.8.0
 * and 2.9.6 do not).
 */
export function unrefdChildOutlivesExit(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (m === null) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 2) return major > 2;
  return minor > 7 || (minor === 7 && patch >= 6);
}

/**
 * Refuses a supervisor program that cannot be executed, as the runtime
 * would have refused it with `detached: true`. Looked up as a shell does,
 * `#!` interpreter included.
 */
function checkSupervisorProgram(program: string): void {
  const found = findExecutable(program, { cwd: "/", path: "" });
  if (found.ok) return;
  switch (found.reason) {
    case "not_found":
      throw new Deno.errors.NotFound(`No such file: ${program}`);
    case "bad_interpreter":
      throw new Error(`bad interpreter ${found.interpreter}`);
    default:
      throw new Deno.errors.PermissionDenied(
        `Cannot execute ${program}: ${
          found.reason === "is_directory" ? "is a directory" : "no permission"
        }`,
      );
  }
}
