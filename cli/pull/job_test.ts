// A pull that runs as a job (`pull --detach`) reports its bytes to the
// job's record as it downloads, and records what it wrote as the job's
// result. Real jobs, real HTTP servers on 127.0.0.1.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FileJobStore } from "../../jobs.ts";
import {
  cli,
  serveDir,
  serveTruncated,
  sha256,
  withTempDir,
  writeRegistry,
} from "../../testdata/cli_helpers.ts";
import { until } from "../../testdata/spawn_helpers.ts";

Deno.test("a detached pull records its progress and its result", async () => {
  await withTempDir(async (dir) => {
    const reg = join(dir, "reg");
    const content = "x".repeat(300_000) + "end\n";
    await writeRegistry(reg, [{
      name: "big",
      version: "v1",
      release: "rel_1",
      published_at: "2024-01-01T00:00:00Z",
      content,
    }]);
    await using server = serveDir(reg);
    const jobsDir = join(dir, "jobs");
    const output = join(dir, "big.epack");
    const started = await cli([
      "pull",
      server.url,
      "-o",
      output,
      "--detach",
      "--json",
      "--jobs-dir",
      jobsDir,
    ], { cwd: dir });
    assert.equal(started.code, 0, started.stderr);
    const id: string = JSON.parse(started.stdout).id;
    const jobs = new FileJobStore(jobsDir);
    const end = await until("the pull's end", async () => {
      const job = await jobs.load(id);
      return job.status === "running" ? undefined : job;
    }, 30_000);
    assert.equal(end.status, "completed", end.error);
    const size = content.length;
    assert.deepEqual(
      {
        name: end.result?.name,
        version: end.result?.version,
        release: end.result?.release,
        digest: end.result?.digest,
        size: end.result?.size,
        output: end.result?.output,
        verified: end.result?.verified,
      },
      {
        name: "big",
        version: "v1",
        release: "rel_1",
        digest: sha256(content),
        size,
        output,
        verified: true,
      },
    );
    assert.deepEqual(
      { ...end.progress, updatedAt: undefined },
      {
        done: size,
        total: size,
        unit: "B",
        message: "Pulling big v1",
        updatedAt: undefined,
      },
    );
    const shown = await cli(["jobs", id, "--jobs-dir", jobsDir]);
    assert.match(shown.stdout, /\n {2}Progress: +100% 293 KiB\/293 KiB, /);
    assert.match(shown.stdout, /\n {2}Result: +\{\n +"name": "big",\n/);
  });
});

Deno.test("a detached pull shows how far it got while it downloads", async () => {
  await withTempDir(async (dir) => {
    await writeRegistry(dir, [{
      name: "p",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
      content: new Uint8Array(200_000).fill(0x61),
      path: "pack.epack",
    }]);
    const index = await Deno.readTextFile(join(dir, "index.json"));
    // 50 000 of 200 000 bytes, then silence: the pull waits mid-download.
    await using server = serveTruncated(200_000, 50_000, {
      stall: true,
      files: { "/index.json": index },
    });
    const jobsDir = join(dir, "jobs");
    const started = await cli([
      "pull",
      server.url,
      "-o",
      join(dir, "p.epack"),
      "--detach",
      "--json",
      "--jobs-dir",
      jobsDir,
    ], { cwd: dir });
    assert.equal(started.code, 0, started.stderr);
    const id: string = JSON.parse(started.stdout).id;
    const jobs = new FileJobStore(jobsDir);
    try {
      const job = await until("50 000 bytes reported", async () => {
        const job = await jobs.load(id);
        return job.progress?.done === 50_000 ? job : undefined;
      }, 30_000);
      assert.equal(job.status, "running");
      assert.equal(job.progress?.total, 200_000);
      const r = await cli(["jobs", "--jobs-dir", jobsDir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /PROGRESS +COMMAND\n.* 25% 49 KiB\/195 KiB +pull /,
      );
    } finally {
      await cli(["jobs", "cancel", id, "--jobs-dir", jobsDir]);
    }
    const end = await until("the cancelled end", async () => {
      const job = await jobs.load(id);
      return job.status === "running" ? undefined : job;
    }, 30_000);
    assert.equal(end.status, "cancelled");
    assert.equal(end.result, undefined, "nothing was written");
    assert.equal(end.progress?.done, 50_000);
  });
});
