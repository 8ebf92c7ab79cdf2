// FileJobStore.list(): newest first (ties by ID), the lost rule applied
// before the status filter, and invalid files reported beside the jobs.

import { assertEquals } from "../testdata/cli_helpers.ts";
import { FileJobStore } from "../jobs.ts";

const HOUR = 60 * 60 * 1000;

Deno.test("list() orders by start, newest first, and filters after the lost rule", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "detach_list_" });
  try {
    const store = new FileJobStore(dir);
    const started = Date.now() - 2 * HOUR;
    // Two share a start time (ordered by ID then), one is given the oldest
    // start though its ID is the newest, one never had a supervisor (lost
    // once backdated past the grace period), one fails.
    const ids: string[] = [];
    for (const [i, at] of [0, 5, 5, 9, -1].entries()) {
      const job = await store.create({ command: "pull", args: [`a${i}`] });
      ids.push(job.id);
      await store.update(job.id, (j) => {
        j.startedAt = new Date(started + (at < 0 ? -HOUR : at * 1000));
        return j;
      });
      if (i !== 3) {
        const exitCode = i === 1 ? 2 : 0;
        await store.finish(job.id, {
          status: exitCode === 0 ? "completed" : "failed",
          exitCode,
        });
      }
    }
    await Deno.writeTextFile(`${dir}/BROKEN.json`, '{"id": "BROKEN", ');
    await Deno.writeTextFile(`${dir}/bad-name.json`, "{}");

    await t.step("the order is by start, newest first", async () => {
      const { jobs, invalid } = await store.list();
      assertEquals(jobs.map((j) => j.id), [
        ids[3],
        ...[ids[1], ids[2]].sort().reverse(),
        ids[0],
        ids[4],
      ]);
      assertEquals(jobs[0].status, "lost");
      assertEquals(invalid.map((f) => f.id), ["BROKEN", "bad-name.json"]);
    });
    await t.step("a status filter applies after the lost rule", async () => {
      assertEquals(
        (await store.list({ status: "lost" })).jobs.map((j) => j.id),
        [
          ids[3],
        ],
      );
      assertEquals((await store.list({ status: "running" })).jobs, []);
      assertEquals(
        (await store.list({ status: "failed" })).jobs.map((j) => j.id),
        [ids[1]],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
