// The supervisor's retries, end to end: real jobs spawned through the test
// fixture, real workers that fail (their state in a file), real signals, a
// real cancel. Each attempt must be in the record, and the log must say
// where one ends and the next begins.

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
import { parseDuration } from "../duration.ts";
import { appendJournal } from "../store/journal.ts";

/** A shell worker that counts its runs in `state`: exits 3 until run `okAt`. */
function failsUntil(state: string, okAt: number): string {
  return `n=$(cat '${state}' 2>/dev/null || echo 0); n=$((n+1)); ` +
    `echo $n > '${state}'; echo "run $n"; [ $n -ge ${okAt} ] || exit 3`;
}

/** The pauses the supervisor's markers announce, in milliseconds. */
function announcedPauses(log: string): number[] {
  return [
    ...log.matchAll(/^\[@epack\/detach\] attempt \d+ of \d+ .*, in (\S+)$/gm),
  ]
    .map((m) => parseDuration(m[1]));
}

Deno.test("a worker that fails twice then succeeds, with 3 retries, ends completed after 3 attempts, with growing pauses", async () => {
  await withTempDir(async (dir) => {
    const state = join(dir, "state");
    const { jobId, pid } = await mustSpawn({
      command: "sh",
      args: ["-c", failsUntil(state, 3)],
      store: dir,
      retries: 3,
      retryDelay: 300,
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "completed", job.error);
    assert.equal(job.exitCode, 0);
    assert.equal(job.error, undefined);
    const attempts = job.attempts ?? [];
    assert.equal(attempts.length, 3);
    assert.deepEqual(attempts.map((a) => a.exitCode), [3, 3, 0]);
    assert.deepEqual(attempts.map((a) => a.error), [
      "Exited with code 3",
      "Exited with code 3",
      undefined,
    ]);
    for (const a of attempts) assert.ok(a.endedAt! >= a.startedAt);
    // The pause doubles: 300 ms, then 600 ms, each with up to 20 % off.
    const gaps = [1, 2].map((i) =>
      attempts[i].startedAt.getTime() - attempts[i - 1].endedAt!.getTime()
    );
    assert.ok(gaps[0] >= 240, `first pause ${gaps[0]} ms`);
    assert.ok(gaps[1] >= 480, `second pause ${gaps[1]} ms`);
    const log = await Deno.readTextFile(job.logPath);
    const pauses = announcedPauses(log);
    assert.equal(pauses.length, 2, log);
    assert.ok(pauses[0] >= 240 && pauses[0] <= 300, `${pauses}`);
    assert.ok(pauses[1] >= 480 && pauses[1] <= 600, `${pauses}`);
    assert.match(
      log,
      /^run 1\n\[@epack\/detach\] attempt 2 of 4 after exit code 3, in \S+\nrun 2\n\[@epack\/detach\] attempt 3 of 4 after exit code 3, in \S+\nrun 3\n$/,
    );
    await until("the supervisor to exit", () => !alive(pid));
  });
});

Deno.test("a worker that always fails, with 1 retry, ends failed after 2 attempts with the last exit code", async () => {
  await withTempDir(async (dir) => {
    const state = join(dir, "state");
    const { jobId } = await mustSpawn({
      command: "sh",
      args: ["-c", `echo x >> '${state}'; exit $(wc -l < '${state}')`],
      store: dir,
      retries: 1,
      retryDelay: 50,
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "failed");
    assert.equal(job.exitCode, 2, "the last attempt's exit code");
    assert.equal(job.error, "Exited with code 2 (attempt 2 of 2)");
    assert.deepEqual(job.attempts?.map((a) => a.exitCode), [1, 2]);
  });
});

Deno.test("a worker killed by an outside SIGKILL is run again", async () => {
  await withTempDir(async (dir) => {
    const state = join(dir, "state");
    const { jobId } = await mustSpawn({
      command: "sh",
      args: [
        "-c",
        `if [ -e '${state}' ]; then echo second; exit 0; fi; : > '${state}'; exec sleep 30`,
      ],
      store: dir,
      retries: 2,
      retryDelay: 50,
    });
    const store = new FileJobStore(dir);
    // Killed only once it has marked its start: a kill before that would
    // make the next attempt wait as this one does.
    const first = await until("the first worker to start", async () => {
      const j = await store.load(jobId);
      const marked = await Deno.stat(state).then(() => true, () => false);
      return j.workerPid !== undefined && j.attempts?.length === 1 && marked
        ? j
        : undefined;
    });
    Deno.kill(first.workerPid!, "SIGKILL");
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "completed", job.error);
    assert.equal(job.attempts?.length, 2);
    assert.equal(job.attempts![0].signal, "SIGKILL");
    assert.equal(job.attempts![0].error, "Killed by SIGKILL");
    assert.notEqual(job.workerPid, first.workerPid, "the current attempt's");
    assert.match(
      await Deno.readTextFile(job.logPath),
      /attempt 2 of 3 after SIGKILL, in \S+\nsecond\n$/,
    );
  });
});

Deno.test("a timeout is never retried, and covers the whole job: attempts and pauses", async (t) => {
  await withTempDir(async (dir) => {
    await t.step(
      "a worker that runs past the timeout is stopped once",
      async () => {
        const { jobId } = await mustSpawn({
          command: "sleep",
          args: ["30"],
          store: dir,
          retries: 3,
          retryDelay: 50,
          timeout: 500,
        });
        const job = await finalJob(dir, jobId);
        assert.equal(job.status, "timed_out");
        assert.equal(job.attempts?.length, 1);
        assert.match(job.attempts![0].error!, /^Timed out/);
        assert.match(job.error!, /\(attempt 1 of 4\)$/);
      },
    );
    await t.step(
      "a timeout during a pause ends the job then, with no new attempt",
      async () => {
        const started = Date.now();
        const { jobId } = await mustSpawn({
          command: "sh",
          args: ["-c", "exit 3"],
          store: dir,
          retries: 3,
          retryDelay: 120_000,
          timeout: 1_000,
        });
        const job = await finalJob(dir, jobId);
        assert.ok(Date.now() - started < 60_000, "not after the 120 s pause");
        assert.equal(job.status, "timed_out");
        assert.equal(job.exitCode, 3, "the last attempt's");
        assert.equal(
          job.error,
          "Timed out: ran past its timeout of 1s; attempt 1 of 4 had failed (exit code 3), and attempt 2 was not started",
        );
        assert.equal(job.attempts?.length, 1);
      },
    );
  });
});

Deno.test("a cancel is never retried: during an attempt, or at once during a pause", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("during an attempt", async () => {
      const { jobId } = await mustSpawn({
        command: "sleep",
        args: ["30"],
        store: dir,
        retries: 3,
        retryDelay: 50,
      });
      const store = new FileJobStore(dir);
      await until(
        "the worker to start",
        async () => (await store.load(jobId)).workerPid !== undefined,
      );
      const r = await cancel(jobId, { store: dir, grace: 2_000 });
      assert.equal(r.outcome, "cancelled", r.message);
      const job = await store.load(jobId);
      assert.equal(job.status, "cancelled");
      assert.equal(job.attempts?.length, 1);
    });
    await t.step("during the pause between attempts", async () => {
      const { jobId, pid } = await mustSpawn({
        command: "sh",
        args: ["-c", "exit 3"],
        store: dir,
        retries: 3,
        retryDelay: 60_000,
      });
      const store = new FileJobStore(dir);
      await until("the first attempt's end", async () => {
        const j = await store.load(jobId);
        return j.attempts?.[0]?.endedAt !== undefined;
      });
      const asked = Date.now();
      const r = await cancel(jobId, { store: dir });
      assert.ok(
        Date.now() - asked < 30_000,
        "ended at once, not after the 60 s pause",
      );
      assert.equal(r.outcome, "cancelled", r.message);
      const job = await store.load(jobId);
      assert.equal(job.status, "cancelled");
      assert.equal(job.exitCode, 3);
      assert.equal(job.attempts?.length, 1, "no new attempt");
      assert.match(
        job.error!,
        /^Cancelled; attempt 1 of 4 had failed \(exit code 3\), and attempt 2 was not started$/,
      );
      await until("the supervisor to exit", () => !alive(pid));
    });
  });
});

