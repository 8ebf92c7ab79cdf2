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
import { out, safe, warn } from "../_output.ts";
import type { JobsContext } from "./_context.ts";
import { JobNotFoundError } from "../../store/job_id.ts";
import { closest, SYNONYMS } from "../_suggest.ts";
import { ALL_FLAGS, JOBS_SUBCOMMANDS, SPECS, type Sub } from "./_specs.ts";

export { JOBS_SUBCOMMANDS };

// Each subcommand's module is loaded only when it runs.
const RUNNERS: Record<
  Sub | "jobs",
  () => Promise<(ctx: JobsContext) => Promise<number>>
> = {
  jobs: async () => (await import("./list.ts")).jobs,
  list: async () => (await import("./list.ts")).jobs,
  show: async () => (await import("./show.ts")).show,
  logs: async () => (await import("./logs.ts")).logs,
  wait: async () => (await import("./wait.ts")).wait,
  cancel: async () => (await import("./cancel.ts")).cancelJob,
  pause: async () => (await import("./pause.ts")).pauseJob,
  resume: async () => (await import("./pause.ts")).resumeJob,
  rm: async () => (await import("./rm.ts")).rm,
  restart: async () => (await import("./restart.ts")).restart,
  clean: async () => (await import("./clean.ts")).clean,
  report: async () => (await import("./report.ts")).report,
  limit: async () => (await import("./limit.ts")).limit,
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
    return await (await RUNNERS[sub ?? "jobs"]())(ctx);
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
