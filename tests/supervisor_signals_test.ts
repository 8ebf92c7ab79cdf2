// A supervisor that gets signals while it stops its job (a second cancel,
// a cancel during a timeout's stop, a cancel while it is still starting the
// worker) still stops the whole process group: no worker is orphaned. The
// stops go through process inspection, so `deno task test:ps` runs this
// file again with the ps inspector.

import assert from "node:assert/strict";
import { cancel, superviseIfRequested } from "../mod.ts";
import { FileJobStore } from "../jobs.ts";
import { groupMembers } from "../process/inspect.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { alive, mustSpawn, until } from "../testdata/spawn_helpers.ts";

Deno.test("a signal to the supervisor at any moment never orphans the worker", async (t) => {
  await withTempDir(async (dir) => {
    // The worker ends on SIGTERM at once, but its child ignores it, so
    // stopping takes the whole grace period after the worker has exited: a
    // window in which the supervisor must go on catching signals.
    const stubborn =
      `sh -c 'trap "" TERM; echo ready; while :; do sleep 0.1; done' & wait`;
    await t.step("cancelled twice", async () => {
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", stubborn],
        store: dir,
        grace: 800,
      });
      const store = new FileJobStore(dir);
      const started = await until("the worker to start", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined ? j : undefined;
      });
      // Its child ignores SIGTERM once it says so, not from its fork.
      await until(
        "the worker's child's trap",
        async () =>
          (await Deno.readTextFile(store.logPath(jobId)).catch(() => ""))
            .startsWith("ready\n"),
      );
      // The second cancel once the first is under way (recorded, the
      // worker being stopped): it lands in the supervisor's grace period.
      const [first, second] = await Promise.all([
        cancel(jobId, { store: dir }),
        until("the first cancel to be recorded", async () => {
          const j = await store.loadRecorded(jobId);
          return j.cancelRequestedAt !== undefined;
        }).then(() => cancel(jobId, { store: dir })),
      ]);
      assert.equal(first.job.status, "cancelled", first.message);
      assert.equal(second.job.status, "cancelled", second.message);
      assert.match(first.job.error ?? "", /SIGKILL/);
      assert.deepEqual(groupMembers(started.workerPid!), []);
    });
    await t.step("cancelled while a timeout is stopping it", async () => {
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", stubborn],
        store: dir,
        timeout: 300,
        grace: 1000,
      });
      const store = new FileJobStore(dir);
      const started = await until("the worker to start", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined ? j : undefined;
      });
      // Inside the grace period: the timeout's SIGTERM has ended the
      // worker, its child (which ignores it) still runs.
      await until(
        "the timeout to stop the worker",
        () => !alive(started.workerPid!),
        10_000,
      );
      const result = await cancel(jobId, { store: dir });
      assert.equal(result.job.status, "timed_out", result.message);
      assert.deepEqual(groupMembers(started.workerPid!), []);
    });
    await t.step(
      "cancelled the moment its supervisor takes the lock",
      async () => {
        await superviseIfRequested();
        const store = new FileJobStore(dir);
        for (let i = 0; i < 5; i++) {
          const { jobId } = await mustSpawn({
            command: "sleep",
            args: ["60"],
            store: dir,
            grace: 300,
          });
          // Right after it has taken the job (its journal's S line) the
          // supervisor is still starting the worker: cancel() signals it in
          // that window.
          await until(
            "the supervisor to start",
            async () => {
              const j = await store.load(jobId).catch(() => undefined);
              return j?.supervisedAt !== undefined ? true : undefined;
            },
            20_000,
            1,
          );
          const result = await cancel(jobId, { store: dir });
          assert.equal(result.job.status, "cancelled", result.message);
          const job = await store.loadRecorded(jobId);
          if (job.workerPid !== undefined) {
            assert.deepEqual(groupMembers(job.workerPid), []);
          }
        }
      },
    );
  });
});
