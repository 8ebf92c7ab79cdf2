// The `epack` command line: `pull`, `run` and `jobs`, run by this module as
// the program's entry (`deno run -A cli/main.ts`, what the installed command
// runs: it loads only the command's modules) or by mod.ts (which loads the
// whole library first). Every failure is one line on stderr (`error: ...`),
// for usage errors with a hint to run `--help`; never a stack trace.

import {
  type CliCommand,
  COMMON_FLAGS,
  formatFlags,
  wantsJson,
} from "./_args.ts";
import { CliError, EXIT, reportError } from "./_errors.ts";
import { hint } from "./_hint.ts";
import { ignoreQuietSignals } from "../process/signals.ts";
import { markSupervisorHook } from "../spawn/argv.ts";

/**
 * The CLI's version. Kept here rather than read from deno.json so the
 * published module needs no JSON import; a test checks the two agree.
 */
export const VERSION = "0.1.0";

/** The help of `epack` itself, naming the CLI as `epack` (for tests). */
export function epackHelp(): string {
  return helpText("epack");
}

/**
 * The help of `epack` itself, its last line naming the CLI as `self` (so
 * the hint there works when pasted).
 */
function helpText(self: string): string {
  return `epack ${VERSION}: run command-line operations as detached background jobs

Usage: epack <command> [options]${
    self === "epack" ? "" : `\n('epack' here stands for '${self}')`
  }

Commands:
  pull <remote> [ref]         Download a pack from a registry
  run [options] -- <program>  Run a program, in the foreground or as a job
  jobs                        List, inspect, follow, wait for, stop, remove, re-run jobs
  help [command]              Show help

Options every command takes:
${formatFlags(COMMON_FLAGS)}

${formatFlags({ version: { type: "boolean", help: "Print epack's version" } })}

Colour is used only on a terminal, and never when NO_COLOR is set.

Exit codes: 0 success; 1 failure or bad usage; 2 a pulled pack did not
verify. A foreground run passes on its program's code (128+N for signal N,
124 on --timeout, 126 cannot execute, 127 not found).

Run '${self} <command> --help' for a command's options.`;
}

// Each command's modules are loaded only when it runs, through a specifier
// Deno cannot read ahead: a literal `import()` puts the module's whole graph
// in every start's reading (~10 ms: bench/startup.ts). mod.ts names them
// literally, so `deno compile mod.ts` and `deno publish` still see them.
const load = (path: string) => import(new URL(path, import.meta.url).href);
const COMMANDS: Record<string, () => Promise<CliCommand>> = {
  pull: async () =>
    ((await load("pull/pull.ts")) as typeof import("./pull/pull.ts")).PULL,
  run: async () => ((await load("run.ts")) as typeof import("./run.ts")).RUN,
  jobs: async () => (await jobsModule()).JOBS,
};

async function jobsModule(): Promise<typeof import("./jobs/main.ts")> {
  return await load("jobs/main.ts");
}

/**
 * Runs the CLI on `args` and returns its exit code. Every error is caught
 * and reported on stderr as one line (and, with `--json`, as a JSON object
 * on stdout).
 */
export async function main(args: string[]): Promise<number> {
  // A `jobs wait` or `jobs logs -f` may wait for hours: signals nobody
  // means as a stop must not end it (SIGQUIT, a terminal's Ctrl-\, does).
  // SIGPROF is V8's own under --cpu-prof: listening for it kills the
  // profiled CLI.
  using _quiet = ignoreQuietSignals(["SIGQUIT", "SIGPROF"]);
  let json = false;
  // A rejection nobody awaited would otherwise end the program with a stack.
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    reportError(event.reason, json);
    Deno.exit(EXIT.FAILURE);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  try {
    return await dispatch(args, (on) => json = on);
  } catch (err) {
    // A reader that went away (`epack pull ... | head`) is not a failure.
    if (err instanceof Deno.errors.BrokenPipe) return EXIT.OK;
    // An interrupted pull exits 128+N, as shells report a signal death.
    // Re-raising the signal would not be reliable: once Deno has listened
    // for a signal, its handler stays installed and may swallow it.
    return reportError(err, json);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onRejection);
  }
}

async function dispatch(
  args: string[],
  setJson: (on: boolean) => void,
): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined) {
    throw new CliError("Missing a command (pull, run or jobs)", { usage: "" });
  }
  if (first === "--help" || first === "-h") {
    console.log(helpText(hint([])));
    return EXIT.OK;
  }
  if (first === "help") {
    if (rest.length === 0) {
      console.log(helpText(hint([])));
      return EXIT.OK;
    }
    return await (await lookup(rest[0])).run(["--help"]);
  }
  if (first === "--version" || first === "-V") {
    console.log(
      args.includes("--json")
        ? JSON.stringify({ version: VERSION })
        : `epack ${VERSION}`,
    );
    return EXIT.OK;
  }
  if (first.startsWith("-")) {
    setJson(wantsJson(args, COMMON_FLAGS));
    throw new CliError(
      `Unknown option before the command: ${first} (put it after the command)`,
      { usage: "" },
    );
  }
  // An unknown command's error is JSON too if --json is among its words.
  setJson(wantsJson(rest, COMMON_FLAGS));
  const command = await lookup(first);
  setJson(wantsJson(rest, command.flags, command.stopAtPositional));
  return await command.run(rest);
}

async function lookup(name: string): Promise<CliCommand> {
  if (Object.hasOwn(COMMANDS, name)) return await COMMANDS[name]();
  // A subcommand of `jobs` (or another tool's word for one) typed as a
  // command is suggested as that subcommand.
  const { JOBS_SUBCOMMANDS } = await jobsModule();
  const { closest } = await import("./_suggest.ts");
  const sub = closest(name, JOBS_SUBCOMMANDS);
  const near = closest(name, [...Object.keys(COMMANDS), "help"]);
  const hint = sub === name || (sub !== undefined && near === undefined)
    ? `jobs ${sub}`
    : near;
  throw new CliError(
    `Unknown command: ${JSON.stringify(name)}${
      hint === undefined ? "" : `; did you mean \`${hint}\`?`
    }`,
    { usage: "" },
  );
}

if (import.meta.main) {
  // The CLI's jobs are supervised by _supervise.ts (spawn/argv.ts), never
  // by this module, so nothing here needs superviseIfRequested()'s import.
  markSupervisorHook();
  Deno.exit(await main(Deno.args));
}
