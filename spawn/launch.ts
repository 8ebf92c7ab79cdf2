// How a job's supervisor is started, by spawn() or by whichever process
// runs the scheduler; and the files beside the records that say whether the
// scheduler has anything to do. Small on purpose: every spawning program
// loads it, the scheduler only when these files say so.

import type { Job } from "../store/job.ts";
import type { JobStore } from "../store/contract.ts";
import { STORE_ENV } from "../store/env.ts";
import { livenessPath } from "../store/liveness.ts";
import { journalLine, writeJournal } from "../store/journal.ts";
import {
  renewalDue,
  renewalDueAfter,
  renewalStuckAfter,
  renewerLock,
} from "../store/pg_lease.ts";
import { SUPERVISOR_START_GRACE_MS } from "../store/rules.ts";
import {
  DEFAULT_KILL_GRACE,
  DEFAULT_RETRY_DELAY,
  retryPause,
} from "../store/job_options.ts";
import { formatDuration } from "../duration.ts";
import { join } from "../util/path.ts";
import { describeLookupFailure, findExecutable, gone } from "./which.ts";
import { granted, readEnv } from "../util/permissions.ts";
import { quietLaunch, signalName, unquietLaunch } from "../process/signals.ts";
import { shimFile } from "../supervise/shim_file.ts";
import { currentRuntime, PACKAGE_ENTRIES, selfArgv } from "./argv.ts";

/** The argument that starts the program as a supervisor. */
export const SUPERVISE_ARG = "__epack_detach_supervise__";

/** Carries a database store's URL to the supervisor. */
export const SUPERVISOR_STORE_ENV = "EPACK_DETACH_SUPERVISOR_STORE";

/** The jobs directory's parallel limit: a whole number, in text. */
export const LIMIT_FILE = "limit";

/**
 * Present while some job may be `waiting` or `queued`: set before such a
 * job is created, set or removed by each scheduler pass, all under the
 * scheduler lock. Hidden, so no listing or clean takes it for a job's.
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
    // A path through a file has none either; whoever writes there says so.
    if (gone(err)) return false;
    throw err;
  }
}

/** How {@linkcode launchSupervisor} starts a job's supervisor. */
export interface LaunchOptions
  extends Pick<Deno.CommandOptions, "cwd" | "env" | "clearEnv"> {
  /** The job waited: its shim runs it only once {@linkcode openGate}. */
  gate?: boolean;
}

/** Set to `0`, jobs get the Deno supervisor, not the shim (for tests). */
export const SHIM_ENV = "EPACK_DETACH_SHIM";

/** The perl that runs the shim: the system's, never one found on PATH. */
const PERL = "/usr/bin/perl";

/**
 * The number of the setsid system call, which perl makes without loading
 * POSIX (a module costs the shim memory; in the worker's child, time).
 */
const SETSID_SYSCALL: Record<string, number> = {
  "x86_64-linux": 112,
  "aarch64-linux": 157,
  "x86_64-darwin": 147,
  "aarch64-darwin": 147,
};

/**
 * Starts a job's supervisor in its own session with no stdio, not waited
 * for: the perl shim where perl can run, else the Deno supervisor `argv`,
 * once the job's plan is in its journal `<id>.live` (docs/design.md, "How a
 * job runs"). The Deno program (the shim's finisher) is checked first, so
 * one that cannot run is refused here, not later.
 *
 * @throws {Error} The runtime's, or NotFound / PermissionDenied.
 */
export function launchSupervisor(
  argv: readonly string[],
  store: JobStore,
  job: Job,
  options: LaunchOptions = {},
): Deno.ChildProcess {
  checkSupervisorProgram(argv[0]);
  const shared = store.capabilities.sharedByHosts;
  const spec = store.reopenSpec();
  // A database's URL holds credentials: never on a command line.
  const storeArg = shared ? "" : spec;
  const deno = [
    ...quietLaunch(argv[0]),
    ...argv,
    SUPERVISE_ARG,
    storeArg,
    job.id,
  ];
  const live = livenessPath(store, job.id);
  const shim = useShim();
  writeJournal(live, planText(store, job, deno, argv, options.gate));
  const program = shim
    ? [...unquietLaunch(), PERL, shimFile(store.localDir), live]
    : deno;
  const child = startDetached(program, {
    ...options,
    // The shim's environment is its worker's and its finisher's: the store
    // is the worker's default store.
    env: {
      ...options.env,
      ...(shim ? { [STORE_ENV]: spec } : {}),
      ...(shared && !shim ? { [SUPERVISOR_STORE_ENV]: spec } : {}),
    },
  });
  if (shared) ensureRenewer(store, argv);
  return child;
}

