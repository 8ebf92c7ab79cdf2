// The `jobs` command: list, show, follow, wait for, cancel, pause, remove,
// restart and clean background jobs, and set their parallel limit. It finds
// the subcommand, parses its flags, and loads only that subcommand's module;
// errors go to the CLI's one reporter (cli/_errors.ts).

import { openStore } from "../../store/open.ts";
import { chooseStore, OTHER_STORE } from "../_store.ts";
import { CliError, EXIT, usageError } from "../_errors.ts";
import {
  type CliCommand,
  COMMON_FLAGS,
  firstPositional,
  parseFlags,
} from "../_args.ts";
import { out } from "../_output.ts";
import type { JobsContext } from "./_context.ts";
import { JobNotFoundError } from "../../store/job_id.ts";
import { closest, SYNONYMS } from "../_suggest.ts";
import { ALL_FLAGS, JOBS_SUBCOMMANDS, SPECS, type Sub } from "./_specs.ts";

export { JOBS_SUBCOMMANDS };

type Runner = (ctx: JobsContext) => Promise<number>;
const list = () => import("./list.ts");
const act = () => import("./act.ts");
// Each subcommand's module, loaded only when it runs; its runner is the
// export named after the subcommand (`jobs` for bare `jobs` and `list`).
const MODULES: Record<Sub, () => Promise<unknown>> = {
  list,
  show: () => import("./show.ts"),
  logs: () => import("./logs.ts"),
  wait: () => import("./wait.ts"),
  cancel: act,
  pause: act,
  resume: act,
  rm: act,
  restart: () => import("./restart.ts"),
  clean: () => import("./clean.ts"),
  report: () => import("./report.ts"),
  limit: () => import("./limit.ts"),
};

/**
 * Runs `epack jobs ...` and returns the exit code; errors are thrown for
 * cli/main.ts to report.
 *
 * Requires `--allow-read` (the jobs directory and logs), `--allow-write`
 * (`clean`, `cancel`), `--allow-run` (`cancel`), and optionally
 * `--allow-env` (`NO_COLOR`).
 */
export async function jobsCommand(args: string[]): Promise<number> {
  const { sub, rest } = splitSubcommand(args);
  const command = sub === undefined ? "jobs" : `jobs ${sub}`;
  const { values, positionals } = parseFlags(
    rest,
    { ...SPECS[sub ?? "list"], ...COMMON_FLAGS },
    { command },
  );
  if (values.help === true) {
    await out((await import("./_help.ts")).helpOf(sub ?? "jobs"));
    return EXIT.OK;
  }
  const chosen = chooseStore(values);
  if (sub === "limit" && chosen.shared) {
    // Said before connecting: no server is needed to know it.
    throw new CliError(
      `jobs limit needs a store that can schedule (a jobs directory); ${chosen.name} cannot`,
    );
  }
  await using store = await openStore(chosen.name);
  // Starts the waiting and queued jobs that can start, should the process
  // that was to start them have died (`jobs limit` runs a pass of its own).
  if (sub !== "limit") {
    const { schedulePending } = await import("../../schedule/schedule.ts");
    await schedulePending(store);
  }
  const ctx: JobsContext = {
    command,
    values,
    positionals,
    json: values.json === true,
    store,
    storeName: chosen.name,
    carry: chosen.given ? { store: chosen.name } : {},
  };
  try {
    const mod = await MODULES[sub ?? "list"]() as Record<string, Runner>;
    return await mod[sub === undefined || sub === "list" ? "jobs" : sub](ctx);
  } catch (err) {
    if (!(err instanceof JobNotFoundError)) throw err;
    // `jobs stopp X`: a word that is no job may be a subcommand misspelt.
    const near = sub === undefined
      ? closest(positionals[0], JOBS_SUBCOMMANDS)
      : undefined;
    throw new CliError(
      `${err.message}${
        near === undefined
          ? `; ${OTHER_STORE}`
          : `; did you mean \`jobs ${near}\`?`
      }`,
      { cause: err },
    );
  }
}

/** `jobs` for cli/main.ts. */
export const JOBS: CliCommand = { run: jobsCommand, flags: ALL_FLAGS };

/**
 * Finds the subcommand: the first positional argument, wherever the options
 * are (`jobs --jobs-dir d wait X` works), if it names one. An ID that
 * happens to spell a subcommand can still be shown with `jobs show <id>`.
 */
function splitSubcommand(args: string[]): { sub?: Sub; rest: string[] } {
  const i = firstPositional(args, ALL_FLAGS);
  if (i >= 0 && Object.hasOwn(SPECS, args[i])) {
    return { sub: args[i] as Sub, rest: args.toSpliced(i, 1) };
  }
  // Bare `jobs <ref>` shows one job. Another tool's word for a subcommand
  // (`jobs stop X`), or more than one word, is not a job: the nearest
  // subcommand is suggested (`jobs show ls` shows a job named ls).
  const word = args[i];
  const more = i >= 0 && firstPositional(args.slice(i + 1), ALL_FLAGS) >= 0;
  if (i >= 0 && (more || Object.hasOwn(SYNONYMS, word))) {
    const near = closest(word, JOBS_SUBCOMMANDS);
    throw usageError(
      `Unknown subcommand ${JSON.stringify(word)}${
        near === undefined
          ? " (jobs <id> shows one job)"
          : `; did you mean \`jobs ${near}\`?`
      }`,
      "jobs",
    );
  }
  return { rest: args };
}
