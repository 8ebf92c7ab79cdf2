// Tests of the supervisor's last act, recording the job's end, when the disk
// will not take it: a real tmpfs filled to the last byte, a real worker that
// exits 3, and a real corrupt record.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FileJobStore } from "../jobs.ts";
import type { SpawnOptions } from "../detach.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { alive, mustSpawn, until } from "../testdata/spawn_helpers.ts";
import { waitForJob } from "../control.ts";

/** A worker that exits 3 once `trigger` exists. */
function exitsOn(trigger: string): SpawnOptions {
  return {
    command: "sh",
    args: ["-c", `while [ ! -e '${trigger}' ]; do sleep 0.05; done; exit 3`],
  };
}

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/**
 * Mounts a tmpfs of `size` on `dir` for `fn`, and unmounts it afterwards.
 * It fails loudly where it cannot mount (it needs root, as CI has): a skip
 * would hide that the rule went untested.
 */
async function withTmpfs(
  dir: string,
  size: string,
  fn: () => Promise<void>,
): Promise<void> {
  await Deno.mkdir(dir);
  const mounted = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${size},mode=0700`,
    "tmpfs",
    dir,
  ]);
  assert.equal(
    mounted.code,
    0,
    `this test mounts a small tmpfs to fill it, which needs root: mount failed: ${mounted.stderr}`,
  );
  try {
    await fn();
  } finally {
    // A process that still has a file open there (a supervisor a failed
    // test left behind) makes a plain unmount fail: detach it then.
    if ((await run("umount", [dir])).code !== 0) {
      await run("umount", ["-l", dir]);
    }
  }
}

/** Writes `path` until the file system is full. */
async function fill(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true });
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) await file.write(chunk);
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOSPC") throw err;
  } finally {
    file.close();
  }
}

Deno.test("a full disk at the job's end does not lose its exit code: readers see failed, exit 3, and the record says so once there is room", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const trigger = join(dir, "exit-now");
    await withTmpfs(jobsDir, "1m", async () => {
      const { jobId, pid } = await mustSpawn({
        ...exitsOn(trigger),
        store: jobsDir,
      });
      const store = new FileJobStore(jobsDir);
      const filler = join(jobsDir, "filler");
      try {
        const started = await until("the worker to start", async () => {
          const j = await store.load(jobId);
          return j.workerPid !== undefined ? j : undefined;
        });
        await fill(filler);
        await Deno.writeTextFile(trigger, "");
        await until("the worker to exit", () => !alive(started.workerPid!));
        // Long enough for a supervisor that gave up to be gone.
        await new Promise((r) => setTimeout(r, 1_500));
        // Its end is in its journal: a reader sees it, exact, though the
        // record cannot be written yet.
        const meanwhile = await store.load(jobId);
        assert.equal(
          meanwhile.status,
          "failed",
          `a job whose end is known must not read as lost: ${meanwhile.error}`,
        );
        assert.equal(meanwhile.exitCode, 3);
        assert.equal((await store.loadRecorded(jobId)).status, "running");
        assert.ok(alive(pid), "the supervisor is still there, retrying");

        const freed = Date.now();
        await Deno.remove(filler);
        const job = await waitForJob(jobId, {
          store: jobsDir,
          timeout: 15_000,
        });
        assert.equal(job.status, "failed");
        assert.equal(job.exitCode, 3);
        assert.equal(job.error, "Exited with code 3");
        await until("the supervisor to exit", () => !alive(pid));
        const recorded = await store.loadRecorded(jobId);
        assert.equal(recorded.status, "failed");
        assert.equal(recorded.exitCode, 3);
        // The end is dated when the worker ended, not when it could be
        // written (rule 4 of issue 20).
        const at = recorded.completedAt!.getTime();
        assert.ok(at < freed - 1_000, `ended at ${at}, room at ${freed}`);
      } finally {
        await Deno.remove(filler).catch(() => {});
        await Deno.writeTextFile(trigger, "").catch(() => {});
        await until("the supervisor to exit", () => !alive(pid), 10_000)
          .catch(() => Deno.kill(pid, "SIGKILL"));
      }
    });
  });
});

Deno.test("an end that cannot be recorded at all is told in the job's log: the supervisor's last words", async () => {
  await withTempDir(async (dir) => {
    const trigger = join(dir, "exit-now");
    const { jobId, pid } = await mustSpawn({
      ...exitsOn(trigger),
      store: dir,
    });
    const store = new FileJobStore(dir);
    try {
      const started = await until("the worker to start", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined ? j : undefined;
      });
      // The record is no longer a job's: no wait would make it writable,
      // so the supervisor says what it knew and ends.
      await Deno.writeTextFile(store.recordPath(jobId), "{ not json");
      await Deno.writeTextFile(trigger, "");
      await until("the supervisor to exit", () => !alive(pid));
      const log = await Deno.readTextFile(started.logPath);
      assert.match(
        log,
        /\[@epack\/detach supervisor\] The job's end \(failed, exit code 3, Exited with code 3\) could not be recorded: InvalidJobFileError/,
      );
    } finally {
      await Deno.writeTextFile(trigger, "").catch(() => {});
    }
  });
});