/** Starts `program` in a session of its own, not waited for. */
function startDetached(
  program: string[],
  options: Pick<Deno.CommandOptions, "cwd" | "env" | "clearEnv">,
): Deno.ChildProcess {
  const setsid = setsidProgram(program[0]);
  const child = new Deno.Command(setsid ?? program[0], {
    // What follows setsid is absolute, so no setsid takes it for an option:
    // no `--`, which an old busybox setsid would run as the program.
    args: setsid === undefined ? program.slice(1) : program,
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

/** Whether jobs are supervised by the perl shim here. */
function useShim(): boolean {
  if (Deno.build.os === "windows" || readEnv(SHIM_ENV) === "0") return false;
  if (!granted({ name: "run", command: PERL })) return false;
  try {
    return Deno.statSync(PERL).isFile;
  } catch {
    return false;
  }
}

/**
 * The job's plan, the first lines of its journal: what its shim needs,
 * every rule applied here (retry pauses, start grace), so none is written
 * twice.
 */
function planText(
  store: JobStore,
  job: Job,
  deno: string[],
  argv: readonly string[],
  gate: boolean | undefined,
): string {
  const retries = job.retries ?? 0;
  const delay = job.retryDelay ?? DEFAULT_RETRY_DELAY;
  const pauses = Array.from({ length: retries }, (_, i) => {
    const ms = retryPause(delay, i + 1);
    return `${ms}:${formatDuration(ms)}`;
  });
  const started = job.status === "running"
    ? job.startedAt.getTime()
    : Date.now();
  const signals = Array.from({ length: 32 }, (_, n) => signalName(n) ?? "-");
  const lines: [string, ...(string | number)[]][] = [
    ["id", job.id],
    ["argv", ...job.argv ?? []],
    ["cwd", job.workingDir ?? "/"],
    // Made from the ID, never taken from a record (a row can be forged).
    ["log", store.logPath(job.id)],
    ["timeout", job.timeout ?? 0],
    ["grace", job.grace ?? DEFAULT_KILL_GRACE],
    ["pauses", ...pauses],
    ["late", started + SUPERVISOR_START_GRACE_MS],
    ["finish", ...deno, "--finish"],
    ["fallback", ...deno],
    ["sig", ...signals],
  ];
  const setsid = SETSID_SYSCALL[`${Deno.build.arch}-${Deno.build.os}`];
  if (setsid !== undefined) lines.push(["setsid", setsid]);
  if (job.logMax !== undefined) lines.push(["logmax", job.logMax]);
  if (store.capabilities.sharedByHosts) {
    // The lease's renewal passes, started by the shim when one is due.
    const lock = renewerLock(store.localDir, store.host ?? "");
    lines.push([
      "renew",
      lock,
      `${lock}.state`,
      renewalDueAfter(store.renewEvery),
      renewalStuckAfter(store.renewEvery),
      ...renewerCommand(argv),
    ]);
  }
  if (gate) lines.push(["gate"]);
  return "V 1\n" +
    lines.map(([key, ...v]) => journalLine("P", [key, ...v])).join("");
}

/** Tells a gated shim to run its job: the record says `running` now. */
export function openGate(store: JobStore, id: string): void {
  writeJournal(livenessPath(store, id), "G\n", true);
}

/**
 * Starts the finisher of a job that ended before it started (cancelled
 * while waiting or queued, or never startable), if it has an end hook not
 * yet claimed: the finisher claims it (exactly once, whoever else tries)
 * and runs it, as for a job that ran. Started with the job's own
 * supervisor command, else this package's; best effort, never throws.
 */
export function finishUnstarted(store: JobStore, job: Job): void {
  if (job.onEnd === undefined || job.onEndStartedAt !== undefined) return;
  const argv = job.supervisorArgv?.length ? job.supervisorArgv : renewerArgv();
  if (argv === undefined) return;
  const shared = store.capabilities.sharedByHosts;
  try {
    const spec = store.reopenSpec();
    startDetached(
      [
        ...quietLaunch(argv[0]),
        ...argv,
        SUPERVISE_ARG,
        shared ? "" : spec,
        job.id,
        "--finish",
      ],
      { env: shared ? { [SUPERVISOR_STORE_ENV]: spec } : {} },
    );
  } catch {
    // No permission to start it, or no such program: the hook is lost,
    // as the job's own start would have been.
  }
}

/**
 * Starts a pass of this host's PostgreSQL renewer (store/pg_lease.ts) when
 * one is due and none runs: a Deno supervisor and the holders of a job do
 * it every period ({@linkcode keepRenewing}; the shim from perl), spawn(),
 * every finisher and every `jobs` command when they run. Best effort: a
 * host where none can start lets its leases lapse (other hosts then show
 * its jobs lost); no end is lost.
 *
 * @param argv How to start the Deno supervisor; by default this package's
 * `_supervise.ts`, none from a compiled binary (only its own spawns and
 * finishers know it can supervise).
 */
export function ensureRenewer(
  store: JobStore,
  argv?: readonly string[],
): void {
  // Asked first: the argv costs permission queries (~4 ms of every `jobs`).
  if (!store.capabilities.sharedByHosts) return;
  argv ??= renewerArgv();
  if (argv === undefined) return;
  try {
    if (!renewalDue(store)) return;
    startDetached(renewerCommand(argv), {
      env: { [SUPERVISOR_STORE_ENV]: store.reopenSpec() },
    });
  } catch {
    // No permission to start it, or no such program: leases lapse.
  }
}

/**
 * Calls {@linkcode ensureRenewer} every renewal period while a job is held
 * by this process; dispose to stop. Nothing for a store without leases.
 */
export function keepRenewing(
  store: JobStore,
  argv?: readonly string[],
): Disposable {
  if (!store.capabilities.sharedByHosts) return { [Symbol.dispose]() {} };
  ensureRenewer(store, argv);
  const timer = setInterval(
    () => ensureRenewer(store, argv),
    Math.max(100, renewalDueAfter(store.renewEvery)),
  );
  Deno.unrefTimer(timer);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}

/** The command line of a renewal pass, started by `argv`'s Deno. */
function renewerCommand(argv: readonly string[]): string[] {
  return [...quietLaunch(argv[0]), ...argv, SUPERVISE_ARG, "", "", "--renew"];
}

/**
 * How this process starts a renewer ({@linkcode ensureRenewer}): this
 * package's own supervisor module; none from a compiled binary, which only
 * its own spawns and finishers know can supervise.
 */
function renewerArgv(): string[] | undefined {
  const facts = currentRuntime();
  if (facts.standalone) return undefined;
  return selfArgv({ ...facts, mainModule: PACKAGE_ENTRIES.supervisor });
}

/** Set to `0`, supervisors start with `detached: true`, not `setsid`. */
export const SETSID_ENV = "EPACK_DETACH_SETSID";

// Where util-linux (and busybox) install it; looked for once per process.
const SETSID_PATHS = ["/usr/bin/setsid", "/bin/setsid"];
let setsidFound: string | null | undefined;

/**
 * The `setsid` to start `program` through, or `undefined` for `detached:
 * true`: off Linux (another system's may mean something else), with
 * {@linkcode SETSID_ENV} `0`, for a `program` not absolute or not readable,
 * with no executable `setsid` this process may run, or when this Deno would
 * kill the child at exit ({@linkcode unrefdChildOutlivesExit}).
 */
export function setsidProgram(program: string): string | undefined {
  if (Deno.build.os !== "linux" || !program.startsWith("/")) return undefined;
  if (!unrefdChildOutlivesExit(Deno.version.deno)) return undefined;
  if (!granted({ name: "read", path: program })) return undefined;
  const env = { name: "env", variable: SETSID_ENV } as const;
  if (granted(env) && readEnv(SETSID_ENV) === "0") return undefined;
  setsidFound ??= SETSID_PATHS.find((path) =>
    granted({ name: "read", path }) &&
    findExecutable(path, { cwd: "/", path: "" }).ok
  ) ?? null;
  return setsidFound !== null && granted({ name: "run", command: setsidFound })
    ? setsidFound
    : undefined;
}

/**
 * Whether a child not started `detached`, once `unref()`ed, outlives this
 * Deno. Up to 2.7.5 Deno sent SIGKILL at exit to every such child (tokio's
 * kill_on_drop); 2.7.6 made `unref()` turn that off (tried: 2.7.5 kills
 * it, 2.7.6, 2.8.0 and 2.9.6 do not).
 */
export function unrefdChildOutlivesExit(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (m === null) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 2) return major > 2;
  return minor > 7 || (minor === 7 && patch >= 6);
}

/** Refuses a supervisor program that cannot be executed, as a shell. */
function checkSupervisorProgram(program: string): void {
  const found = findExecutable(program, { cwd: "/", path: "" });
  if (found.ok) return;
  if (found.reason === "not_found") {
    throw new Deno.errors.NotFound(`No such file: ${program}`);
  }
  if (found.reason === "bad_interpreter") {
    throw new Error(`bad interpreter ${found.interpreter}`);
  }
  const { message } = describeLookupFailure(program, found);
  throw new Deno.errors.PermissionDenied(message);
}
