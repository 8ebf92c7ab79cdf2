// Only the supervisor's own evidence makes an end final: a cancel from
// another host of a job whose lease lapsed (a database outage longer than
// the lease, its supervisor alive all along) records the request, never a
// final `lost` that the supervisor could not correct.

import assert from "node:assert/strict";
import { startCluster } from "../testdata/pg_cluster.ts";
import { PostgresJobStore } from "../postgres.ts";
import { cancel } from "../control.ts";
import { removeSettled, until } from "../testdata/poll.ts";

Deno.test("a cancel from another host of a job read lost leaves its end to its supervisor", async () => {
  await using cluster = await startCluster();
  const url = `${await cluster
    .createDatabase()}?epack_lease_ttl=1000&epack_renew_every=300`;
  const logDir = await Deno.makeTempDir({ prefix: "detach_cancel_lost_" });
  try {
    await using a = await PostgresJobStore.open(url, {
      logDir,
      host: "host-a",
    });
    await using b = await PostgresJobStore.open(url, {
      logDir: "/nonexistent",
      host: "host-b",
    });
    const job = await a.create({ command: "long" });
    // Host A's supervisor holds the job but, as in an outage, renews
    // nothing: B sees the lease lapse.
    await using _held = await a.hold(job.id);
    await until(
      "B to read it lost",
      async () => (await b.load(job.id)).status === "lost",
    );
    const result = await cancel(job.id, { store: b, grace: 100 });
    assert.equal(result.outcome, "lost");
    assert.equal(result.job.status, "lost", "still read lost by the rule");
    assert.match(result.message, /host-a/);
    const recorded = await b.loadRecorded(job.id);
    assert.equal(recorded.status, "running", "no final status written");
    assert.ok(recorded.cancelRequestedAt, "the request is recorded");
    // The supervisor comes back: its renewal returns the request, and it
    // records how the job ended, which every host then reads.
    const [renewed] = await a.renew([job.id]);
    assert.ok(renewed?.record?.includes("cancel_requested_at"));
    await a.finish(job.id, { status: "cancelled", signal: "SIGTERM" });
    const seen = await b.load(job.id);
    assert.equal(seen.status, "cancelled");
    assert.equal(seen.signal, "SIGTERM");
  } finally {
    await removeSettled(logDir);
  }
});
