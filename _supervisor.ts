// The job's supervisor: the long-lived part of every job. It holds the job's
// liveness lock for its whole life, runs the worker with its output going
// straight to the log file, stops the worker's process group at the timeout
// or on cancel, and records how the job ended.

import { spawn as spawnChild } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { type Job, type JobStatus, JobStore } from "./jobs.ts";
import {
  DEFAULT_KILL_GRACE,
  readProcess,
  scheduleTimeout,
  stopProcessGroup,
} from "./timeout.ts";
import { formatDuration } from "./duration.ts";

type Exit = { code: number | null; signal: string | null };

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
  // The kernel writes the worker's output to the log itself: nothing passes
  // through JavaScript, so the log is byte-exact and as fast as a redirect.
  const logFd = openSync(job.logPath, "a", 0o600);
  let child;
  try {
    child = spawnChild(argv[0], argv.slice(1), {
      cwd: job.workingDir,
      stdio: ["ignore", logFd, logFd],
      // Its own session and process group, so the whole group can be
      // signalled without touching the supervisor.
      detached: true,
    });
  } catch (err) {
    closeSync(logFd);
    await startFailed(store, job, err);
    return;
  }
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", reject);
  });
  const started = await new Promise<Error | undefined>((resolve) => {
    child.once("spawn", () => resolve(undefined));
    child.once("error", (err) => resolve(err));
  });
  if (started !== undefined) {
    exited.catch(() => {});
    closeSync(logFd);
    await startFailed(store, job, started);
    return;
  }
  closeSync(logFd);
  const pid = child.pid!;
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

  let exit: Exit;
  try {
    exit = await exited;
  } finally {
    for (const [signal, fn] of listeners) Deno.removeSignalListener(signal, fn);
  }
  const ended = {
    ...(exit.code !== null ? { exitCode: exit.code } : {}),
    ...(exit.signal !== null ? { signal: exit.signal } : {}),
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
  if (exit.code === 0) {
    await store.complete(job.id, ended);
  } else {
    await store.finish(job.id, {
      status: "failed",
      error: exit.signal !== null
        ? `Killed by ${exit.signal}`
        : `Exited with code ${exit.code}`,
      ...ended,
    });
  }
}

async function startFailed(store: JobStore, job: Job, err: unknown) {
  const code = (err as { code?: string }).code;
  const program = job.argv?.[0] ?? "";
  const message = code === "ENOENT"
    ? `Cannot start ${program}: command not found`
    : code === "EACCES"
    ? `Cannot start ${program}: permission denied`
    : `Cannot start ${program}: ${(err as Error)?.message ?? String(err)}`;
  try {
    const fd = openSync(job.logPath, "a", 0o600);
    writeSync(fd, new TextEncoder().encode(message + "\n"));
    closeSync(fd);
  } catch {
    // The record still says what happened.
  }
  await store.fail(job.id, message);
}
