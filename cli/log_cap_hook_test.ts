// --log-max with --on-end: the hook writes into the job's log, so the cap
// holds for what it prints too, and its last line is the supervisor's.

import assert from "node:assert/strict";
import { cli, withTempDir } from "../testdata/cli_helpers.ts";

Deno.test("an end hook's output is kept under the job's log cap", async () => {
  await withTempDir(async (dir) => {
    const at = ["--jobs-dir", `${dir}/jobs`];
    // The worker prints a line; the hook 2 MB against a 64 KiB cap.
    // Then, once the log is under the rotation threshold (half the cap),
    // a last line: no rotation can come while it is written, so it is kept
    // (bytes written between a rotation's copy and its truncate are lost).
    const hook =
      'i=1; while [ $i -le 20000 ]; do printf "%099d\\n" $i; i=$((i+1)); done; ' +
      'while [ "$(wc -c < "$EPACK_JOB_LOG")" -ge 32768 ]; do sleep 0.01; done; ' +
      "echo end";
    const started = await cli([
      "run",
      "--detach",
      ...at,
      "--json",
      "--log-max",
      "64KiB",
      "--on-end",
      hook,
      "--",
      "echo",
      "worker",
    ]);
    assert.equal(started.code, 0, started.stderr);
    const { id: jobId, log_path: logPath } = JSON.parse(started.stdout);
    const waited = await cli(["jobs", "wait", jobId, ...at]);
    assert.equal(waited.code, 0, waited.stdout + waited.stderr);
    // The hook runs after the end is recorded: wait for its last line.
    const deadline = Date.now() + 30_000;
    let log = "";
    while (!/on-end hook exited with code 0\n$/.test(log)) {
      assert.ok(Date.now() < deadline, `hook not done: ${log.slice(-200)}`);
      await new Promise((r) => setTimeout(r, 100));
      log = await Deno.readTextFile(logPath);
    }
    const older = await Deno.readTextFile(`${logPath}.1`);
    // The last look came after the hook's output and before the
    // supervisor's line that says how it ended: <log> is under half the
    // cap. (<log>.1 holds what the last rotation copied: the cap is soft,
    // by how late a loaded machine let the supervisor look; but it dropped
    // output, where the hook wrote 2 MB.)
    assert.ok(log.length <= 32 * 1024 + 100, `log is ${log.length} bytes`);
    assert.ok(older.length + log.length < 2_000_000, "output was dropped");
    // (A rotation copies at most the cap: `.1` may stop inside a line.)
    assert.match(
      log,
      /(^|\n)end\n\[@epack\/detach\] on-end hook exited with code 0\n$/,
      (older + log).slice(-300),
    );
  });
});
