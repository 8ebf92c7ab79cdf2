// --log-max end to end: a real detached job writes far more than its cap,
// through the CLI, in both of the cap's modes.

import assert from "node:assert/strict";
import { cli, withTempDir } from "../testdata/cli_helpers.ts";

for (const mode of ["in-place", "pipe"]) {
  Deno.test(`run --detach --log-max keeps the log under its cap, newest output last (${mode})`, async () => {
    await withTempDir(async (dir) => {
      const at = ["--jobs-dir", `${dir}/jobs`];
      // 20,000 numbered lines of 100 bytes: 2 MB against a 64 KiB cap.
      const script =
        'i=1; while [ $i -le 20000 ]; do printf "%099d\\n" $i; i=$((i+1)); done';
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
      const { jobId, logPath } = JSON.parse(started.stdout);
      const waited = await cli(["jobs", "wait", jobId, ...at]);
      assert.equal(waited.code, 0, waited.stdout + waited.stderr);
      const log = await Deno.readTextFile(logPath);
      assert.ok(log.length <= 64 * 1024, `log is ${log.length} bytes`);
      const lines = log.split("\n");
      const header = /^\[@epack\/detach\] (\d+) earlier bytes were dropped/
        .exec(lines[0]);
      assert.ok(header, `first line: ${lines[0].slice(0, 120)}`);
      // Every byte is either dropped or kept: 2,000,000 written in all.
      const kept = new TextEncoder().encode(log).length -
        (new TextEncoder().encode(lines[0]).length + 1);
      assert.equal(Number(header[1]) + kept, 20_000 * 100);
      // The newest output is kept whole and in order, ending with the last
      // line.
      assert.equal(lines.at(-1), "");
      assert.equal(lines.at(-2), String(20000).padStart(99, "0"));
      const numbers = lines.slice(2, -1).map(Number);
      for (let i = 1; i < numbers.length; i++) {
        assert.equal(numbers[i], numbers[i - 1] + 1);
      }
      const shown = await cli(["jobs", jobId, ...at]);
      assert.match(shown.stdout, /Log cap: +64 KiB/);
    });
  });
}
