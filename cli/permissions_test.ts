// Specification of the CLI under narrowed Deno permissions: a missing
// permission is named, as the flag to add, in one error line. It is never
// taken for something else ("Command not found"), and nothing is written.

import assert from "node:assert/strict";
import { join } from "../util/path.ts";
import { FileJobStore } from "../jobs.ts";
import {
  assertOneLineError,
  cli,
  craftEnded,
  listDir,
  settled,
  stopJob,
  until,
  withTempDir,
  writeRegistry,
} from "../testdata/cli_helpers.ts";

const RW = ["--allow-read", "--allow-write"];

Deno.test("run --detach names the permission it lacks, never 'Command not found'", async (t) => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const cases: [string[], string][] = [
      [RW, "--allow-env"],
      [[...RW, "--allow-env"], "--allow-run"],
      [["--allow-read", "--allow-env", "--allow-run"], "--allow-write"],
    ];
    for (const [permissions, missing] of cases) {
      await t.step(`${permissions.join(" ")}: names ${missing}`, async () => {
        for (const program of ["true", "no-such-program-zz", "/bin/true"]) {
          const r = await cli(
            ["run", "--detach", "--jobs-dir", jobsDir, "--", program],
            { permissions },
          );
          assertOneLineError(r, 1, new RegExp(`needs ${missing}\\b`));
          assert.doesNotMatch(r.stderr, /not found/i);
          await assert.rejects(Deno.stat(jobsDir), Deno.errors.NotFound);
        }
      });
    }
    await t.step("the documented set starts the job", async () => {
      const r = await cli(
        ["run", "--detach", "--jobs-dir", jobsDir, "--json", "--", "true"],
        { permissions: [...RW, "--allow-env", "--allow-run"] },
      );
      assert.equal(r.code, 0, r.stderr);
      const { id: jobId } = JSON.parse(r.stdout);
      assert.ok(jobId);
      // Its supervisor done with the dir before the dir goes.
      await settled(jobsDir, jobId);
    });
  });
});

Deno.test("a foreground run without --allow-run names it, never 'Command not found'", async () => {
  for (const program of ["true", "/bin/true"]) {
    const r = await cli(["run", "--", program], {
      permissions: ["--allow-read"],
    });
    assertOneLineError(r, 1, /--allow-run permission is missing/);
    assert.doesNotMatch(r.stderr, /not found/i);
  }
});

Deno.test("pull --detach names the permission it lacks before any job is recorded", async () => {
  await withTempDir(async (dir) => {
    const reg = join(dir, "reg");
    await writeRegistry(reg, [{
      name: "p",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
    }]);
    const jobsDir = join(dir, "jobs");
    const cases: [string[], RegExp][] = [
      [RW, /needs --allow-env\b/],
      [[...RW, "--allow-env"], /needs --allow-run\b/],
      [["--allow-read", "--allow-env", "--allow-run"], /needs --allow-write\b/],
      [
        ["--allow-write", "--allow-env", "--allow-run"],
        /^error: Cannot read the registry index .*index\.json: Deno permission missing .*--allow-read/,
      ],
    ];
    for (const [permissions, pattern] of cases) {
      const r = await cli(
        ["pull", reg, "--detach", "--jobs-dir", jobsDir],
        { permissions },
      );
      assertOneLineError(r, 1, pattern);
      await assert.rejects(Deno.stat(jobsDir), Deno.errors.NotFound);
    }
  });
});

Deno.test("jobs names the permission it lacks, and changes nothing", async (t) => {
  await withTempDir(async (dir) => {
    const started = await cli([
      "run",
      "--detach",
      "--jobs-dir",
      dir,
      "--json",
      "--",
      "sleep",
      "60",
    ]);
    assert.equal(started.code, 0, started.stderr);
    const { id: jobId } = JSON.parse(started.stdout);
    try {
      await until(dir, jobId, (j) => j.workerPid !== undefined);
      // An ended job for clean to (not) remove.
      await craftEnded(new FileJobStore(dir), { agoMs: 60_000 });
      const names = await listDir(dir);
      const record = await Deno.readTextFile(join(dir, `${jobId}.json`));
      const cases: [string[], string[], RegExp][] = [
        [[], [], /--allow-read flag/],
        [[], [jobId], /--allow-read flag/],
        [[], ["logs", jobId], /--allow-read flag/],
        [[], ["wait", jobId], /--allow-read flag/],
        [["--allow-write"], ["cancel", jobId], /--allow-read flag/],
        [["--allow-read"], ["cancel", jobId], /--allow-write\b/],
        [["--allow-read"], ["clean", "--older-than", "1ms"], /--allow-write/],
      ];
      for (const [permissions, args, pattern] of cases) {
        await t.step(
          `[${permissions.join(" ")}] jobs ${args.join(" ")}`,
          async () => {
            const r = await cli([
              "jobs",
              ...args,
              "--jobs-dir",
              dir,
            ], { permissions });
            assertOneLineError(r, 1, pattern);
            assert.deepEqual(await listDir(dir), names);
            assert.equal(
              await Deno.readTextFile(join(dir, `${jobId}.json`)),
              record,
            );
          },
        );
      }
      await t.step("[--allow-read --allow-write] jobs cancel", async () => {
        const r = await cli(["jobs", "cancel", jobId, "--jobs-dir", dir], {
          permissions: RW,
        });
        assertOneLineError(r, 1, /cancel\(\) needs --allow-run/);
      });
      await t.step(
        "[--allow-read --allow-write] jobs cancel changes nothing",
        async () => {
          assert.equal(
            await Deno.readTextFile(join(dir, `${jobId}.json`)),
            record,
          );
        },
      );
      assert.equal((await new FileJobStore(dir).load(jobId)).status, "running");
    } finally {
      await stopJob(dir, jobId);
    }
  });
});
