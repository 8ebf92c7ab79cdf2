// Small refusals that must come before a job is made: a `pull -d` whose
// output is there already, a dependency named too briefly.

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, withTempDir } from "../testdata/cli_helpers.ts";

const REGISTRY = new URL("../examples/registry", import.meta.url).pathname;

function records(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
}

Deno.test("pull -d onto an existing output is refused before any job", async (t) => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const first = await cli(["pull", REGISTRY], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const [made] = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((n) => n.endsWith(".epack"));
    for (const extra of [[], ["-o", "./"], ["-o", made]]) {
      await t.step(extra.join(" ") || "the default output", async () => {
        const r = await cli(
          ["pull", "-d", REGISTRY, ...extra, "--jobs-dir", jobsDir],
          { cwd: dir },
        );
        assert.equal(r.code, 1, r.stdout);
        assert.match(
          r.stderr,
          /already exists \(use --force to overwrite it\)\n$/,
        );
        assert.deepEqual(records(jobsDir), []);
      });
    }
  });
});

Deno.test("--after with a reference too short says so", async () => {
  await withTempDir(async (dir) => {
    const r = await cli([
      "run",
      "-d",
      "--after",
      "abc",
      "--jobs-dir",
      join(dir, "jobs"),
      "--",
      "true",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs at least 4 characters/);
  });
});
