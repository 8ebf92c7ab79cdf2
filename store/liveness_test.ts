// Specification of the liveness lock and the lost rule (_liveness.ts), with
// a real `deno` process holding the lock as a supervisor would, and killed
// with SIGKILL as a supervisor might be.

import assert from "node:assert/strict";
import { JobNotFoundError } from "../jobs.ts";
import { applyLiveness } from "./liveness.ts";
import { appendJournal } from "./journal.ts";
import { letGo, until } from "../testdata/poll.ts";
import { SUPERVISOR_START_GRACE_MS } from "./rules.ts";
import {
  backdate,
  DAY,
  kill,
  readRaw,
  startHolder,
  withStore,
} from "../testdata/store_helpers.ts";

Deno.test("JobStore reports a job lost when its supervisor dies", async (t) => {
  await withStore(async (store, tmp) => {
    const job = await store.create({ command: "pull" });
    const holder = await startHolder(tmp, store, job.id);
    try {
      await t.step("a live holder: running", async () => {
        assert.equal(await store.isHeld(job.id), true);
        const loaded = await store.load(job.id);
        assert.equal(loaded.status, "running");
        assert.ok(loaded.supervisedAt instanceof Date);
        const { jobs } = await store.list({ status: "running" });
        assert.deepEqual(jobs.map((j) => j.id), [job.id]);
      });
    } finally {
      await kill(holder);
    }

    await t.step("after SIGKILL of the holder: lost", async () => {
      assert.equal(await store.isHeld(job.id), false);
      const loaded = await store.load(job.id);
      assert.equal(loaded.status, "lost");
      assert.match(loaded.error!, /supervisor is gone/);
      assert.deepEqual(
        (await store.list({ status: "lost" })).jobs.map((j) => j.id),
        [job.id],
      );
      assert.deepEqual((await store.list({ status: "running" })).jobs, []);
    });

    await t.step("reading does not change the record", async () => {
      assert.equal((await store.loadRecorded(job.id)).status, "running");
      assert.equal((await readRaw(store, job.id)).status, "running");
    });
  });
});

Deno.test("JobStore never reports a job that has ended as lost", async () => {
  await withStore(async (store, tmp) => {
    const job = await store.create({ command: "pull" });
    const holder = await startHolder(tmp, store, job.id);
    try {
      // The supervisor records the end while it still holds the lock.
      await store.finish(job.id, { status: "completed", exitCode: 0 });
    } finally {
      await kill(holder);
    }
    assert.equal(await store.isHeld(job.id), false);
    await backdate(store, job.id, 2 * DAY);
    assert.equal((await store.load(job.id)).status, "completed");
    assert.equal((await store.list()).jobs[0].status, "completed");
  });
});

Deno.test("JobStore gives a starting supervisor SUPERVISOR_START_GRACE_MS", async (t) => {
  await withStore(async (store) => {
    const job = await store.create({ command: "pull" });
    await t.step(
      "a new job whose supervisor has not started yet: running",
      async () => {
        const loaded = await store.load(job.id);
        assert.equal(loaded.status, "running");
        assert.equal(loaded.supervisedAt, undefined);
      },
    );
    await t.step("still running just inside the grace period", async () => {
      await backdate(store, job.id, SUPERVISOR_START_GRACE_MS - 5_000);
      assert.equal((await store.load(job.id)).status, "running");
    });
    await t.step("lost once the grace period has passed", async () => {
      await backdate(store, job.id, 10_000);
      const loaded = await store.load(job.id);
      assert.equal(loaded.status, "lost");
      assert.match(loaded.error!, /never started/);
      assert.deepEqual(
        (await store.list({ status: "lost" })).jobs.map((j) => j.id),
        [job.id],
      );
    });
  });
});

Deno.test("holdLiveness() keeps the lock until disposed and stamps supervisedAt", async () => {
  await withStore(async (store) => {
    const job = await store.create({ command: "pull" });
    const before = Date.now();
    const live = await store.hold(job.id);
    assert.equal(await store.isHeld(job.id), true);
    const loaded = await store.load(job.id);
    assert.equal(loaded.status, "running");
    assert.ok(loaded.supervisedAt!.getTime() >= before);
    await letGo(store, job.id, live);
    assert.equal(await store.isHeld(job.id), false);
    assert.equal((await store.load(job.id)).status, "lost");
    await assert.rejects(store.hold("NOPE"), JobNotFoundError);
  });
});

// A reader's probe and its re-read are two steps: a supervisor that takes
// the lock and stamps supervisedAt between them was reported lost while it
// lived (seen under load as a `true` job that waitForJob() called lost).
Deno.test("applyLiveness() does not call lost a supervisor that started between the probe and the re-read", async () => {
  await withStore(async (store) => {
    const job = await store.create({ command: "pull" });
    let supervisor: AsyncDisposable | undefined;
    try {
      const seen = await applyLiveness(
        job,
        store.livenessPath(job.id),
        async () => {
          // Lands after the probe found the lock free.
          supervisor ??= await store.hold(job.id);
          return await store.loadRecorded(job.id);
        },
      );
      assert.equal(seen.status, "running");
      assert.ok(seen.supervisedAt instanceof Date);
      assert.equal(seen.error, undefined);
    } finally {
      await supervisor?.[Symbol.asyncDispose]();
    }
    // Once that supervisor lets go without an end, the job is lost. Not
    // at once, always: a process this runner forks meanwhile (other test
    // files run here too) shares the lock's open file until it execs.
    await until(
      "the job to be lost",
      async () => (await store.load(job.id)).status === "lost",
    );
  });
});

Deno.test("applyLiveness() reads the end a supervisor recorded between the probe and the re-read", async () => {
  await withStore(async (store) => {
    const job = await store.create({ command: "pull" });
    let rereads = 0;
    const seen = await applyLiveness(
      job,
      store.livenessPath(job.id),
      async () => {
        rereads++;
        if (rereads === 1) {
          // The traces of a quick supervisor's whole life, after the first
          // probe: its S line, then its end. Its lock is not taken here: a
          // lock let go in this runner can outlive its close for a moment
          // (a process forked meanwhile, by another test file, shares the
          // open file until it execs), and the next probe would find it.
          appendJournal(store.livenessPath(job.id), "S", [
            Deno.pid,
            "-",
            "deno",
          ]);
          await store.finish(job.id, { status: "completed", exitCode: 0 });
          // Its stamp is seen, its end not yet (read just before the end).
          const stamped = await store.loadRecorded(job.id);
          stamped.status = "running";
          delete stamped.completedAt;
          delete stamped.exitCode;
          return stamped;
        }
        return await store.loadRecorded(job.id);
      },
    );
    assert.equal(seen.status, "completed");
    assert.equal(rereads, 2);
  });
});
