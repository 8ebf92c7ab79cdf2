// Tests of cancel(), watchJob() and waitForJob() against real jobs, real
// records and real signals.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cancel,
  cleanJobs,
  waitForJob,
  WaitTimeoutError,
  watchJob,
} from "./control.ts";
import { type Job, JobNotFoundError, JobStore } from "./jobs.ts";
import { groupMembers, readProcess } from "./_process.ts";
import { withTempDir } from "./testdata/cli_helpers.ts";
import { alive, finalJob, mustSpawn, until } from "./testdata/spawn_helpers.ts";

Deno.test("a supervisor killed with SIGKILL leaves its job lost, and cancel ends the orphaned worker", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      program: "sh",
      args: ["-c", "sleep 60 & wait"],
      jobsDir: dir,
      grace: 300,
    });
    const store = new JobStore(dir);
    const job = await until("the worker to start", async () => {
      const j = await store.load(jobId);
      return j.workerPid !== undefined && j.workerStartTicks !== undefined
        ? j
        : undefined;
    });
    assert.equal(job.status, "running");
    Deno.kill(pid, "SIGKILL");
    const lost = await until("the job to be lost", async () => {
      const j = await store.load(jobId);
      return j.status === "lost" ? j : undefined;
    });
    assert.match(lost.error ?? "", /supervisor is gone/);
    // The worker and its child outlived the supervisor.
    assert.ok(alive(job.workerPid!));
    assert.equal(groupMembers(job.workerPid!)!.length, 2);

    // cleanJobs() keeps a lost job while its processes run: it is the only
    // handle on them. The store alone knows no processes, and removes it.
    assert.deepEqual(await cleanJobs(0, { jobsDir: dir }), []);

    const result = await cancel(jobId, { jobsDir: dir, grace: 300 });
    assert.equal(result.outcome, "lost");
    assert.match(result.message, /stopped 2 leftover process/);
    assert.deepEqual(groupMembers(job.workerPid!), []);
    const recorded = await store.loadRecorded(jobId);
    assert.equal(recorded.status, "lost");
    assert.ok(recorded.completedAt !== undefined);
    assert.deepEqual(await cleanJobs(0, { jobsDir: dir }), [jobId]);
  });
});

Deno.test("cancel() refuses a job that has no liveness file, and leaves its record as it was", async () => {
  await withTempDir(async (dir) => {
    // A running record as the Go epack writes it: no supervisor, no .live.
    const id = "job_20260101_000000_1";
    const text = JSON.stringify({
      id,
      command: "pull",
      args: null,
      status: "running",
      pid: Deno.pid,
      started_at: "2026-01-01T00:00:00.123456789+01:00",
      log_path: join(dir, `${id}.log`),
    });
    await Deno.writeTextFile(join(dir, `${id}.json`), text);
    await assert.rejects(
      () => cancel(id, { jobsDir: dir }),
      Error,
      "was not started by @epack/detach",
    );
    assert.equal(await Deno.readTextFile(join(dir, `${id}.json`)), text);
  });
});

Deno.test("cancel() of a lost job leaves alone a PID that now belongs to another process", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    // A record whose worker PID is our own process, with another start
    // time: as if the PID had been reused after the job died.
    const job = await store.create({ command: "x" });
    await store.update(job.id, (j) => {
      j.supervisedAt = new Date();
      j.workerPid = Deno.pid;
      j.workerStartTicks = (readProcess(Deno.pid)!.startTicks ?? 1) + 1;
      return j;
    });
    await Deno.writeFile(store.livenessPath(job.id), new Uint8Array());
    const result = await cancel(job.id, { jobsDir: dir, grace: 100 });
    assert.equal(result.outcome, "lost");
    assert.match(result.message, /cannot be identified safely .*left alone/);
  });
});

Deno.test("cancel() stops a running job, and is a no-op on one that has ended", async (t) => {
  await withTempDir(async (dir) => {
    await t.step(
      "a running job is cancelled and its group is gone",
      async () => {
        const { jobId } = await mustSpawn({
          program: "sh",
          args: ["-c", "sleep 60 & sleep 60"],
          jobsDir: dir,
        });
        const store = new JobStore(dir);
        const started = await until("the worker to start", async () => {
          const j = await store.load(jobId);
          return j.workerPid !== undefined ? j : undefined;
        });
        const result = await cancel(jobId, { jobsDir: dir, grace: 500 });
        assert.equal(result.outcome, "cancelled");
        assert.equal(result.job.status, "cancelled");
        assert.equal(result.job.signal, "SIGTERM");
        assert.deepEqual(groupMembers(started.workerPid!), []);
      },
    );
    await t.step("an ended job is left as it was", async () => {
      const { jobId } = await mustSpawn({ command: "echo", jobsDir: dir });
      const before = await finalJob(dir, jobId);
      const result = await cancel(jobId, { jobsDir: dir });
      assert.equal(result.outcome, "already-ended");
      assert.match(result.message, /already ended \(completed\)/);
      assert.deepEqual(result.job, before);
    });
  });
});

