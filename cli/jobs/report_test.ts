// `epack jobs report`: a shell worker's progress and result, from a real
// job; outside a job, a check that does nothing.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FileJobStore } from "../../jobs.ts";
import {
  assertOneLineError,
  cli,
  MOD,
  withTempDir,
} from "../../testdata/cli_helpers.ts";
import { until } from "../../testdata/spawn_helpers.ts";

Deno.test("jobs report records a shell worker's progress and result", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const epack = `'${Deno.execPath()}' run -A '${MOD}'`;
    const script = [
      `${epack} jobs report --done 5 --total 10 --unit files --message half`,
      `${epack} jobs report --result '{"files": 10}'`,
      `${epack} jobs report --done 10 --total 10 --unit files --json`,
    ].join(" && ");
    const started = await cli([
      "run",
      "-d",
      "--json",
      "--jobs-dir",
      jobsDir,
      "--",
      "sh",
      "-c",
      script,
    ], { cwd: dir });
    assert.equal(started.code, 0, started.stderr);
    const id: string = JSON.parse(started.stdout).id;
    const jobs = new FileJobStore(jobsDir);
    const end = await until("the end", async () => {
      const job = await jobs.load(id);
      return job.status === "running" ? undefined : job;
    }, 30_000);
    const log = await Deno.readTextFile(end.logPath);
    assert.equal(end.status, "completed", log);
    assert.deepEqual(end.result, { files: 10 });
    assert.equal(end.progress?.done, 10);
    assert.equal(end.progress?.unit, "files");
    assert.equal(end.progress?.message, undefined, "each report is whole");
    assert.deepEqual(JSON.parse(log), { id, reported: true });
  });
});

Deno.test("jobs report outside a job checks its values and does nothing", async (t) => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    await t.step("valid values: exit 0, nothing written", async () => {
      const r = await cli(
        ["jobs", "report", "--done", "1", "--jobs-dir", jobsDir, "--json"],
        { cwd: dir },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { id: null, reported: false });
      await assert.rejects(() => Deno.stat(jobsDir), Deno.errors.NotFound);
    });
    const bad: [string[], RegExp][] = [
      [[], /^error: Nothing to report/],
      [["--done", "-1"], /^error: Invalid --done "-1": a number, 0 or more/],
      [["--done", "x"], /^error: Invalid --done "x"/],
      [["--done", "0x10"], /^error: Invalid --done "0x10"/],
      [["--done", "1e3"], /^error: Invalid --done "1e3"/],
      [["--done", "1", "--total", " 2"], /^error: Invalid --total " 2"/],
      [["--done", "5", "--total", "2"], /"done" \(5\) is more than "total"/],
      [["--total", "2"], /--total, --unit and --message go with --done/],
      [["--done", "1", "--message", "a\tb"], /control character \(U\+0009\)/],
      [["--result", "[1]"], /^error: Invalid result: not a JSON object/],
      [["--result", "{"], /^error: Invalid --result: not JSON/],
    ];
    for (const [args, pattern] of bad) {
      await t.step(args.join(" ") || "no values", async () => {
        const r = await cli(["jobs", "report", ...args, "--jobs-dir", jobsDir]);
        assertOneLineError(r, 1, pattern);
      });
    }
  });
});

Deno.test("jobs report refuses a result nested too deep for the record's readers, with a reason", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const epack = `'${Deno.execPath()}' run -A '${MOD}'`;
    // 6000 levels: within 64 KiB, but deeper than the record's writer (and
    // Go's reader, past 10,000) can go; 100 levels are within the bound.
    const deep = `{"d":${"[".repeat(6000)}1${"]".repeat(6000)}}`;
    const fine = `{"d":${"[".repeat(99)}1${"]".repeat(99)}}`;
    await Deno.writeTextFile(join(dir, "deep.json"), deep);
    const script = [
      `${epack} jobs report --result "$(cat deep.json)" 2>deep.err; echo "deep $?"`,
      `${epack} jobs report --result '${fine}'; echo "fine $?"`,
    ].join("; ");
    const started = await cli([
      "run",
      "-d",
      "--json",
      "--jobs-dir",
      jobsDir,
      "--",
      "sh",
      "-c",
      script,
    ], { cwd: dir });
    assert.equal(started.code, 0, started.stderr);
    const id: string = JSON.parse(started.stdout).id;
    const jobs = new FileJobStore(jobsDir);
    const end = await until("the end", async () => {
      const job = await jobs.load(id);
      return job.status === "running" ? undefined : job;
    }, 30_000);
    const log = await Deno.readTextFile(end.logPath);
    assert.equal(log, "deep 1\nfine 0\n");
    assertOneLineError(
      { code: 1, stderr: await Deno.readTextFile(join(dir, "deep.err")) },
      1,
      /Invalid result: nested more than 100 levels deep/,
    );
    assert.deepEqual(end.result, JSON.parse(fine));
  });
});

Deno.test("jobs report to a job that has ended says the progress was dropped", async () => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);
    const job = await store.create({ command: "true" });
    await store.finish(job.id, { status: "completed", exitCode: 0 });
    const r = await cli(
      ["jobs", "report", "--done", "1", "--jobs-dir", dir, "--json"],
      { env: { EPACK_DETACH_JOB_ID: job.id } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      id: job.id,
      reported: false,
      reason: "the job has ended (completed)",
    });
    assert.match(r.stderr, /^warning: job \w+ has ended \(completed\)/);
    assert.equal((await store.load(job.id)).progress, undefined);
  });
});
