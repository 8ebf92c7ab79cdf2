// `run --detach --retry N --retry-delay D --on-end CMD`, end to end through
// the real CLI: the job is retried, `jobs wait` waits for its last attempt,
// `jobs <id> --json` holds every attempt, and the end hook has run.

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, jobs, withTempDir } from "../testdata/cli_helpers.ts";
import { alive, until } from "../testdata/spawn_helpers.ts";

Deno.test("run --detach --retry 2 --retry-delay 100ms --on-end: retried to success, waited for, shown, hooked", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const state = join(dir, "state");
    const r = await cli([
      "run",
      "--detach",
      "--retry",
      "2",
      "--retry-delay",
      "100ms",
      "--on-end",
      'echo "hook: $EPACK_JOB_STATUS"',
      "--jobs-dir",
      jobsDir,
      "--",
      "sh",
      "-c",
      `n=$(cat '${state}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '${state}'; ` +
      `echo "run $n"; [ $n -ge 3 ] || exit 5`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const id = /Started job (\w+)/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);

    const waited = await jobs(jobsDir, "wait", id, "--timeout", "30s");
    assert.equal(waited.code, 0, waited.stdout + waited.stderr);

    const shown = await jobs(jobsDir, id, "--json");
    assert.equal(shown.code, 0, shown.stderr);
    const record = JSON.parse(shown.stdout);
    assert.equal(record.status, "completed");
    assert.equal(record.retries, 2);
    assert.equal(record.retry_delay_ms, 100);
    assert.deepEqual(
      record.attempts.map((a: { exit_code?: number }) => a.exit_code),
      [5, 5, 0],
    );

    await until("the supervisor to finish the hook", () => !alive(record.pid));
    const log = await Deno.readTextFile(record.log_path);
    assert.match(
      log,
      /^run 1\n\[@epack\/detach\] attempt 2 of 3 after exit code 5, in \d+ms\nrun 2\n\[@epack\/detach\] attempt 3 of 3 after exit code 5, in \d+ms\nrun 3\n\[@epack\/detach\] on-end hook: echo "hook: \$EPACK_JOB_STATUS"\nhook: completed\n\[@epack\/detach\] on-end hook exited with code 0\n$/,
    );
  });
});

Deno.test("run --detach --retry 1: a job that keeps failing ends with its last exit code, which jobs wait passes on", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const r = await cli([
      "run",
      "-d",
      "--retry",
      "1",
      "--retry-delay",
      "0ms",
      "--jobs-dir",
      jobsDir,
      "--",
      "sh",
      "-c",
      "exit 6",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const id = /Started job (\w+)/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    const waited = await jobs(jobsDir, "wait", id, "--timeout", "30s");
    assert.equal(waited.code, 6, waited.stdout + waited.stderr);
    const record = JSON.parse((await jobs(jobsDir, id, "--json")).stdout);
    assert.equal(record.status, "failed");
    assert.equal(record.error, "Exited with code 6 (attempt 2 of 2)");
    assert.equal(record.attempts.length, 2);
  });
});