Deno.test("waitForJob() takes timeouts beyond setTimeout's 24.8-day limit", async () => {
  await withTempDir(async (dir) => {
    const { jobId } = await mustSpawn({
      program: "sleep",
      args: ["0.3"],
      jobsDir: dir,
    });
    // Passed to setTimeout as is, 30 days would overflow to 1 ms and the
    // wait would give up at once.
    const job = await waitForJob(jobId, {
      jobsDir: dir,
      timeout: 30 * 24 * 60 * 60 * 1000,
    });
    assert.equal(job.status, "completed");
  });
});

Deno.test("waitForJob() reports a record removed during the wait, and refuses a bad timeout", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    const job = await store.create({ command: "x" });
    await assert.rejects(
      () => waitForJob(job.id, { jobsDir: dir, timeout: NaN }),
      RangeError,
    );
    // The outcome is taken at once, so the rejection is never unhandled.
    const outcome = waitForJob(job.id, { jobsDir: dir, timeout: 10_000 })
      .then(() => undefined, (err: unknown) => err);
    await new Promise((r) => setTimeout(r, 100));
    await store.delete(job.id);
    assert.ok((await outcome) instanceof JobNotFoundError);
  });
});

Deno.test("watchJob() yields the record at once, then each change, and ends after the final one", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    const job = await store.create({ command: "x" });
    const seen: Job[] = [];
    const watching = (async () => {
      for await (const record of watchJob(job.id, { jobsDir: dir })) {
        seen.push(record);
      }
    })();
    await until("the first record", () => seen.length === 1);
    await store.update(job.id, (j) => ({ ...j, workerPid: 4242 }));
    await until("the change", () => seen.length === 2);
    await store.complete(job.id, { exitCode: 0 });
    await watching;
    assert.deepEqual(seen.map((j) => j.status), [
      "running",
      "running",
      "completed",
    ]);
    assert.equal(seen[1].workerPid, 4242);
    // An ended job: its record once, and the watch is over.
    const again = [];
    for await (const record of watchJob(job.id, { jobsDir: dir })) {
      again.push(record);
    }
    assert.deepEqual(again, [seen[2]]);
  });
});

Deno.test("watchJob() can be left early, and frees its watch", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    const job = await store.create({ command: "x" });
    await store.update(job.id, (j) => ({ ...j, workerPid: 1 }));
    let n = 0;
    for await (const _ of watchJob(job.id, { jobsDir: dir })) {
      n++;
      break;
    }
    assert.equal(n, 1);
    // The resource and op sanitizers check that nothing was left open.
  });
});

Deno.test("watchJob() yields a job lost when its supervisor is killed with SIGKILL", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      program: "sleep",
      args: ["60"],
      jobsDir: dir,
      grace: 300,
    });
    const statuses: string[] = [];
    let killed = false;
    for await (
      const job of watchJob(jobId, { jobsDir: dir, timeout: 20_000 })
    ) {
      statuses.push(job.status);
      if (!killed && job.workerPid !== undefined) {
        killed = true;
        Deno.kill(pid, "SIGKILL");
      }
    }
    assert.equal(statuses.at(-1), "lost");
    assert.ok(statuses.slice(0, -1).every((s) => s === "running"));
    // The orphaned worker is still there; cancel() ends it.
    const result = await cancel(jobId, { jobsDir: dir, grace: 300 });
    assert.equal(result.outcome, "lost");
  });
});

Deno.test("waitForJob() returns within milliseconds of the end", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    const job = await store.create({ command: "x" });
    const waiting = waitForJob(job.id, { jobsDir: dir, timeout: 10_000 });
    // Past a first look, so the end comes while the wait sleeps.
    await new Promise((r) => setTimeout(r, 150));
    const ended = Date.now();
    await store.complete(job.id, { exitCode: 0 });
    const final = await waiting;
    assert.equal(final.status, "completed");
    // Far below the once-a-second look: the record's change woke it.
    assert.ok(Date.now() - ended < 500, `${Date.now() - ended} ms`);
  });
});

Deno.test("waitForJob() gives up at its timeout or on abort, and refuses a negative timeout", async (t) => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    const job = await store.create({ command: "x" });
    await t.step("timeout", async () => {
      const err = await waitForJob(job.id, { jobsDir: dir, timeout: 100 })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof WaitTimeoutError);
      assert.equal(err.jobId, job.id);
    });
    await t.step("a timeout of 0 looks once", async () => {
      await assert.rejects(
        () => waitForJob(job.id, { jobsDir: dir, timeout: 0 }),
        WaitTimeoutError,
      );
    });
    await t.step("abort", async () => {
      const stop = new AbortController();
      setTimeout(() => stop.abort(new Error("stopped")), 100);
      await assert.rejects(
        () => waitForJob(job.id, { jobsDir: dir, signal: stop.signal }),
        Error,
        "stopped",
      );
    });
    await t.step("negative timeout", async () => {
      await assert.rejects(
        () => waitForJob(job.id, { jobsDir: dir, timeout: -1 }),
        RangeError,
      );
    });
    await t.step(
      "an ended job is returned even past a zero timeout",
      async () => {
        await store.complete(job.id, { exitCode: 0 });
        const final = await waitForJob(job.id, { jobsDir: dir, timeout: 0 });
        assert.equal(final.status, "completed");
      },
    );
  });
});
