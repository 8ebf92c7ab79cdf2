// The `run` command: any program, in the foreground with its exit code
// passed through (in a process group of its own, as a job's worker), or as
// a job.

import { resolve } from "../util/path.ts";
import { formatDuration } from "../duration.ts";
import { DEFAULT_KILL_GRACE } from "../timeout.ts";
import { type ProcessGroup, startGroup } from "../process/group.ts";
import { ignoreQuietSignals } from "../process/signals.ts";
import { assertPosix } from "../process/platform.ts";
import { describeLookupFailure, findExecutable } from "../spawn/which.ts";
import { CliError, EXIT, usageError } from "./_errors.ts";
import {
  type CliCommand,
  COMMON_FLAGS,
  type FlagSpecs,
  formatFlags,
  parseFlags,
} from "./_args.ts";
import { JOB_FLAGS, parseJobFlags, startJob, STORE_FLAGS } from "./_detach.ts";
import type { JobControlOptions } from "../store/job.ts";
import { chooseStore } from "./_store.ts";

/** Exit codes of `run` besides the program's own. */
const RUN_EXIT = {
  /** The program ran past --timeout (as coreutils `timeout`). */
  TIMED_OUT: 124,
  /** The program was found but could not be started. */
  CANNOT_EXECUTE: 126,
  /** The program was not found. */
  NOT_FOUND: 127,
} as const;

/** A parsed `run` command line. */
interface RunCommand {
  help: boolean;
  program: string;
  args: string[];
  detach: boolean;
  json: boolean;
  /** The time limit in milliseconds, if given (0 for none). */
  timeout?: number;
  /** With --detach: the job's other options (--retry, --after, ...). */
  control: JobControlOptions;
  /** The flags as given (the store's, `--cwd`). */
  values: Record<string, string | boolean>;
}

const RUN_FLAGS: FlagSpecs = {
  ...JOB_FLAGS,
  timeout: {
    ...JOB_FLAGS.timeout,
    help: "Stop the program after D (such as 90s, 30m, 2h):\n" +
      `SIGTERM, then SIGKILL ${
        formatDuration(DEFAULT_KILL_GRACE)
      } later. In the foreground\n` +
      "there is no limit by default; a job's default is 24h;\n0 means none",
  },
  detach: {
    type: "boolean",
    short: "d",
    help: "Run it as a background job and return at once",
  },
  json: { ...COMMON_FLAGS.json, help: "With --detach: print the job as JSON" },
  ...STORE_FLAGS,
};

/** The help of `epack run`: built only when asked for. */
export function runHelp(): string {
  return `Run a program, in the foreground or as a background job.

Usage: epack run [options] [--] <program> [args...]

Flags for epack come before the program; everything from the program on is
the program's own (put -- before it if its name starts with -).

Options:
${formatFlags(RUN_FLAGS)}

Exit codes in the foreground: the program's own; 128+N if signal N ended
it; 124 if it ran past --timeout; 126 if it could not be executed; 127 if
it was not found; 1 for bad usage.

Examples:
  epack run -- make test
  epack run --timeout 30m -- ./scripts/backup.sh --full
  epack run --detach -- rsync -a src/ dest/`;
}

/** Parses the arguments of `epack run`; a usage error for bad ones. */
export function parseRunArgs(args: readonly string[]): RunCommand {
  const parsed = parseFlags(args, RUN_FLAGS, {
    command: "run",
    stopAtPositional: true,
  });
  const { values, positionals: [program = "", ...rest] } = parsed;
  const command: RunCommand = {
    help: values.help === true,
    program,
    args: rest,
    detach: values.detach === true,
    json: values.json === true,
    control: {},
    values,
  };
  if (command.help) return command;
  if (program === "") {
    throw usageError(
      "Missing the program to run (epack run -- <program>)",
      "run",
    );
  }
  const { timeout, ...control } = parseJobFlags(
    parsed,
    "run",
    command.detach,
    true,
  );
  if (timeout !== undefined) command.timeout = timeout;
  command.control = control;
  return command;
}

/** Runs `epack run`: the exit code, the program's or a RUN_EXIT. */
async function runCommand(args: readonly string[]): Promise<number> {
  const command = parseRunArgs(args);
  if (command.help) {
    console.log(runHelp());
    return EXIT.OK;
  }
  // As `cd DIR && program`; epack's own paths from here.
  const cwd = resolve(String(command.values.cwd ?? "."));
  if (command.detach) {
    // spawn() looks the program up, and words its failures.
    const chosen = chooseStore(command.values);
    return await startJob({
      command: command.program,
      args: command.args,
      workingDir: cwd,
      store: chosen.name,
      carry: chosen.given ? { store: chosen.name } : {},
      json: command.json,
      ...(command.timeout !== undefined ? { timeout: command.timeout } : {}),
      ...command.control,
    });
  }
  checkDir(cwd);
  checkProgram(command.program, cwd);
  assertPosix("run");
  return await runForeground(command, cwd);
}

/** A `--cwd` that is not a directory is said as such, not as "not found". */
function checkDir(dir: string): void {
  let isDir = false;
  try {
    isDir = Deno.statSync(dir).isDirectory;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return;
  }
  if (!isDir) throw new CliError(`--cwd ${dir}: missing or not a directory`);
}

/** `run` for cli/main.ts. */
export const RUN: CliCommand = {
  run: runCommand,
  flags: RUN_FLAGS,
  stopAtPositional: true,
};

/**
 * Runs the program in its own process group, so that a time limit or a
 * SIGTERM to epack stops all it started. What the terminal sends (Ctrl-C,
 * Ctrl-\, a hang-up) reaches epack, which passes it on, and SIGUSR1 and
 * SIGUSR2 (dd reports on them); other signals that would end Deno are
 * ignored.
 */
async function runForeground(
  command: RunCommand,
  cwd: string,
): Promise<number> {
  const forward: Deno.Signal[] = [
    "SIGINT",
    "SIGHUP",
    "SIGQUIT",
    "SIGUSR1",
    "SIGUSR2",
  ];
  using _quiet = ignoreQuietSignals(forward);
  let group: ProcessGroup;
  try {
    group = startGroup(command.program, {
      args: command.args,
      cwd,
      stdio: "inherit",
      timeout: command.timeout,
      grace: DEFAULT_KILL_GRACE,
      forward,
      stopOn: ["SIGTERM"],
    });
  } catch (err) {
    throw cannotRun(command.program, err);
  }
  // Awaited whole: what the program started may outlive it.
  const { status, timedOut } = await group.ended;
  if (timedOut) {
    throw new CliError(
      `${command.program} timed out after ${
        formatDuration(command.timeout ?? 0)
      } and was stopped`,
      { exitCode: RUN_EXIT.TIMED_OUT },
    );
  }
  // Deno reports a death by signal N as code 128+N, as shells do.
  return status.code;
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
 * Checks that the program can be executed, with spawn()'s lookup and words
 * (Deno calls a script whose interpreter is missing "not found"); without
 * the permissions to look, cannotRun() words the spawn's error.
 */
function checkProgram(program: string, cwd: string): void {
  let path: string;
  try {
    path = Deno.env.get("PATH") ?? "";
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable && !program.includes("/")) return;
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    path = "";
  }
  let found;
  try {
    found = findExecutable(program, { cwd, path });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return;
    throw err;
  }
  if (found.ok) return;
  const { message, exitCode } = describeLookupFailure(program, found);
  throw new CliError(message, { exitCode });
}
