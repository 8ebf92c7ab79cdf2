// The supervisor's robustness (issue 20, part C): what a user may do to the
// shim's file, a job's control file or its log, and what a worker leaves
// behind, must neither stop supervision nor leave a process unsupervised.
// Run with the shim (deno task test) and the Deno fallback (test:fallback).

import assert from "node:assert/strict";
import { FileJobStore } from "../jobs.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import {
  alive,
  finalJob,
  gateCommand,
  mustSpawn,
  until,
} from "../testdata/spawn_helpers.ts";

const SHIM = Deno.env.get("EPACK_DETACH_SHIM") !== "0";

Deno.test({
  name: "a removed shim file stops neither a timeout nor an end hook",
  ignore: !SHIM,
  fn: async () => {
    await withTempDir(async (dir) => {
      const mark = `${dir}/hook-ran`;
      const timed = await mustSpawn({
        command: "sleep",
        args: ["30"],
        timeout: 1_500,
        store: dir,
      });
      const hooked = await mustSpawn({
        command: "sh",
        args: ["-c", `${gateCommand(`${dir}/gate`)}; exit 3`],
        onEnd: `echo ran >> '${mark}'`,
        store: dir,
      });
      const store = new FileJobStore(dir);
      for (const id of [timed.jobId, hooked.jobId]) {
        await until(
          "the worker",
          async () => (await store.load(id)).workerPid !== undefined,
        );
      }
      for await (const e of Deno.readDir(dir)) {
        if (e.name.startsWith(".shim-")) await Deno.remove(`${dir}/${e.name}`);
      }
      await Deno.writeTextFile(`${dir}/gate`, "");
      assert.equal((await finalJob(dir, timed.jobId)).status, "timed_out");
      const ended = await finalJob(dir, hooked.jobId);
      assert.equal(ended.exitCode, 3);
      await until(
        "the end hook",
        () => Deno.readTextFile(mark).then((t) => t === "ran\n", () => false),
      );
    });
  },
});

Deno.test("a writer that ends between two trims leaves its log under the cap", async () => {
  await withTempDir(async (dir) => {
    const cap = 256 * 1024;
    const { jobId, logPath } = await mustSpawn({
      command: "sh",
      args: ["-c", "sleep 0.5; dd if=/dev/zero bs=4M count=1 status=none"],
      logMax: cap,
      store: dir,
    });
    assert.equal((await finalJob(dir, jobId)).status, "completed");
    const size = (path: string) => Deno.stat(path).then((s) => s.size, () => 0);
    const total = await size(logPath) + await size(`${logPath}.1`);
    assert.ok(total <= cap, `log and log.1: ${total} bytes, cap ${cap}`);
  });
});

Deno.test("what a worker leaves in its group is stopped at the job's end", async () => {
  await withTempDir(async (dir) => {
    const pidFile = `${dir}/left.pid`;
    const { jobId, logPath } = await mustSpawn({
      command: "sh",
      args: ["-c", `sleep 60 & echo $! > '${pidFile}'; exit 0`],
      timeout: 30_000,
      grace: 2_000,
      store: dir,
    });
    let left = 0;
    try {
      assert.equal((await finalJob(dir, jobId)).status, "completed");
      left = Number(await Deno.readTextFile(pidFile));
      await until(
        "the process left behind to be stopped",
        () => !alive(left),
        10_000,
      );
      assert.match(
        await Deno.readTextFile(logPath),
        /stopped 1 process the job left in its process group\n/,
      );
    } finally {
      if (left > 1 && alive(left)) Deno.kill(left, "SIGKILL");
    }
  });
});

Deno.test("a FIFO or a huge file at <id>.ctl freezes no supervisor", async () => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);
    const start = async () => {
      const { jobId } = await mustSpawn({
        command: "sleep",
        args: ["30"],
        timeout: 20_000,
        store: dir,
      });
      const job = await until("the worker", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined && j;
      });
      return { jobId, pid: job.pid! };
    };
    const fifo = await start();
    await new Deno.Command("mkfifo", { args: [`${dir}/${fifo.jobId}.ctl`] })
      .output();
    Deno.kill(fifo.pid, "SIGTERM");
    const huge = await start();
    await Deno.writeTextFile(`${dir}/${huge.jobId}.ctl`, "P\n".repeat(40_000));
    Deno.kill(huge.pid, "SIGTERM");
    for (const { jobId } of [fifo, huge]) {
      const ended = await finalJob(dir, jobId);
      assert.equal(ended.status, "cancelled", ended.error);
    }
    assert.match(
      await Deno.readTextFile(store.logPath(huge.jobId)),
      /the control file is over 64 KiB: ignored/,
    );
  });
});
