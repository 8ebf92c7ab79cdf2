// Tests of `epack jobs cancel`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts and, for edge cases, records written
// with JobStore.

import { FileJobStore } from "../../jobs.ts";
import { WAIT_EXIT } from "./wait.ts";
import {
  assert,
  assertEquals,
  gone,
  jobs,
  type Spawned,
  spawnJob,
  stopJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";

Deno.test("jobs cancel stops a running job and does nothing to an ended one", async () => {
  const dir = await tempDir();
  let job: Spawned | undefined;
  try {
    job = await spawnJob(dir, "sleep", ["30"], { grace: 500 });
    const running = await until(
      dir,
      job.jobId,
      (j) => j.workerPid !== undefined,
    );
    const r = await jobs(dir, "cancel", job.jobId);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, `Job ${job.jobId} cancelled\n`);
    const after = await new FileJobStore(dir).load(job.jobId);
    assertEquals(after.status, "cancelled");
    assert(gone(running.workerPid!), "the worker is still running");

    const again = await jobs(dir, "cancel", job.jobId, "--json");
    assertEquals(again.code, 0, again.stderr);
    const doc = JSON.parse(again.stdout);
    assertEquals(doc.outcome, "already-ended");
    assert(/already ended \(cancelled\); nothing to cancel/.test(doc.message));
    assertEquals([doc.id, doc.status], [job.jobId, "cancelled"]);

    const w = await jobs(dir, "wait", job.jobId);
    assertEquals(w.code, WAIT_EXIT.CANCELLED);
  } finally {
    if (job) await stopJob(dir, job.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs cancel exits 75 when the job has not ended by its grace plus the margin", async () => {
  const dir = await tempDir();
  try {
    // Running records whose supervisor never comes: nothing will end them.
    // One for the text, one for the JSON, cancelled at once: each cancel
    // waits its margin.
    const store = new FileJobStore(dir);
    const text = await store.create({ command: "x" });
    const json = await store.create({ command: "x" });
    const [r, j] = await Promise.all([
      jobs(dir, "cancel", text.id, "--grace", "0s"),
      jobs(dir, "cancel", json.id, "--grace", "0s", "--json"),
    ]);
    assertEquals(r.code, WAIT_EXIT.WAIT_TIMEOUT, r.stderr);
    assert(/has not ended/.test(r.stdout), r.stdout);
    assertEquals(j.code, WAIT_EXIT.WAIT_TIMEOUT, j.stderr);
    assertEquals(JSON.parse(j.stdout).outcome, "stopping");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
