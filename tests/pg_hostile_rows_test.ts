// What a row of a shared store (any host that can write the database can
// write one) can make this host do: nothing it would not do for a row of its
// own, and never break a listing or a clean of the other jobs.

import { removeSettled } from "../testdata/poll.ts";
import assert from "node:assert/strict";
import postgres from "npm:postgres@3.4.9";
import { startCluster } from "../testdata/pg_cluster.ts";
import { PostgresJobStore } from "../postgres.ts";

Deno.test("PostgreSQL rows written by a hostile or careless host", async (t) => {
  await using cluster = await startCluster();
  const url = await cluster.createDatabase();
  const logDir = await Deno.makeTempDir({ prefix: "detach_pg_rows_" });
  await using store = await PostgresJobStore.open(url, {
    logDir,
    host: "host-a",
  });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await t.step(
      "a row whose ID is not a job ID is invalid, and a clean goes on",
      async () => {
        const ok = await store.create({ command: "fine" });
        await store.finish(ok.id, { status: "completed", exitCode: 0 });
        const [{ record }] =
          await sql`SELECT record FROM epack_detach_jobs WHERE id = ${ok.id}`;
        const bad = "../escape";
        await sql`INSERT INTO epack_detach_jobs
        (id, host, status, started_at, record, ended_at)
        VALUES (${bad}, 'host-a', 'completed', now() + interval '1 day',
                ${JSON.stringify({ ...JSON.parse(record), id: bad })},
                now() - interval '1 day')`;
        const { jobs, invalid } = await store.list();
        assert.deepEqual(jobs.map((j) => j.id), [ok.id]);
        assert.deepEqual(invalid.map((f) => f.id), [bad]);
        assert.deepEqual(await store.clean(0), [ok.id]);
      },
    );
    await t.step(
      "an end recorded by a ULID typed in lower case keeps the log's tail",
      async () => {
        const job = await store.create({ command: "x" });
        await Deno.writeTextFile(store.logPath(job.id), "last words\n");
        const ended = await store.finish(job.id.toLowerCase(), {
          status: "completed",
        });
        assert.equal(ended.logTail, "last words\n");
        assert.equal((await store.load(job.id)).logTail, "last words\n");
      },
    );
  } finally {
    await sql.end({ timeout: 1 });
    await removeSettled(logDir);
  }
});