Deno.test("a job without retries keeps no attempts in its record", async () => {
  await withTempDir(async (dir) => {
    const { jobId } = await mustSpawn({
      command: "sh",
      args: ["-c", "exit 3"],
      store: dir,
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "failed");
    assert.equal(job.error, "Exited with code 3");
    assert.equal(job.attempts, undefined);
  });
});

Deno.test("a new attempt starts without the progress and result of the one that failed", async () => {
  await withTempDir(async (dir) => {
    await using store = new FileJobStore(join(dir, "jobs"));
    const job = await store.create({ command: "x", retries: 2 });
    const live = store.livenessPath(job.id);
    // The supervisor's journal, as the shim or the Deno supervisor writes it.
    appendJournal(live, "W", [1, 4242, "-"]);
    await store.update(job.id, (j) => {
      j.progress = { done: 5, total: 10, updatedAt: new Date() };
      j.result = { from: "attempt 1" };
      return j;
    });
    let j = await store.loadRecorded(job.id);
    assert.equal(j.progress?.done, 5);
    assert.equal(j.attempts?.length, 1);
    appendJournal(live, "A", [`e${Date.now()}`, 1, "x3"]);
    await new Promise((r) => setTimeout(r, 5));
    appendJournal(live, "W", [2, 4243, "-"]);
    // A reader sees it at once; the next write keeps it.
    j = await store.load(job.id);
    assert.equal(j.progress, undefined);
    assert.equal(j.result, undefined);
    await store.update(job.id, (j) => j);
    j = await store.loadRecorded(job.id);
    assert.equal(j.progress, undefined);
    assert.equal(j.result, undefined);
    assert.equal(j.attempts?.length, 2);
    assert.equal(j.attempts?.[0].exitCode, 3);
    assert.equal(j.workerPid, 4243);
  });
});
