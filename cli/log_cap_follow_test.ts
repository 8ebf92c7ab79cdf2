// `jobs logs -f` of a job whose log cap drops output the follower has not
// read yet: a real detached job, a real follower held back by a full pipe.

import assert from "node:assert/strict";
import { cli, MOD, withTempDir } from "../testdata/cli_helpers.ts";

for (const mode of ["in-place", "pipe"]) {
  Deno.test(`jobs logs -f says where the log cap dropped output before it was read (${mode})`, async () => {
    await withTempDir(async (dir) => {
      const at = ["--jobs-dir", `${dir}/jobs`];
      // 2 MB of numbered lines against a 64 KiB cap, once the follower is
      // there.
      const script =
        'sleep 1; i=1; while [ $i -le 20000 ]; do printf "%099d\\n" $i; i=$((i+1)); done';
      const started = await cli(
        [
          "run",
          "--detach",
          ...at,
          "--json",
          "--log-max",
          "64KiB",
          "--",
          "sh",
          "-c",
          script,
        ],
        { env: { EPACK_DETACH_LOG_CAP: mode } },
      );
      assert.equal(started.code, 0, started.stderr);
      const { jobId } = JSON.parse(started.stdout);
      // Its stdout is not read until the job has ended: the follower stops
      // at a full pipe while the cap drops what it has not read.
      const follower = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MOD, "jobs", "logs", jobId, "-f", ...at],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      const waited = await cli(["jobs", "wait", jobId, ...at]);
      assert.equal(waited.code, 0, waited.stdout + waited.stderr);
      const { code, stdout, stderr } = await follower.output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 0, err);
      assert.match(
        err,
        /warning: .*: \d+ bytes were dropped by the log cap before they could be read/,
      );
      // The output still ends with the job's last line.
      const out = new TextDecoder().decode(stdout);
      assert.ok(out.endsWith(String(20000).padStart(99, "0") + "\n"));
    });
  });
}
