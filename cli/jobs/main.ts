// The `jobs` command: finds the subcommand, parses its flags, opens the
// store, and loads only that subcommand's module.

import { openStore } from "../../store/open.ts";
import { chooseStore, OTHER_STORE } from "../_store.ts";
import { CliError, EXIT, usageError } from "../_errors.ts";
import {
  type CliCommand,
  COMMON_FLAGS,
  firstPositional,
  parseFlags,
} from "../_args.ts";
import { out, safe, warn } from "../_output.ts";
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
  clean: list,
  report: () => import("./report.ts"),
  limit: () => import("./limit.ts"),
};

/** Runs `epack jobs ...`; errors are thrown for cli/main.ts to report. */
async function jobsCommand(args: string[]): Promise<number> {
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
    throw new CliError(
      `jobs limit needs a store that can schedule (a jobs directory); ${chosen.name} cannot`,
    );
  }
  await using store = await openStore(chosen.name);
  // Starts the jobs that can start, should their starter have died (`jobs
  // limit` runs a pass of its own).
  if (sub !== "limit") {
    const { schedulePending } = await import("../../schedule/schedule.ts");
    // A listing reads every record anyway: its pass goes without the
    // pending marker, which puts a deleted one back.
    const lists = sub === "list" || (sub === undefined && !positionals.length);
    const warning = await schedulePending(store, lists);
    if (warning !== undefined) await warn(`warning: ${safe(warning)}`);
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
 * Finds the subcommand: the first positional argument, wherever the
 * options are, if it names one (`jobs show <id>` shows a job named so).
 */
function splitSubcommand(args: string[]): { sub?: Sub; rest: string[] } {
  const i = firstPositional(args, ALL_FLAGS);
  if (i >= 0 && Object.hasOwn(SPECS, args[i])) {
    return { sub: args[i] as Sub, rest: args.toSpliced(i, 1) };
  }
  // Bare `jobs <ref>` shows one job; another tool's word for a subcommand
  // (`jobs stop X`), or more than one word, gets a suggestion.
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
