// A hostile file where a job's journal or control file should be (issue 20,
// REVIEW1 #3): a FIFO must not hang a listing, and a symlink must never
// lead a write (the launcher's plan, a supervisor's line, a cancel) onto its
// target.

import assert from "node:assert/strict";
import { cancel } from "../mod.ts";
import { FileJobStore } from "../jobs.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import {
  DENO,
  finalJob,
  gateCommand,
  mustSpawn,
  until,
} from "../testdata/spawn_helpers.ts";

/** Lists `dir` in a child process; whether it finished within 15 s. */
async function listsInTime(dir: string): Promise<boolean> {
  const code = `import { FileJobStore } from ${
    JSON.stringify(new URL("../jobs.ts", import.meta.url).href)
  }; await new FileJobStore(${JSON.stringify(dir)}).list();`;
  const child = new Deno.Command(DENO, {
    args: ["eval", code],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let done = false;
  const status = child.status.then((s) => (done = true, s));
  const ok = await until("the listing", () => done, 15_000).then(
    () => true,
    () => false,
  );
  if (!ok) child.kill("SIGKILL");
  await status;
  return ok;
}

Deno.test("a FIFO at a running job's <id>.live does not hang a listing", async () => {
  await withTempDir(async (dir) => {
    const gate = `${dir}/gate`;
    const { jobId } = await mustSpawn({
      command: "sh",
      args: ["-c", gateCommand(gate)],
      store: dir,
    });
    const store = new FileJobStore(dir);
    await until(
      "the worker",
      async () => (await store.load(jobId)).workerPid !== undefined,
    );
    const live = `${dir}/${jobId}.live`;
    await Deno.rename(live, `${live}.real`);
    await new Deno.Command("mkfifo", { args: [live] }).output();
    try {
      assert.ok(await listsInTime(dir), "the listing hung on the FIFO");
    } finally {
      await Deno.remove(live);
      await Deno.rename(`${live}.real`, live);
      await Deno.writeTextFile(gate, "");
    }
    assert.equal((await finalJob(dir, jobId)).status, "completed");
  });
});

Deno.test("a symlink at <id>.live or <id>.ctl never leads a write to its target", async (t) => {
  await withTempDir(async (dir) => {
    const victim = `${dir}/victim`;
    await Deno.writeTextFile(victim, "precious\n");
    await t.step("the plan of a job started later", async () => {
      const gate = `${dir}/gate`;
      const first = await mustSpawn({
        command: "sh",
        args: ["-c", gateCommand(gate)],
        store: dir,
      });
      const later = await mustSpawn({
        command: "true",
        store: dir,
        after: [first.jobId],
      });
      const live = `${dir}/${later.jobId}.live`;
      await Deno.remove(live);
      await Deno.symlink(victim, live);
      await Deno.writeTextFile(gate, "");
      await finalJob(dir, first.jobId);
      // Whatever becomes of the later job, the victim is untouched.
      await until("the later job to be settled", async () => {
        const j = await new FileJobStore(dir).load(later.jobId);
        return j.status !== "waiting" && j.status !== "queued";
      }).catch(() => undefined);
      assert.equal(await Deno.readTextFile(victim), "precious\n");
    });
    await t.step("a cancel's line", async () => {
      const gate = `${dir}/gate2`;
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", gateCommand(gate)],
        store: dir,
      });
      const store = new FileJobStore(dir);
      await until(
        "the worker",
        async () => (await store.load(jobId)).workerPid !== undefined,
      );
      const ctl = `${dir}/${jobId}.ctl`;
      await Deno.symlink(victim, ctl);
      await cancel(jobId, { store: dir, grace: 200 }).catch(() => undefined);
      assert.equal(await Deno.readTextFile(victim), "precious\n");
      await Deno.remove(ctl);
      await Deno.writeTextFile(gate, "");
      await finalJob(dir, jobId);
    });
  });
});
