// End hooks, end to end: real jobs whose supervisor runs a real shell hook
// after the job's end is recorded. The hook's view of the job (its
// environment, its directory), its place in the log, its bound, and that it
// never changes the job's record.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FileJobStore } from "../jobs.ts";
import { cancel } from "../control.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import {
  alive,
  finalJob,
  mustSpawn,
  until,
} from "../testdata/spawn_helpers.ts";
import { HOOK_TIMEOUT_ENV, hookEnv } from "./hook.ts";
import type { Job } from "../store/job.ts";

/** The job's log once its supervisor (and so its hook) is done. */
async function logAfterHook(pid: number, job: Job): Promise<string> {
  await until("the supervisor to exit", () => !alive(pid));
  return await Deno.readTextFile(job.logPath);
}

Deno.test("the end hook sees the job's end in its environment, runs in the job's directory, and writes into the log, marked", async () => {
  await withTempDir(async (dir) => {
    const seen = join(dir, "seen");
    const hook = `env | grep '^EPACK_JOB_' | sort > '${seen}'; ` +
      `pwd >> '${seen}'; echo "hook says hi"`;
    const { jobId, pid } = await mustSpawn({
      command: "sh",
      args: ["-c", "echo worker; exit 3"],
      store: dir,
      workingDir: dir,
      onEnd: hook,
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "failed");
    const log = await logAfterHook(pid, job);
    assert.equal(
      await Deno.readTextFile(seen),
      [
        `EPACK_JOB_ERROR=Exited with code 3`,
        `EPACK_JOB_EXIT_CODE=3`,
        `EPACK_JOB_ID=${jobId}`,
        `EPACK_JOB_LOG=${job.logPath}`,
        `EPACK_JOB_STATUS=failed`,
        await Deno.realPath(dir),
      ].join("\n") + "\n",
    );
    assert.equal(
      log,
      `worker\n[@epack/detach] on-end hook: ${hook}\nhook says hi\n` +
        `[@epack/detach] on-end hook exited with code 0\n`,
    );
    // The hook changed nothing in the record but its claim, which says
    // when it started.
    const { onEndStartedAt: claimed, ...after } = await new FileJobStore(dir)
      .load(jobId);
    const { onEndStartedAt: _, ...before } = job;
    assert.ok(claimed instanceof Date);
    assert.deepEqual(after, before);
  });
});

Deno.test("the end hook of a job ended by a signal gets EPACK_JOB_SIGNAL, and no exit code", () => {
  const env = hookEnv({
    id: "job_1",
    command: "sleep",
    args: [],
    flags: [],
    status: "cancelled",
    pid: 1,
    startedAt: new Date(0),
    logPath: "/jobs/job_1.log",
    signal: "SIGTERM",
    error: "Cancelled",
  });
  assert.deepEqual(env, {
    EPACK_JOB_ID: "job_1",
    EPACK_JOB_STATUS: "cancelled",
    EPACK_JOB_LOG: "/jobs/job_1.log",
    EPACK_JOB_SIGNAL: "SIGTERM",
    EPACK_JOB_ERROR: "Cancelled",
  });
});

Deno.test("a hook that hangs is stopped within its bound, and the job keeps its status", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      command: "sh",
      // No newline at the end: the marker still starts a line of its own.
      args: ["-c", "printf done"],
      store: dir,
      onEnd: "echo hanging; sleep 60",
      env: { [HOOK_TIMEOUT_ENV]: "500ms" },
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "completed");
    const ended = Date.now();
    const log = await logAfterHook(pid, job);
    // Far below the hook's 60 s: a generous bound for a loaded machine.
    assert.ok(Date.now() - ended < 30_000, "stopped near its 500 ms bound");
    assert.equal(
      log,
      `done\n[@epack/detach] on-end hook: echo hanging; sleep 60\nhanging\n` +
        `[@epack/detach] on-end hook did not end within 500ms: stopped with SIGTERM\n`,
    );
    assert.equal((await new FileJobStore(dir).load(jobId)).status, "completed");
  });
});

