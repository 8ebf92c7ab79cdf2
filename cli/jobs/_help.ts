// The help of `jobs` and of each subcommand, loaded only for `--help`.

import { COMMON_FLAGS, type FlagSpecs, formatFlags } from "../_args.ts";
import { hint } from "../_hint.ts";
import { MIN_REFERENCE_LENGTH } from "../../store/job_id.ts";
import { LIST, SPECS, type Sub } from "./_specs.ts";
import { SHOW_TAIL_LINES } from "./show.ts";
import { WAIT_EXIT } from "./wait.ts";

/** The help text of `jobs` (`sub` "jobs") or of one subcommand. */
export function helpOf(sub: Sub | "jobs"): string {
  const options = (specs: FlagSpecs) =>
    `Options:\n${formatFlags({ ...specs, ...COMMON_FLAGS })}\n`;
  switch (sub) {
    case "jobs":
      return `List, inspect, follow, wait for, cancel, pause, remove, restart, limit
and clean jobs.

Usage:
  epack jobs [--all | --status STATUS]   List jobs (not ended ones by default)
  epack jobs list [--all | --status S]   The same
  epack jobs <job>                       Show a job and the end of its log
  epack jobs show <job>                  The same
  epack jobs logs <job> [-f] [-n N]      Print a job's log
  epack jobs wait <job>... [--timeout D] Wait for jobs; exit with their code
  epack jobs cancel <job>... [--grace D] Stop running jobs
  epack jobs pause <job>...              Stop jobs' processes for now (SIGSTOP)
  epack jobs resume <job>...             Let paused jobs go on (SIGCONT)
  epack jobs rm <job>...                 Remove ended jobs, with their logs
  epack jobs restart <job>               Run an ended job again, as a new job
  epack jobs clean [--older-than D]      Remove old ended jobs
  epack jobs limit [N]                   Show or set how many jobs run at once
  epack jobs --clean                     Same as 'jobs clean'
  epack jobs report --done N [--total M] From inside a job: its progress
  epack jobs report --result JSON        From inside a job: its result

<job> is a job's ID, its name (the newest job of that name), or a unique
prefix or suffix of its ID of ${MIN_REFERENCE_LENGTH} or more characters.
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
  epack jobs show <job>
  epack jobs <job>

${options({})}`;
    case "logs":
      return `Print a job's log.

Usage:
  epack jobs logs <job> [-f] [-n N]

${options(SPECS.logs)}
With --json, each line is printed as a JSON object {"line": "..."}.
If the log is truncated while followed, a warning says so on stderr and
the log is printed again from its start (as tail -F does).

Examples:
  epack jobs logs 01JD0Q2V -n 50
  epack jobs logs 01JD0Q2V -f
`;
    case "wait":
      return `Wait until jobs end, and exit with the exit code of the first one that
did not complete (0 if all did). Each is reported as it is waited for, in
the order given; --timeout bounds the whole wait.

Usage:
  epack jobs wait <job>... [--timeout D]

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
      return `Cancel running jobs: SIGTERM to their processes, SIGKILL after the grace
period. Cancelling a job that has ended does nothing. Several jobs are
cancelled one after the other.

Usage:
  epack jobs cancel <job>... [--grace D]

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
      return `Pause running jobs: SIGSTOP to each one's process group (and to its
processes that left it), and status 'paused'. The timeout keeps counting: a
timeout or 'jobs cancel' ends a paused job as usual. Pausing a paused job
does nothing.

Usage:
  epack jobs pause <job>...

${options(SPECS.pause)}
Exit codes: 0 paused (now, or already); 1 not paused: waiting, queued, not
started, ended, being stopped, or on another host (the message says which).
`;
    case "resume":
      return `Resume paused jobs: SIGCONT to each one's process group (and to its
processes that left it), and status 'running' again. Resuming a running job
does nothing.

Usage:
  epack jobs resume <job>...

${options(SPECS.resume)}
Exit codes: 0 running (resumed now, or not paused); 1 not resumed: waiting,
queued, ended (a lost job's processes are stopped by 'jobs cancel'), or on
another host.
`;
    case "limit":
      return `Show or set the parallel limit of the jobs directory: how many of its
jobs run (or are paused) at once. Jobs beyond it are queued, with no
process, and start in the order they were made (FIFO) as slots free. A lower
limit stops nothing that runs. (A PostgreSQL store has no limit yet.)

Usage:
  epack jobs limit        Show it, and how many jobs run, are queued, wait
  epack jobs limit N      Set it to N (1 to 100000); queued jobs may start
  epack jobs limit 0      Remove it: every queued job starts

${options(SPECS.limit)}`;
    case "rm":
      return `Remove ended jobs: their records and logs. A job that has not ended is
refused, with the command that stops it; so is a lost job whose processes
still run, and a job that a waiting job runs after.

Usage:
  epack jobs rm <job>...

${options(SPECS.rm)}
Exit codes: 0 every job removed; 1 one was refused or not found (the others
are still removed).
`;
    case "restart":
      return `Run an ended job again, as a new job: the same command, arguments and
working directory, and the same options (timeout, grace, retries, retry
delay, on-end hook, log cap, name; not --after). The new job's record says
which job it re-runs (restart_of). A job that has not ended is refused.

Usage:
  epack jobs restart <job>

${options(SPECS.restart)}`;
    case "clean":
      return `Remove ended jobs (records and logs). Running jobs are never removed.

Usage:
  epack jobs clean [--older-than D]

${options(SPECS.clean)}`;
  }
}
