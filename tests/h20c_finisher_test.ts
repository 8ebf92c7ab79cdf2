// A finisher that could not finish is run again (issue 20, part C): the
// end hook's claim that cannot be written asks for another try rather than
// ending the finisher as done, which would lose the hook.

import assert from "node:assert/strict";
import { FileJobStore } from "../jobs.ts";
import type { JobStore } from "../store/contract.ts";
import { finishJob, TRY_AGAIN } from "../supervise/finish.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";

Deno.test("a hook claim that cannot be written is tried again, and the hook runs once", async () => {
  await withTempDir(async (dir) => {
    const real = new FileJobStore(dir);
    const mark = `${dir}/hook-ran`;
    const job = await real.create({
      command: "true",
      onEnd: `echo ran >> '${mark}'`,
    });
    await real.finish(job.id, { status: "completed", exitCode: 0 });
    // A store whose first write fails (a full disk for a moment).
    let failed = false;
    const store = new Proxy(real, {
      get(target, key) {
        if (key === "update" && !failed) {
          return () => {
            failed = true;
            return Promise.reject(new Error("ENOSPC: disk full"));
          };
        }
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as JobStore;
    assert.equal(await finishJob(store, job.id), TRY_AGAIN);
    assert.ok(failed);
    assert.equal(await Deno.readTextFile(mark).catch(() => ""), "");
    assert.equal(await finishJob(store, job.id), 0);
    assert.equal(await Deno.readTextFile(mark), "ran\n");
    assert.equal(await finishJob(store, job.id), 0);
    assert.equal(await Deno.readTextFile(mark), "ran\n");
  });
});