Deno.test("a hook that ignores SIGTERM is killed after a grace no longer than its bound", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      command: "true",
      store: dir,
      onEnd: "trap '' TERM; sleep 60 & wait; wait",
      // Long enough for the shell to set its trap on a loaded machine.
      env: { [HOOK_TIMEOUT_ENV]: "1s" },
    });
    const job = await finalJob(dir, jobId);
    const ended = Date.now();
    const log = await logAfterHook(pid, job);
    assert.ok(Date.now() - ended < 30_000, "killed near 2 x 1 s");
    assert.match(
      log,
      /on-end hook did not end within 1s: stopped with SIGTERM, then SIGKILL\n$/,
    );
  });
});

Deno.test("a failing hook never changes the job's status", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      command: "true",
      store: dir,
      onEnd: "echo oops >&2; exit 7",
    });
    const job = await finalJob(dir, jobId);
    const log = await logAfterHook(pid, job);
    assert.match(
      log,
      /oops\n\[@epack\/detach\] on-end hook exited with code 7\n$/,
    );
    const after = await new FileJobStore(dir).load(jobId);
    assert.equal(after.status, "completed");
    assert.equal(after.exitCode, 0);
    assert.equal(after.error, undefined);
  });
});

Deno.test("the end is recorded before the hook runs, and a cancel then does not stop the hook", async () => {
  await withTempDir(async (dir) => {
    const go = join(dir, "go");
    const { jobId, pid } = await mustSpawn({
      command: "true",
      store: dir,
      onEnd: `while [ ! -e '${go}' ]; do sleep 0.05; done; echo survived`,
    });
    // Final while the hook still waits: `jobs wait` does not wait for it.
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "completed");
    assert.ok(alive(pid), "the supervisor is still running the hook");
    const r = await cancel(jobId, { store: dir });
    assert.equal(r.outcome, "already-ended");
    // Even a signal to the supervisor itself leaves the hook be.
    Deno.kill(pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(alive(pid), "the supervisor waits for the hook");
    await Deno.writeTextFile(go, "");
    const log = await logAfterHook(pid, job);
    assert.match(
      log,
      /survived\n\[@epack\/detach\] on-end hook exited with code 0\n$/,
    );
    assert.equal((await new FileJobStore(dir).load(jobId)).status, "completed");
  });
});

Deno.test("a retried job runs its hook once, after its last attempt", async () => {
  await withTempDir(async (dir) => {
    const runs = join(dir, "hook-runs");
    const { jobId, pid } = await mustSpawn({
      command: "sh",
      args: ["-c", "exit 4"],
      store: dir,
      retries: 2,
      retryDelay: 20,
      onEnd: `echo "$EPACK_JOB_STATUS $EPACK_JOB_EXIT_CODE" >> '${runs}'`,
    });
    const job = await finalJob(dir, jobId);
    await logAfterHook(pid, job);
    assert.equal(job.attempts?.length, 3);
    assert.equal(await Deno.readTextFile(runs), "failed 4\n");
  });
});

Deno.test("the hook of a job started from another job does not carry that job's mark", async () => {
  await withTempDir(async (dir) => {
    const seen = join(dir, "seen");
    // As spawn({ allowNested: true }) from a worker: the supervisor has
    // the outer job's mark in its environment.
    const { jobId, pid } = await mustSpawn({
      command: "true",
      store: dir,
      env: { EPACK_DETACH_JOB_ID: "01OUTERJOBOUTERJOBOUTERJOB" },
      allowNested: true,
      onEnd: `env | grep '^EPACK_DETACH_JOB_ID=' > '${seen}'; true`,
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "completed");
    await logAfterHook(pid, job);
    // Not the outer job's processes (a cancel of it would stop the hook),
    // nor a job a report or a spawn from the hook would take it for.
    assert.equal(await Deno.readTextFile(seen), "");
  });
});
