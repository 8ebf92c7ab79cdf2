// The `run` command: any program, in the foreground with its exit code
// passed through, or as a job.

import { delimiter, join, resolve } from "node:path";
import { defaultJobsDir, findWorkingDir } from "./detach.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { DEFAULT_KILL_GRACE, scheduleTimeout } from "./timeout.ts";
import { CliError, EXIT, usageError } from "./_cli_util.ts";
import { type FlagSpecs, parseFlags } from "./_cli_args.ts";
import { startJob } from "./_detached.ts";

/** Exit codes of `run` besides the program's own. */
export const RUN_EXIT = {
  /** The program ran past --timeout (as coreutils `timeout`). */
  TIMED_OUT: 124,
  /** The program was found but could not be started. */
  CANNOT_EXECUTE: 126,
  /** The program was not found. */
  NOT_FOUND: 127,
} as const;

/** A parsed `run` command line. */
export interface RunCommand {
  /** `--help` was given. */
  help: boolean;
  /** The program. */
  program: string;
  /** Its arguments. */
  args: string[];
  /** Run it as a job. */
  detach: boolean;
  /** Machine-readable output (for --detach and errors). */
  json: boolean;
  /** The time limit in milliseconds, if given (0 for none). */
  timeout?: number;
  /** The jobs directory, as given. */
  jobsDir?: string;
}

const RUN_FLAGS: FlagSpecs = {
  timeout: { type: "string" },
  detach: { type: "boolean", short: "d" },
  json: { type: "boolean" },
  "jobs-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
};

/** The help of `epack run`. */
export const RUN_HELP =
  `Run a program, in the foreground or as a background job.

Usage: epack run [options] [--] <program> [args...]

Flags for epack come before the program; everything from the program on is
the program's own (put -- before it if its name starts with -).

Options:
  --timeout D         Stop the program after D (such as 90s, 30m, 2h):
                      SIGTERM, then SIGKILL ${
    formatDuration(DEFAULT_KILL_GRACE)
  } later. In the foreground
                      there is no limit by default; a job's default is 24h;
                      0 means none
  -d, --detach        Run it as a background job and return at once
  --json              With --detach: print the job as JSON on stdout
  --jobs-dir DIR      The jobs directory (with --detach;
                      default: <project>/.epack/jobs)
  -h, --help          Show this help

Exit codes in the foreground: the program's own; 128+N if signal N ended
it; 124 if it ran past --timeout; 126 if it could not be executed; 127 if
it was not found; 1 for bad usage.

Examples:
  epack run -- make test
  epack run --timeout 30m -- ./scripts/backup.sh --full
  epack run --detach -- rsync -a src/ dest/`;

/**
 * Parses the arguments of `epack run` (after the word `run`).
 *
 * @param args The arguments.
 * @returns The command.
 * @throws {CliError} A usage error for anything it cannot accept.
 */
export function parseRunArgs(args: readonly string[]): RunCommand {
  const { values, positionals } = parseFlags(args, RUN_FLAGS, {
    command: "run",
    stopAtPositional: true,
  });
  const command: RunCommand = {
    help: values.help === true,
    program: "",
    args: [],
    detach: values.detach === true,
    json: values.json === true,
  };
  if (command.help) return command;
  const [program, ...rest] = positionals;
  if (program === undefined || program === "") {
    throw usageError(
      "Missing the program to run (epack run -- <program>)",
      "run",
    );
  }
  command.program = program;
  command.args = rest;
  if (typeof values.timeout === "string") {
    try {
      command.timeout = parseDuration(values.timeout);
    } catch (err) {
      throw usageError(`--timeout: ${(err as Error).message}`, "run");
    }
  }
  if (typeof values["jobs-dir"] === "string" && values["jobs-dir"] !== "") {
    command.jobsDir = values["jobs-dir"];
  }
  return command;
}

/**
 * Runs `epack run`.
 *
 * Requires `--allow-run`; with `--detach`, also `--allow-read`,
 * `--allow-write` and `--allow-env`.
 *
 * @param args The arguments after `run`.
 * @returns The exit code: the program's, or one of {@linkcode RUN_EXIT}.
 * @throws {CliError} For bad usage and programs that cannot be run.
 */
