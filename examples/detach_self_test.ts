// The consumer example end to end: run as a user would run it, with only the
// permissions it documents, it exits at once, and the command it detached
// runs on and is recorded as completed.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { FileJobStore, waitForJob } from "../mod.ts";

const EXAMPLE = fileURLToPath(new URL("./detach_self.ts", import.meta.url));

Deno.test("examples/detach_self.ts exits at once, and its detached job completes and is recorded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detach_example_" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-run",
        // spawn() reads only this variable, to refuse to run inside a job.
        "--allow-env=EPACK_DETACH_JOB_ID",
        EXAMPLE,
        "--jobs-dir",
        dir,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const jobId = /^Started job (\w+)$/m.exec(stdout)?.[1];
    assert.ok(jobId, stdout);

    // The job's work takes 2 s: a script that had waited for it would find
    // it ended. Right after the script's exit it is still running.
    const store = new FileJobStore(dir);
    assert.equal((await store.load(jobId)).status, "running");

    const job = await waitForJob(jobId, { store: dir, timeout: 30_000 });
    assert.equal(job.status, "completed", job.error);
    assert.equal(job.exitCode, 0);
    assert.equal(job.command, "report");
    assert.ok(job.completedAt! >= job.startedAt);
    const log = await Deno.readTextFile(job.logPath);
    assert.match(log, /^report: started, PID \d+\nreport: done\n$/);
    // The job ran with the permissions the example was given, no more.
    const argv = job.argv ?? [];
    assert.ok(
      !argv.includes("-A") && !argv.includes("--allow-all"),
      argv.join(" "),
    );
    for (const flag of ["--allow-read", "--allow-write", "--allow-run"]) {
      assert.ok(argv.includes(flag), `${flag} missing from ${argv.join(" ")}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
