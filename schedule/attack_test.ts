// Hostile cases of the scheduler, with real processes: a limit file that
// holds something else than a limit, a clean that runs while jobs wait, a
// pause that comes between two attempts of a retried job.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FileJobStore } from "../jobs.ts";
import { pause } from "../control/pause.ts";
import {
  cli,
  MOD,
  watchesFiles,
  withTempDir,
} from "../testdata/cli_helpers.ts";
import {
  finalJob,
  mustSpawn,
  spawnJob,
  until,
} from "../testdata/spawn_helpers.ts";

const names = (dir: string) =>
  [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("a limit file that is not a limit: spawn() is refused and leaves no record that would start later", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    assert.equal(
      (await cli(["jobs", "limit", "1", "--jobs-dir", jobsDir])).code,
      0,
    );
    await Deno.writeTextFile(join(jobsDir, "limit"), "garbage\n");
    const before = names(jobsDir);
    const r = await spawnJob({ command: "true", store: jobsDir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid parallel limit/);
    // Nothing recorded: a job the caller was told failed must never run.
    assert.deepEqual(
      names(jobsDir).filter((n) => !n.startsWith(".")),
      before.filter((n) => !n.startsWith(".")),
    );
    assert.equal((await new FileJobStore(jobsDir).list()).jobs.length, 0);
  });
});

Deno.test("a limit file that is a FIFO or a device: refused at once, nothing hangs", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    await Deno.mkdir(jobsDir);
    const fifo = await new Deno.Command("mkfifo", {
      args: [join(jobsDir, "limit")],
    }).output();
    assert.ok(fifo.success);
    const started = Date.now();
    let r = await cli(["jobs", "limit", "--jobs-dir", jobsDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid parallel limit/);
    const s = await spawnJob({ command: "true", store: jobsDir });
    assert.equal(s.code, 1);
    assert.match(s.stderr, /Invalid parallel limit/);
    await Deno.remove(join(jobsDir, "limit"));
    await Deno.symlink("/dev/zero", join(jobsDir, "limit"));
    r = await cli(["jobs", "limit", "--jobs-dir", jobsDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid parallel limit/);
    assert.ok(Date.now() - started < 20_000, "took too long");
    // Setting it again repairs it.
    r = await cli(["jobs", "limit", "2", "--jobs-dir", jobsDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(jobsDir, "limit")), "2\n");
  });
});

Deno.test("jobs clean keeps an ended job that a waiting job runs after, so --after-ok still sees it completed", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const a = await mustSpawn({ command: "true", store: jobsDir });
    assert.equal((await finalJob(jobsDir, a.jobId)).status, "completed");
    // c runs until the test opens its gate: the clean below must come
    // while c (and so b) has not ended, however slow the machine.
    const gate = join(dir, "gate");
    const c = await mustSpawn({
      command: "sh",
      args: ["-c", 'while [ ! -e "$0" ]; do sleep 0.05; done', gate],
      store: jobsDir,
    });
    const b = await mustSpawn({
      command: "true",
      store: jobsDir,
      after: [a.jobId, c.jobId],
      afterOk: true,
    });
    const r = await cli([
      "jobs",
      "clean",
      "--older-than",
      "0s",
      "--jobs-dir",
      jobsDir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    await Deno.writeTextFile(gate, "");
    const ended = await finalJob(jobsDir, b.jobId);
    assert.equal(ended.status, "completed", ended.error);
    // Once nothing waits for it, it goes like any other.
    await cli(["jobs", "clean", "--older-than", "0s", "--jobs-dir", jobsDir]);
    const left = (await new FileJobStore(jobsDir).list()).jobs.map((j) => j.id);
    assert.deepEqual(left, []);
  });
});

Deno.test("pause() between two attempts of a retried job says so, not that the job is ending", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const { jobId } = await mustSpawn({
      command: "sh",
      args: ["-c", "exit 3"],
      store: jobsDir,
      retries: 1,
      retryDelay: 3_000,
    });
    const store = new FileJobStore(jobsDir);
    await until("the first attempt ended", async () => {
      const j = await store.load(jobId);
      // The first attempt is in the record from its start: wait for its
      // end to be recorded too, which is when the pause between begins.
      return j.attempts?.[0]?.endedAt !== undefined && j.status === "running"
        ? true
        : undefined;
    });
    await assert.rejects(
      () => pause(jobId, { store: jobsDir }),
      /between attempts/,
    );
    assert.equal((await finalJob(jobsDir, jobId)).status, "failed");
  });
});

Deno.test("jobs wait on a waiting job starts it when the job it runs after is lost (its supervisor killed)", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const a = await mustSpawn({
      command: "sleep",
      args: ["30"],
      store: jobsDir,
    });
    const b = await mustSpawn({
      command: "true",
      store: jobsDir,
      after: [a.jobId],
    });
    const store = new FileJobStore(jobsDir);
    const running = await until("a's worker runs", async () => {
      const j = await store.load(a.jobId);
      return j.workerPid !== undefined ? j : undefined;
    });
    try {
      const waiter = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MOD,
          "jobs",
          "wait",
          b.jobId,
          "--timeout",
          "20s",
          "--jobs-dir",
          jobsDir,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "" },
      }).spawn();
      // The watch is under way before the supervisor dies.
      await until("the waiter to watch", () => watchesFiles(waiter.pid));
      Deno.kill(running.pid, "SIGKILL");
      const r = await waiter.output();
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      assert.equal((await store.load(b.jobId)).status, "completed");
    } finally {
      // a's worker outlives its supervisor: stop it.
      await cli(["jobs", "cancel", a.jobId, "--jobs-dir", jobsDir]);
    }
  });
});

Deno.test("jobs logs -f on a waiting job starts it when the job it runs after is lost (its supervisor killed)", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const a = await mustSpawn({
      command: "sleep",
      args: ["30"],
      store: jobsDir,
    });
    const b = await mustSpawn({
      command: "sh",
      args: ["-c", "echo b-ran"],
      store: jobsDir,
      after: [a.jobId],
    });
    const store = new FileJobStore(jobsDir);
    const running = await until("a's worker runs", async () => {
      const j = await store.load(a.jobId);
      return j.workerPid !== undefined ? j : undefined;
    });
    try {
      // Killed after 30 s: without the repair the follower waits forever.
      const follower = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MOD,
          "jobs",
          "logs",
          "-f",
          b.jobId,
          "--jobs-dir",
          jobsDir,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "" },
        signal: AbortSignal.timeout(30_000),
      }).spawn();
      // The follower is under way before the supervisor dies; nothing else
      // runs a pass after that.
      await until("the follower to watch", () => watchesFiles(follower.pid));
      Deno.kill(running.pid, "SIGKILL");
      const r = await follower.output();
      const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
      assert.equal(r.code, 0, text(r.stderr));
      assert.equal(text(r.stdout), "b-ran\n");
      assert.equal((await store.load(b.jobId)).status, "completed");
    } finally {
      // a's worker outlives its supervisor: stop it.
      await cli(["jobs", "cancel", a.jobId, "--jobs-dir", jobsDir]);
    }
  });
});
