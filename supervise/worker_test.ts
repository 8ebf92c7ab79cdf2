// The words for a worker's end: exit codes 126 and 127 are "cannot run it"
// only when the program could not be run, never when the program exits
// with them itself (the shim is told by its exec; the Deno supervisor by a
// lookup before the attempt). Real jobs, real shells.

import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { finalJob, mustSpawn } from "../testdata/spawn_helpers.ts";
import { notRunnable } from "./worker.ts";

Deno.test("a worker that exits 127 or 126 by itself is not called missing or not executable", async () => {
  await withTempDir(async (dir) => {
    for (const code of [127, 126]) {
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", `exit ${code}`],
        store: dir,
      });
      const job = await finalJob(dir, jobId);
      assert.equal(job.status, "failed");
      assert.equal(job.exitCode, code);
      assert.equal(job.error, `Exited with code ${code}`);
    }
  });
});

Deno.test("a program gone by the time its attempt starts is 'command not found', in the shell's words in the log", async () => {
  await withTempDir(async (dir) => {
    // The first attempt removes the program and fails; the second finds it
    // gone.
    const program = join(dir, "once.sh");
    await Deno.writeTextFile(program, `#!/bin/sh\nrm -- "$0"\nexit 3\n`);
    await Deno.chmod(program, 0o755);
    const { jobId } = await mustSpawn({
      command: program,
      store: dir,
      retries: 1,
      retryDelay: 10,
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "failed");
    assert.equal(job.exitCode, 127);
    assert.equal(
      job.error,
      `Exited with code 127: command not found: ${program} (attempt 2 of 2)`,
    );
    // Said in the log too: the shim's words, or the shell's, as `sh`, not
    // as the log's path.
    const log = await Deno.readTextFile(job.logPath);
    assert.match(
      log,
      /\n(\[@epack\/detach\] command not found: |sh: ).*not found.*\n$|\n\[@epack\/detach\] command not found: .*\n$/,
    );
  });
});

Deno.test("notRunnable() names the shell's failure only with the lookup's reason and the matching code", () => {
  const missing = { ok: false, reason: "not_found" } as const;
  const denied = { ok: false, reason: "not_executable" } as const;
  assert.equal(notRunnable(127, "foo", missing), "command not found: foo");
  assert.equal(
    notRunnable(126, "foo", denied),
    "cannot execute foo: permission denied",
  );
  assert.equal(notRunnable(127, "foo", undefined), undefined);
  assert.equal(notRunnable(126, "foo", missing), undefined);
  assert.equal(notRunnable(1, "foo", missing), undefined);
});
