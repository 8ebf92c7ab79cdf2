// Waiting jobs and the scheduler's files: a deleted pending marker strands
// nothing, and a pass that fails at a job's end says so in that job's log.

import assert from "node:assert/strict";
import { join } from "node:path";
import { cancel, waitForJob } from "../mod.ts";
import { FileJobStore } from "../jobs.ts";
import { jobs, withTempDir } from "../testdata/cli_helpers.ts";
import {
  finalJob,
  gateCommand,
  mustSpawn,
  until,
} from "../testdata/spawn_helpers.ts";

async function gated(store: string, gate: string, after?: string[]) {
  return (await mustSpawn({
    command: "sh",
    args: ["-c", gateCommand(gate)],
    store,
    after,
  })).jobId;
}

async function status(store: string, id: string) {
  return (await new FileJobStore(store).load(id)).status;
}

// In-process scheduler passes start supervisors that are never waited
// for (they outlive the pass by design): Deno 2.7's sanitizers count them.
const UNWAITED = { sanitizeOps: false, sanitizeResources: false };

Deno.test("a deleted .pending strands no waiting job", UNWAITED, async (t) => {
  for (
    const [how, repair] of [
      ["a jobs listing", (s: string) => jobs(s)],
      [
        "a wait for the waiting job",
        (s: string, id: string) =>
          waitForJob(id, { store: s, timeout: 15_000 }),
      ],
    ] as const
  ) {
    await t.step(`${how} starts it`, async () => {
      await withTempDir(async (dir) => {
        const store = join(dir, "jobs");
        const b = await gated(store, join(dir, "go"));
        const a = await gated(store, join(dir, "go"), [b]);
        assert.equal(await status(store, a), "waiting");
        await Deno.remove(join(store, ".pending"));
        await Deno.writeTextFile(join(dir, "go"), "");
        assert.equal((await finalJob(store, b)).status, "completed");
        assert.equal(await status(store, a), "waiting");
        await repair(store, a);
        await until(
          "the waiting job's start",
          async () => (await status(store, a)) !== "waiting",
          15_000,
        );
        assert.equal((await finalJob(store, a)).status, "completed");
      });
    });
  }
});

Deno.test(
  "a failed pass at a job's end is noted in its log",
  UNWAITED,
  async () => {
    await withTempDir(async (dir) => {
      const store = join(dir, "jobs");
      const b = await gated(store, join(dir, "go"));
      const a = await gated(store, join(dir, "go"), [b]);
      try {
        await Deno.writeTextFile(join(store, "limit"), "garbage\n");
        await Deno.writeTextFile(join(dir, "go"), "");
        const ended = await finalJob(store, b);
        await until(
          "the note in b's log",
          async () =>
            (await Deno.readTextFile(ended.logPath)).includes(
              "queued and waiting jobs not started: Invalid parallel limit",
            ),
          15_000,
        );
      } finally {
        await Deno.remove(join(store, "limit"));
        await cancel(a, { store });
      }
    });
  },
);
