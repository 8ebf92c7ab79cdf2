// Rule 6 for `pull`: a registry URL's credentials reach the registry, and
// nothing else: not the worker's command line (ps), its record, the
// listing, the JSON of the job, nor its log.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cli,
  jobs,
  withTempDir,
  writeRegistry,
} from "../testdata/cli_helpers.ts";
import { until } from "../testdata/poll.ts";

const SECRET = "s3cret-Pw";

Deno.test("pull with credentials in the registry URL keeps them out of sight", async () => {
  await withTempDir(async (dir) => {
    const reg = join(dir, "reg");
    await writeRegistry(reg, [{
      name: "app",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
    }]);
    const want = `Basic ${btoa(`user:${SECRET}`)}`;
    const auths: (string | null)[] = [];
    const release = Promise.withResolvers<void>();
    const asked = Promise.withResolvers<void>();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (req) => {
        auths.push(req.headers.get("authorization"));
        if (req.headers.get("authorization") !== want) {
          return new Response("no", { status: 401 });
        }
        const path = new URL(req.url).pathname;
        if (path.endsWith(".epack")) {
          // Held while the test looks at the running worker.
          asked.resolve();
          await release.promise;
        }
        return new Response(await Deno.readFile(join(reg, path)));
      },
    );
    const jobsDir = join(dir, "jobs");
    try {
      const remote = `http://user:${SECRET}@127.0.0.1:${server.addr.port}/`;
      const started = await cli([
        "pull",
        remote,
        "-o",
        join(dir, "app.epack"),
        "--detach",
        "--json",
        "--jobs-dir",
        jobsDir,
      ], { cwd: dir });
      assert.equal(started.code, 0, started.stderr);
      assert.ok(!started.stdout.includes(SECRET), started.stdout);
      const id: string = JSON.parse(started.stdout).id;
      await asked.promise;
      const ps = await new Deno.Command("ps", {
        args: ["-eo", "args"],
        stdout: "piped",
      }).output();
      const procs = new TextDecoder().decode(ps.stdout);
      assert.ok(!procs.includes(SECRET), "the secret is visible in ps");
      assert.ok(procs.includes(`127.0.0.1:${server.addr.port}`), "no worker");
      const record = await Deno.readTextFile(join(jobsDir, `${id}.json`));
      assert.ok(!record.includes(SECRET), record);
      for (const args of [["--all"], [id, "--json"], [id]]) {
        const r = await jobs(jobsDir, ...args);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(!(r.stdout + r.stderr).includes(SECRET), r.stdout);
      }
      release.resolve();
      const end = await until("the pull's end", async () => {
        const r = await jobs(jobsDir, id, "--json");
        const job = JSON.parse(r.stdout);
        return job.status === "running" ? undefined : job;
      }, 30_000);
      assert.equal(end.status, "completed", end.error);
      assert.ok(auths.every((a) => a === want), String(auths));
      const log = await Deno.readTextFile(join(jobsDir, `${id}.log`));
      assert.ok(!log.includes(SECRET), log);
    } finally {
      release.resolve();
      await server.shutdown();
    }
  });
});

Deno.test("pull's errors name the registry without its credentials", async () => {
  const r = await cli(["pull", `https://user:${SECRET}@127.0.0.1:1/`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /127\.0\.0\.1:1/);
  assert.ok(!r.stderr.includes(SECRET), r.stderr);
});