export async function runCommand(args: readonly string[]): Promise<number> {
  const command = parseRunArgs(args);
  if (command.help) {
    console.log(RUN_HELP);
    return EXIT.OK;
  }
  if (command.detach) {
    const cwd = Deno.cwd();
    checkProgram(command.program, cwd);
    const workingDir = findWorkingDir(cwd);
    // The job runs in the project's directory: a program named by a
    // relative path must still be the one meant here.
    const program = command.program.includes("/")
      ? resolve(cwd, command.program)
      : command.program;
    const jobsDir = command.jobsDir !== undefined
      ? resolve(cwd, command.jobsDir)
      : defaultJobsDir(workingDir);
    return await startJob({
      program,
      args: command.args,
      workingDir,
      jobsDir,
      jobsDirGiven: command.jobsDir !== undefined,
      json: command.json,
      ...(command.timeout !== undefined ? { timeout: command.timeout } : {}),
    });
  }
  return await runForeground(command);
}

async function runForeground(command: RunCommand): Promise<number> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command.program, {
      args: command.args,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (err) {
    throw cannotRun(command.program, err);
  }
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // It has already exited.
    }
  };
  // Ctrl-C reaches the program from the terminal itself; epack waits for it
  // to finish and passes its exit code on. Signals sent to epack alone are
  // passed to the program.
  const onInterrupt = () => {};
  const forward = ["SIGTERM", "SIGHUP"] as const;
  const forwarders = forward.map((sig) => [sig, () => kill(sig)] as const);
  Deno.addSignalListener("SIGINT", onInterrupt);
  for (const [sig, fn] of forwarders) Deno.addSignalListener(sig, fn);
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const limit = command.timeout ?? 0;
  const timer = scheduleTimeout(limit, () => {
    timedOut = true;
    kill("SIGTERM");
    killTimer = setTimeout(() => kill("SIGKILL"), DEFAULT_KILL_GRACE);
  });
  try {
    const status = await child.status;
    if (timedOut) {
      throw new CliError(
        `${command.program} timed out after ${
          formatDuration(limit)
        } and was stopped`,
        { exitCode: RUN_EXIT.TIMED_OUT },
      );
    }
    // Deno reports a death by signal N as code 128+N, as shells do.
    return status.code;
  } finally {
    timer[Symbol.dispose]();
    if (killTimer !== undefined) clearTimeout(killTimer);
    Deno.removeSignalListener("SIGINT", onInterrupt);
    for (const [sig, fn] of forwarders) Deno.removeSignalListener(sig, fn);
  }
}

function cannotRun(program: string, err: unknown): CliError {
  if (err instanceof Deno.errors.NotFound) {
    return new CliError(`Command not found: ${program}`, {
      exitCode: RUN_EXIT.NOT_FOUND,
    });
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new CliError(`Cannot execute ${program}: permission denied`, {
      exitCode: RUN_EXIT.CANNOT_EXECUTE,
    });
  }
  if (err instanceof Deno.errors.NotCapable) {
    return new CliError(
      `Cannot run ${program}: Deno's --allow-run permission is missing`,
    );
  }
  return new CliError(
    `Cannot run ${program}: ${
      err instanceof Error ? err.message.split("\n")[0] : String(err)
    }`,
    { exitCode: RUN_EXIT.CANNOT_EXECUTE },
  );
}

/**
 * Checks, before a job is recorded, that the program exists and is
 * executable, so `run --detach` fails here (with 127 or 126) rather than
 * in a job's log.
 */
function checkProgram(program: string, cwd: string): void {
  let path = "";
  try {
    path = Deno.env.get("PATH") ?? "";
  } catch {
    // Without --allow-env, only paths with a "/" can be checked.
  }
  const candidates = program.includes("/")
    ? [resolve(cwd, program)]
    : path.split(delimiter).filter((d) => d !== "").map((d) =>
      join(d, program)
    );
  let found = false;
  for (const candidate of candidates) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(candidate);
    } catch {
      continue;
    }
    if (!info.isFile) continue;
    found = true;
    if (info.mode === null || (info.mode & 0o111) !== 0) return;
  }
  throw found
    ? new CliError(`Cannot execute ${program}: permission denied`, {
      exitCode: RUN_EXIT.CANNOT_EXECUTE,
    })
    : new CliError(`Command not found: ${program}`, {
      exitCode: RUN_EXIT.NOT_FOUND,
    });
}
