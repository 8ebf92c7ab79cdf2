// streamJobs() (the CLI's `jobs --json`) must list exactly what
// JobStore.list() lists, in the same order, with the same invalid files.

import { assertEquals } from "../testdata/cli_helpers.ts";
import { type Job, JobStore, type ListOptions } from "../jobs.ts";
import { streamJobs } from "./list.ts";

const HOUR = 60 * 60 * 1000;

async function streamed(store: JobStore, options: ListOptions) {
  const jobs: Job[] = [];
  const invalid = await streamJobs(store, options, (job) => {
    jobs.push(job);
  });
  return { jobs, invalid };
}

Deno.test("streamJobs() hands over what JobStore.list() returns, in its order", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "detach_list_" });
  try {
    const store = new JobStore(dir);
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
        await store.complete(job.id, { exitCode: i === 1 ? 2 : 0 });
      }
    }
    await Deno.writeTextFile(`${dir}/BROKEN.json`, '{"id": "BROKEN", ');
    await Deno.writeTextFile(`${dir}/bad-name.json`, "{}");

    for (
      const options of [
        {},
        { status: "failed" },
        { status: "lost" },
        { status: "running" },
      ] as ListOptions[]
    ) {
      await t.step(`options ${JSON.stringify(options)}`, async () => {
        const listed = await store.list(options);
        const got = await streamed(store, options);
        assertEquals(
          got.jobs.map((j) => [j.id, j.status]),
          listed.jobs.map((j) => [j.id, j.status]),
        );
        assertEquals(got.invalid, listed.invalid);
      });
    }
    await t.step("the order is by start, newest first", async () => {
      const { jobs } = await streamed(store, {});
      assertEquals(jobs.map((j) => j.id), [
        ids[3],
        ...[ids[1], ids[2]].sort().reverse(),
        ids[0],
        ids[4],
      ]);
      assertEquals(jobs[0].status, "lost");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
