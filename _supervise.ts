// The supervisor's own entry module. A job of this package's CLI has its
// supervisor started as `deno run <flags> _supervise.ts __epack_detach_supervise__
// <jobs dir> <id>` rather than through mod.ts (spawn/argv.ts supervisorArgv()),
// so the process that lives as long as the job loads only what supervising
// needs: mod.ts's graph cost every supervisor about 2 MiB of private memory
// (bench/measure.ts). A program that spawn()s its own jobs, and a compiled
// binary, run themselves again instead, and get here through
// superviseIfRequested() (detach.ts).
//
// No module may import this one statically. As the main module it awaits
// the job at its top level, so its evaluation never completes; a module
// that imports it and is loaded meanwhile (the scheduler's, which imports
// detach.ts, loaded at the job's end) would wait for it for ever.

import { SUPERVISE_ARG, SUPERVISOR_STORE_ENV } from "./spawn/launch.ts";
import { STORE_ENV } from "./store/env.ts";
import { StopSignals } from "./supervise/stop_signals.ts";

/**
 * Plays the part for a job that `args` names, then exits the process with
 * its code: `__epack_detach_supervise__ <jobs dir> <id> [--finish |
 * --renew]`, the jobs directory empty when the store's URL comes in the
 * environment. Without a role, it is the job's Deno supervisor (where the
 * perl shim cannot run); `--finish`, the finisher the shim runs at the
 * job's end; `--renew`, a PostgreSQL host's renewer.
 *
 * @param args The program's arguments, the supervisor's marker first.
 */
export async function supervise(args: readonly string[]): Promise<never> {
  // Caught before anything else is loaded: a SIGTERM to the PID that spawn()
  // printed must not end the supervisor before it has held the job.
  using signals = new StopSignals();
  const [, jobsDir, id, role] = args;
  // A database URL comes in the environment, not the command line, which
  // every user of the machine can read; the worker must not inherit it.
  let store = jobsDir ?? "";
  if (store === "") {
    store = Deno.env.get(SUPERVISOR_STORE_ENV) ?? Deno.env.get(STORE_ENV) ??
      "";
    Deno.env.delete(SUPERVISOR_STORE_ENV);
  }
  const { runSupervisor } = await import("./supervise/supervisor.ts");
  // Nobody waits on a supervisor: a job's end is worth a longer wait for a
  // record's lock than a command's answer is (store/durable.ts).
  (await import("./store/durable.ts")).setLockWait(60_000);
  Deno.exit(
    await runSupervisor(
      store,
      id ?? "",
      signals,
      role === "--finish" ? "finish" : role === "--renew" ? "renew" : undefined,
    ),
  );
}

if (import.meta.main) {
  if (Deno.args[0] === SUPERVISE_ARG) await supervise(Deno.args);
  console.error(
    "This module starts the supervisor of an @epack/detach job; spawn() runs it, not people.",
  );
  Deno.exit(2);
}
