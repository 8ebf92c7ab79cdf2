// The job's supervisor: the long-lived part of every job. It holds the job's
// liveness lock for its whole life, runs the worker with its output going
// straight to the log file, stops the worker's process group at the timeout
// or on cancel, and records how the job ended.

import { type Job, type JobStatus, JobStore } from "./jobs.ts";
import {
  DEFAULT_KILL_GRACE,
  readProcess,
  scheduleTimeout,
  stopProcessGroup,
} from "./timeout.ts";
import { formatDuration } from "./duration.ts";

/**
 * Supervises one job to its end. Returns the supervisor's exit code: 0 when
 * the job's end was recorded, 1 when it could not even be started.
 */
export async function runSupervisor(
  jobsDir: string,
  id: string,
): Promise<number> {
  const store = new JobStore(jobsDir);
  let lease: AsyncDisposable;
  try {
    lease = await store.holdLiveness(id);
  } catch {
    // No record to write to (bad ID, record gone, directory unwritable):
    // readers will see the job as lost once the start grace has passed.
    return 1;
  }
  try {
    const job = await store.loadRecorded(id);
    if (job.status !== "running") return 0;
    if (job.cancelRequestedAt !== undefined) {
      await store.finish(id, {
        status: "cancelled",
        error: "Cancelled before it started",
      });
      return 0;
    }
    await supervise(store, job);
    return 0;
  } catch (err) {
    await store.fail(id, `Supervisor error: ${String(err)}`).catch(() => {});
    return 1;
  } finally {
    await lease[Symbol.asyncDispose]();
  }
}

async function supervise(store: JobStore, job: Job): Promise<void> {
  const argv = job.argv ?? [];
  if (argv.length === 0) {
    await store.fail(job.id, "The job's record has no command line to run");
    return;
  }
  // The worker's output goes to the log through a shell redirect: the kernel
  // writes it, nothing passes through JavaScript, so the log is byte-exact
  // and as fast as `cmd > file`. The shell execs the worker, so the worker
  // keeps the shell's PID, and with it the process group we stop.
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("/bin/sh", {
      args: ["-c", 'exec "$@" >>"$0" 2>&1', job.logPath, ...argv],
      cwd: job.workingDir,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      // Its own session and process group, so the whole group can be
      // signalled without touching the supervisor.
      detached: true,
    }).spawn();
  } catch (err) {
    await startFailed(store, job, err);
    return;
  }
  const pid = child.pid;
  await store.update(job.id, (j) => {
    j.workerPid = pid;
    const ticks = readProcess(pid)?.startTicks;
    if (ticks !== undefined) j.workerStartTicks = ticks;
    return j;
  });

  // Set once, by the first of timeout or cancel.
  const state: {
    stopping?: { status: JobStatus; error: string; done: Promise<string> };
  } = {};
  const stop = (status: JobStatus, error: string, grace: number) => {
    if (state.stopping !== undefined) return;
    state.stopping = {
      status,
      error,
      done: stopProcessGroup(pid, { grace }).then(
        (r) =>
          r.killed
            ? `; still running ${
              formatDuration(grace)
            } after SIGTERM, so killed with SIGKILL`
            : "; stopped with SIGTERM",
        (err) => `; stopping it failed: ${String(err)}`,
      ),
    };
  };

  const timeout = job.timeout ?? 0;
  using _timer = scheduleTimeout(timeout, () => {
    stop(
      "timed_out",
      `Timed out: ran past its timeout of ${formatDuration(timeout)}`,
      job.grace ?? DEFAULT_KILL_GRACE,
    );
  });

  const onSignal = (signal: Deno.Signal) => async () => {
    // cancel() records its request and its grace before it signals us.
    const current = await store.loadRecorded(job.id).catch(() => job);
    const error = current.cancelRequestedAt !== undefined
      ? "Cancelled"
      : `Cancelled: the supervisor received ${signal}`;
    stop("cancelled", error, current.grace ?? job.grace ?? DEFAULT_KILL_GRACE);
  };
  const listeners: [Deno.Signal, () => void][] = [];
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    const fn = onSignal(signal);
    Deno.addSignalListener(signal, fn);
    listeners.push([signal, fn]);
  }

  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    for (const [signal, fn] of listeners) Deno.removeSignalListener(signal, fn);
  }
  const ended = {
    ...(status.signal === null ? { exitCode: status.code } : {}),
    ...(status.signal !== null ? { signal: status.signal } : {}),
  };
  const stopped = state.stopping;
  if (stopped !== undefined) {
    // Leftover grandchildren get the rest of the escalation before the end
    // is recorded, so "timed out" means nothing of the job is still running.
    const how = await stopped.done;
    await store.finish(job.id, {
      status: stopped.status,
      error: stopped.error + how,
      ...ended,
    });
    return;
  }
  if (status.success) {
    await store.complete(job.id, ended);
  } else {
    await store.finish(job.id, {
      status: "failed",
      error: status.signal !== null
        ? `Killed by ${status.signal}`
        : exitMessage(status.code, argv[0]),
      ...ended,
    });
  }
}

// 126 and 127 are the shell's own codes for a program it could not run.
function exitMessage(code: number, program: string): string {
  if (code === 127) {
    return `Exited with code 127: ${program}: command not found`;
  }
  if (code === 126) {
    return `Exited with code 126: ${program}: permission denied or not executable`;
  }
  return `Exited with code ${code}`;
}

async function startFailed(store: JobStore, job: Job, err: unknown) {
  const message = `Cannot start the job's shell /bin/sh: ${String(err)}`;
  try {
    await Deno.writeTextFile(job.logPath, message + "\n", { append: true });
  } catch {
    // The record still says what happened.
  }
  await store.fail(job.id, message);
}
