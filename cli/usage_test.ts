// Specification of bad values, the same way in every command: a value out
// of range or empty is one usage error (an error line, a hint, exit 1), and
// nothing is written: no job, no record changed.

import assert from "node:assert/strict";
import { join } from "../util/path.ts";
import { FileJobStore } from "../jobs.ts";
import {
  cli,
  lines,
  listDir,
  selfInvocation,
  withTempDir,
  writeRegistry,
} from "../testdata/cli_helpers.ts";

/** One error line matching `pattern`, the hint for `command`, exit 1. */
function assertUsageError(
  r: { code: number; stdout: string; stderr: string },
  command: string,
  pattern: RegExp,
  cwd?: string,
): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, "");
  const out = lines(r.stderr);
  assert.equal(out.length, 2, r.stderr);
  assert.match(out[0], pattern);
  assert.equal(
    out[1],
    `Run '${selfInvocation(cwd)} ${command} --help' for usage.`,
  );
}

/** Every file under a directory, recursively, relative to it. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for (const name of await listDir(dir)) {
    const path = join(dir, name);
    names.push(prefix + name);
    if ((await Deno.lstat(path)).isDirectory) {
      names.push(...await tree(path, `${prefix}${name}/`));
    }
  }
  return names;
}

Deno.test("a duration out of range is a usage error, and nothing is written", async (t) => {
  await withTempDir(async (dir) => {
    // A project of its own: the default jobs directory would be dir/.epack.
    await Deno.writeTextFile(join(dir, "deno.json"), "{}\n");
    await writeRegistry(join(dir, "reg"), [{
      name: "p",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
    }]);
    const before = await tree(dir);
    const jobsDir = join(dir, "jobs");
    const cases: [string[], string, RegExp][] = [
      [
        ["run", "--detach", "--timeout", "99999999999999999999h", "--", "true"],
        "run",
        /^error: --timeout: Duration too long: "99999999999999999999h" \(at most 36500d\)$/,
      ],
      [
        ["run", "--detach", "--timeout", "0.4ms", "--", "true"],
        "run",
        /^error: --timeout: Duration too short: "0\.4ms" \(the smallest is 1ms; 0 means none\)$/,
      ],
      [
        ["run", "--detach", "--timeout", "1e30ms", "--", "true"],
        "run",
        /^error: --timeout: Invalid duration: "1e30ms"/,
      ],
      [
        ["run", "--timeout", "36501d", "--", "true"],
        "run",
        /^error: --timeout: Duration too long/,
      ],
      [
        ["pull", "reg", "--detach", "--timeout", "9999999999999d"],
        "pull",
        /^error: --timeout: Duration too long/,
      ],
      [
        ["jobs", "clean", "--older-than", "9999999999999d"],
        "jobs clean",
        /^error: --older-than: Duration too long/,
      ],
      [
        ["jobs", "wait", "abcd", "--timeout", "0.4ms"],
        "jobs wait",
        /^error: --timeout: Duration too short/,
      ],
    ];
    for (const [args, command, pattern] of cases) {
      await t.step(args.join(" "), async () => {
        for (const where of [[], ["--jobs-dir", jobsDir]]) {
          const r = await cli([...args, ...where], { cwd: dir });
          assertUsageError(r, command, pattern, dir);
          assert.deepEqual(await tree(dir), before, "nothing written");
        }
      });
    }
  });
});

Deno.test("jobs cancel --grace out of range is a usage error, and the job's record is untouched", async () => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);
    const job = await store.create({ command: "sleep", args: ["1000"] });
    const record = join(dir, `${job.id}.json`);
    const bytes = await Deno.readTextFile(record);
    const names = await listDir(dir);
    for (const grace of ["9999999999999d", "0.4ms", "1e9s", "-1s"]) {
      const r = await cli([
        "jobs",
        "cancel",
        job.id,
        "--grace",
        grace,
        "--jobs-dir",
        dir,
      ]);
      assertUsageError(r, "jobs cancel", /^error: --grace: /);
      assert.equal(await Deno.readTextFile(record), bytes, grace);
      assert.deepEqual(await listDir(dir), names, grace);
    }
  });
});

Deno.test("an empty option value is a usage error in every command", async (t) => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "deno.json"), "{}\n");
    await writeRegistry(join(dir, "reg"), [{
      name: "p",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
    }]);
    const before = await tree(dir);
    const empty = (flag: string) =>
      new RegExp(
        `^error: ${flag} is empty: give it a value, or leave the option out$`,
      );
    const cases: [string[], string, RegExp][] = [
      [
        ["run", "--detach", "--jobs-dir", "", "--", "true"],
        "run",
        empty("--jobs-dir"),
      ],
      [
        ["run", "--detach", "--jobs-dir=", "--", "true"],
        "run",
        empty("--jobs-dir"),
      ],
      [
        ["pull", "reg", "--detach", "--jobs-dir", ""],
        "pull",
        empty("--jobs-dir"),
      ],
      [["pull", "reg", "-o", ""], "pull", empty("-o")],
      [["pull", "reg", "--output="], "pull", empty("--output")],
      [["pull", "reg", "--env", ""], "pull", empty("--env")],
      [["pull", "reg", "--version", ""], "pull", empty("--version")],
      [["pull", "reg", "--timeout", "", "-d"], "pull", empty("--timeout")],
      [["jobs", "--jobs-dir", ""], "jobs", empty("--jobs-dir")],
      [["jobs", "--status", ""], "jobs", empty("--status")],
      [
        ["jobs", "wait", "abcd", "--jobs-dir", ""],
        "jobs wait",
        empty(
          "--jobs-dir",
        ),
      ],
      [["jobs", "logs", "abcd", "-n", ""], "jobs logs", empty("-n")],
      [
        ["jobs", "cancel", "abcd", "--grace="],
        "jobs cancel",
        empty(
          "--grace",
        ),
      ],
    ];
    for (const [args, command, pattern] of cases) {
      await t.step(JSON.stringify(args), async () => {
        assertUsageError(
          await cli(args, { cwd: dir }),
          command,
          pattern,
          dir,
        );
        assert.deepEqual(await tree(dir), before, "nothing written");
      });
    }
  });
});
