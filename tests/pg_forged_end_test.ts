// Only the supervisor's own evidence makes an end final: a row forged to
// say a running job has ended (another host can write the table) changes
// nothing on the job's host. Its readers see it running while its shim
// holds the lock, a clean keeps its files, and its real end replaces the
// forged one.

import { removeSettled } from "../testdata/poll.ts";
import assert from "node:assert/strict";
import postgres from "npm:postgres@3.4.9";
import { startCluster } from "../testdata/pg_cluster.ts";
import { PostgresJobStore } from "../postgres.ts";
import { waitForJob } from "../control.ts";
import { gateCommand, mustSpawn, until } from "../testdata/spawn_helpers.ts";

Deno.test("a row forged to say a running job ended is not the job's end", async () => {
  await using cluster = await startCluster();
  const logDir = await Deno.makeTempDir({ prefix: "detach_pg_forged_end_" });
  const url = `${await cluster.createDatabase()}?epack_log_dir=${
    encodeURIComponent(logDir)
  }`;
  const sql = postgres(url.split("?")[0], { max: 1, onnotice: () => {} });
  const gate = `${logDir}/go`;
  try {
    await using store = await PostgresJobStore.open(url);
    const { jobId } = await mustSpawn({
      command: "sh",
      args: ["-c", `${gateCommand(gate)}; exit 3`],
      store: url,
    });
    await until(
      "its worker",
      async () =>
        (await store.load(jobId)).workerPid !== undefined || undefined,
    );
    const [{ record }] =
      await sql`SELECT record FROM epack_detach_jobs WHERE id = ${jobId}`;
    const forged = {
      ...JSON.parse(record),
      status: "completed",
      exit_code: 0,
      completed_at: new Date().toISOString(),
    };
    await sql`UPDATE epack_detach_jobs
      SET record = ${JSON.stringify(forged)}, status = 'completed',
          ended_at = now() - interval '1 day'
      WHERE id = ${jobId}`;
    assert.equal((await store.load(jobId)).status, "running");
    assert.deepEqual(await store.clean(0), []);
    assert.ok(await Deno.stat(`${logDir}/${jobId}.live`), "its files stay");
    await Deno.writeTextFile(gate, "");
    const ended = await until("its own end", async () => {
      const j = await waitForJob(jobId, { store, timeout: 20_000 });
      return j.status === "failed" ? j : undefined;
    });
    assert.equal(ended.exitCode, 3);
    assert.equal((await store.loadRecorded(jobId)).status, "failed");
  } finally {
    await Deno.writeTextFile(gate, "").catch(() => {});
    await sql.end();
    await removeSettled(logDir);
  }
});
