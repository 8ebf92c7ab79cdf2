// A supervisor stopped with SIGSTOP enforces nothing until it is continued:
// `cancel()` continues it (on the local proof it signals by) before its
// SIGTERM, so the cancel still ends the job; and it never claims the
// supervisor "goes on stopping it" while it is stopped (issue 20).

import assert from "node:assert/strict";
import { cancel } from "../mod.ts";
import { FileJobStore } from "../jobs.ts";
import { groupMembers, readProcess } from "../process/inspect.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { mustSpawn, until } from "../testdata/spawn_helpers.ts";

Deno.test("cancel() ends the job of a SIGSTOPped supervisor", async () => {
  await withTempDir(async (dir) => {
    const { jobId } = await mustSpawn({
      command: "sh",
      args: ["-c", "sleep 60 & wait"],
      store: dir,
      grace: 300,
    });
    const store = new FileJobStore(dir);
    const job = await until("the worker", async () => {
      const j = await store.load(jobId);
      return j.workerPid !== undefined ? j : undefined;
    });
    Deno.kill(job.pid!, "SIGSTOP");
    try {
      await until(
        "the supervisor to stop",
        () => readProcess(job.pid!)?.state === "T",
      );
      const r = await cancel(jobId, { store: dir, grace: 300 });
      assert.equal(r.outcome, "cancelled", r.message);
      assert.deepEqual(groupMembers(job.workerPid!), []);
    } finally {
      try {
        Deno.kill(job.pid!, "SIGCONT");
      } catch {
        // Gone: it ended the job.
      }
    }
    await until(
      "the job's end",
      async () => (await store.load(jobId)).status !== "running",
    );
  });
});
