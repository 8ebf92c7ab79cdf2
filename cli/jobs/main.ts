// The `jobs` command: list, show, follow, wait for, cancel, pause and clean
// background jobs, and set their parallel limit. It finds the subcommand,
// parses its flags, and loads only
// that subcommand's module; errors go to cli/main.ts's reporter.

import { JOB_STATUSES } from "../../jobs.ts";
import { openStore } from "../../store/open.ts";
import { chooseStore } from "../_store.ts";
import { CliError, EXIT } from "../_errors.ts";
import {
  type CliCommand,
  COMMON_FLAGS,
  firstPositional,
  type FlagSpecs,
  formatFlags,
  parseFlags,
} from "../_args.ts";
import { out } from "../_output.ts";
import { hint } from "../_hint.ts";
import type { JobsContext } from "./_context.ts";
import { MIN_REFERENCE_LENGTH } from "../../store/job_id.ts";
import { SHOW_TAIL_LINES } from "./show.ts";
import { WAIT_EXIT } from "./wait.ts";

const LIST: FlagSpecs = {
  all: {
    type: "boolean",
    short: "a",
    help: "List every job, not only those not ended",
  },
  status: {
    type: "string",
    value: "STATUS",
    help: `List jobs with this status:\n${JOB_STATUSES.join(", ")}`,
  },
  clean: {
    type: "boolean",
    help: "Remove ended jobs older than --older-than (default 24h)",
  },
  "older-than": {
    type: "string",
    value: "D",
    help: "With --clean: the age, such as 24h, 7d or 90m",
  },
};
const SPECS = {
  list: LIST,
  show: {},
  logs: {
    follow: {
      type: "boolean",
      short: "f",
      help: "Keep printing what the job writes until it ends",
    },
    lines: {
      type: "string",
      short: "n",
      value: "N",
      help: "Only the last N lines",
    },
  },
  wait: {
    timeout: {
      type: "string",
      value: "D",
      help: "Give up after D (such as 30s or 10m); 0 checks once",
    },
  },
  cancel: {
    grace: {
      type: "string",
      value: "D",
      help: "Time between SIGTERM and SIGKILL (default: the job's own)",
    },
  },
  pause: {},
  resume: {},
  clean: {
    "older-than": {
      type: "string",
      value: "D",
      help: "Only jobs that ended longer ago than D (default 24h)",
    },
  },
  report: {
    done: { type: "string", value: "N", help: "How much is done (0 or more)" },
    total: {
      type: "string",
      value: "N",
      help: "How much there is in all (at least --done)",
    },
    unit: {
      type: "string",
      value: "U",
      help: "What is counted: B for bytes, or a word such as files",
    },
    message: {
      type: "string",
      value: "TEXT",
      help: "A short note, one line (at most 200 characters)",
    },
    result: {
      type: "string",
      value: "JSON",
      help: "The job's result, a JSON object (at most 64 KiB)",
    },
  },
  limit: {},
} satisfies Record<string, FlagSpecs>;
type Sub = keyof typeof SPECS;
const ALL_FLAGS: FlagSpecs = Object.assign(
  {},
  COMMON_FLAGS,
  ...Object.values(SPECS),
);

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
    await out(helpOf(sub ?? "jobs"));
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
  };
  return await (await RUNNERS[sub ?? "jobs"]())(ctx);
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
  if (i < 0 || !Object.hasOwn(SPECS, args[i])) return { rest: args };
  return { sub: args[i] as Sub, rest: args.toSpliced(i, 1) };
}

