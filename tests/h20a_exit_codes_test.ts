// A worker that exits 126 or 127 by itself ran: its record says exit code
// 126/127, not "command not found" or "not executable", which only a
// program that could not be run gets (issue 20). Both supervisors.

import assert from "node:assert/strict";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { finalJob, mustSpawn } from "../testdata/spawn_helpers.ts";

Deno.test("exit codes 126 and 127 of a program that ran are its own", async () => {
  await withTempDir(async (dir) => {
    for (const code of [126, 127]) {
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", `exit ${code}`],
        store: dir,
      });
      const job = await finalJob(dir, jobId);
      assert.equal(job.status, "failed");
      assert.equal(job.exitCode, code);
      assert.doesNotMatch(job.error ?? "", /not found|execut/);
    }
    const { jobId } = await mustSpawn({
      command: "sh",
      args: ["-c", "true"],
      store: dir,
    });
    await finalJob(dir, jobId);
    // The program itself missing: that one is the shell's 127.
    const missing = await mustSpawn({
      command: `${dir}/no-such-program`,
      store: dir,
    }).catch(() => undefined);
    if (missing !== undefined) {
      const job = await finalJob(dir, missing.jobId);
      assert.equal(job.exitCode, 127);
      assert.match(job.error ?? "", /not found/);
    }
  });
});
