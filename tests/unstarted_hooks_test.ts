// `--on-end` hooks of jobs that end before they start: cancelled while
// waiting, and cancelled by the `--after-ok` cascade. Each runs once, with
// the job's end in its environment, as for a job that ran.

import assert from "node:assert/strict";
import { join } from "node:path";
import { cancel, waitForJob } from "../mod.ts";
import { FileJobStore } from "../jobs.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { gateCommand, mustSpawn, until } from "../testdata/spawn_helpers.ts";

Deno.test("end hooks run once for jobs that end before they start, the --after-ok cascade included", async () => {
  await withTempDir(async (dir) => {
    const store = join(dir, "jobs");
    const gate = join(dir, "gate");
    const said = join(dir, "hooks");
    const hook = (name: string) =>
      `echo "${name} $EPACK_JOB_STATUS" >> ${JSON.stringify(said)}`;
    const first = await mustSpawn({
      command: "sh",
      args: ["-c", gateCommand(gate)],
      store,
    });
    const waiting = await mustSpawn({
      command: "true",
      after: [first.jobId],
      onEnd: hook("waiting"),
      store,
    });
    const cascaded = await mustSpawn({
      command: "true",
      after: [waiting.jobId],
      afterOk: true,
      onEnd: hook("cascaded"),
      store,
    });
    const result = await cancel(waiting.jobId, { store });
    assert.equal(result.outcome, "cancelled");
    const ended = await waitForJob(cascaded.jobId, { store, timeout: 20_000 });
    assert.equal(ended.status, "cancelled");
    const lines = await until("both hooks", async () => {
      const text = await Deno.readTextFile(said).catch(() => "");
      const got = text.split("\n").filter(Boolean).sort();
      return got.length >= 2 ? got : undefined;
    });
    assert.deepEqual(lines, ["cascaded cancelled", "waiting cancelled"]);
    // Claimed once each: a later pass or cancel starts none again.
    await cancel(waiting.jobId, { store });
    await Deno.writeTextFile(gate, "");
    await waitForJob(first.jobId, { store, timeout: 20_000 });
    const jobs = new FileJobStore(store);
    for (const id of [waiting.jobId, cascaded.jobId]) {
      await until(
        "its hook's end",
        async () =>
          (await jobs.load(id)).onEndStartedAt !== undefined || undefined,
      );
    }
    const text = await Deno.readTextFile(said);
    assert.equal(text.split("\n").filter(Boolean).length, 2, text);
  });
});