function helpOf(sub: Sub | "jobs"): string {
  const options = (specs: FlagSpecs) =>
    `Options:\n${formatFlags({ ...specs, ...COMMON_FLAGS })}\n`;
  switch (sub) {
    case "jobs":
      return `List, inspect, follow, wait for, cancel, pause, limit and clean jobs.

Usage:
  epack jobs [--all | --status STATUS]   List jobs (not ended ones by default)
  epack jobs list [--all | --status S]   The same
  epack jobs <id>                        Show a job and the end of its log
  epack jobs logs <id> [-f] [-n N]       Print a job's log
  epack jobs wait <id> [--timeout D]     Wait for a job; exit with its code
  epack jobs cancel <id> [--grace D]     Stop a running job
  epack jobs pause <id>                  Stop a job's processes for now (SIGSTOP)
  epack jobs resume <id>                 Let a paused job go on (SIGCONT)
  epack jobs clean [--older-than D]      Remove old ended jobs
  epack jobs limit [N]                   Show or set how many jobs run at once
  epack jobs --clean                     Same as 'jobs clean'
  epack jobs report --done N [--total M] From inside a job: its progress
  epack jobs report --result JSON        From inside a job: its result

A job ID may be shortened to a unique prefix of ${MIN_REFERENCE_LENGTH} or more characters,
or to its last characters when no ID starts with them.
Run '${hint(["jobs"])} <subcommand> --help' for details.

${options(LIST)}
Examples:
  epack jobs --all
  epack jobs --status failed --json
  epack jobs 01JD0Q2V
`;
    case "list":
      return `List jobs (by default those not ended: waiting, queued, running, paused).

Usage:
  epack jobs list [--all | --status STATUS]

${options({ all: LIST.all, status: LIST.status })}`;
    case "show":
      return `Show a job's details and the last ${SHOW_TAIL_LINES} lines of its log.

Usage:
  epack jobs show <id>
  epack jobs <id>

${options({})}`;
    case "logs":
      return `Print a job's log.

Usage:
  epack jobs logs <id> [-f] [-n N]

${options(SPECS.logs)}
With --json, each line is printed as a JSON object {"line": "..."}.
If the log is truncated while followed, a warning says so on stderr and
the log is printed again from its start (as tail -F does).

Examples:
  epack jobs logs 01JD0Q2V -n 50
  epack jobs logs 01JD0Q2V -f
`;
    case "wait":
      return `Wait until a job ends, and exit with its exit code.

Usage:
  epack jobs wait <id> [--timeout D]

${options(SPECS.wait)}
Exit codes:
  0     the job completed
  N     the job failed with exit code N
  128+S the job was killed by signal S (137 for SIGKILL)
  ${WAIT_EXIT.TIMED_OUT}   the job timed out
  ${WAIT_EXIT.CANCELLED}   the job was cancelled
  1     the job was lost, or it could not start, or an error (see stderr)
  ${WAIT_EXIT.WAIT_TIMEOUT}    the wait ended first (--timeout passed, or Ctrl-C, SIGTERM or
        SIGHUP stopped the waiter); the job is still running
`;
    case "cancel":
      return `Cancel a running job: SIGTERM to its processes, SIGKILL after the grace
period. Cancelling a job that has ended does nothing.

Usage:
  epack jobs cancel <id> [--grace D]

${options(SPECS.cancel)}`;
    case "report":
      return `From inside a job (a worker's shell script): record the job's progress,
shown by 'epack jobs', or its result, shown by 'epack jobs <id>'. The job is
the one in $EPACK_DETACH_JOB_ID, its store $EPACK_DETACH_STORE; both are set
for every job's worker. Outside a job it checks the values and does nothing
(exit 0), so a script runs the same in the foreground. Each call writes
once: report every few seconds, not every line (the library throttles).

Usage:
  epack jobs report --done N [--total M] [--unit U] [--message TEXT]
  epack jobs report --result JSON

${options(SPECS.report)}
Examples:
  epack jobs report --done 3 --total 10 --unit files --message "copying a.txt"
  epack jobs report --done 123456789 --unit B
  epack jobs report --result '{"files": 10, "skipped": 0}'
`;
    case "pause":
      return `Pause a running job: SIGSTOP to its process group (and to its processes
that left the group), and status 'paused'. Its supervisor stays, and its
timeout keeps counting: a timeout or 'jobs cancel' while it is paused ends
it as usual. Pausing a paused job does nothing.

Usage:
  epack jobs pause <id>

${options(SPECS.pause)}
Exit codes:
  0     the job is paused (now, or it was already)
  1     it could not be paused: it is waiting or queued, has not started
        its worker yet, has ended (the message says how), is being
        stopped, or runs on another host (signals cannot reach it); or
        another error (see stderr)

Example:
  epack jobs pause 01JD0Q2V && epack jobs resume 01JD0Q2V
`;
    case "resume":
      return `Resume a paused job: SIGCONT to its process group (and to its processes
that left the group), and status 'running' again. Resuming a running job
does nothing.

Usage:
  epack jobs resume <id>

${options(SPECS.resume)}
Exit codes:
  0     the job runs (resumed now, or it was not paused)
  1     it could not be resumed: it is waiting or queued, has ended (a lost
        job's stopped processes are ended by 'jobs cancel'), or runs on
        another host; or another error (see stderr)
`;
    case "limit":
      return `Show or set the parallel limit of the jobs directory: how many of its
jobs run (or are paused) at once. Jobs started beyond it are queued, with no
process, and start in the order they were made (FIFO) as slots free. The
limit is kept in the file 'limit' beside the records, so it holds for every
process. A lower limit stops nothing that runs; it holds back what starts
next.

Usage:
  epack jobs limit        Show the limit, and how many jobs run, are queued
                          and wait for other jobs
  epack jobs limit N      Set it to N (1 to 100000); queued jobs start if
                          slots are free
  epack jobs limit 0      Remove it: every queued job starts

${options(SPECS.limit)}
A job can also wait for others: 'run --detach --after ID' (see 'run --help').
A PostgreSQL store (--store postgres://...) has no limit yet.

Examples:
  epack jobs limit 2
  epack jobs limit --json
`;
    case "clean":
      return `Remove ended jobs (records and logs). Running jobs are never removed.

Usage:
  epack jobs clean [--older-than D]

${options(SPECS.clean)}`;
  }
}
