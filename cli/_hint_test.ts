// Specification of the hints' invocation: what a user pastes must start the
// same program, from source or compiled.

import assert from "node:assert/strict";
import { PERMISSIONS } from "../spawn/argv.ts";
import { hint, type HintFacts, invocation } from "./_hint.ts";
import { cli, settled, withTempDir } from "../testdata/cli_helpers.ts";

const ALL = PERMISSIONS.map((name) => `--allow-${name}`);
const DENO_DIR = Deno.execPath().slice(0, Deno.execPath().lastIndexOf("/"));

function facts(extra: Partial<HintFacts> = {}): HintFacts {
  return {
    standalone: false,
    execPath: Deno.execPath(),
    mainModule: "file:///work/project/mod.ts",
    permissionFlags: ALL,
    cwd: "/work/project",
    path: DENO_DIR,
    ...extra,
  };
}

Deno.test("invocation() names mod.ts by its absolute path, even from its directory", () => {
  // A hint pasted in another directory (or read in a CI log) must work.
  const want = ["deno", "run", "-A", "/work/project/mod.ts"];
  assert.deepEqual(invocation(facts()), want);
  assert.deepEqual(invocation(facts({ cwd: "/work/project/" })), want);
});

Deno.test("invocation() names mod.ts by its path from elsewhere", () => {
  assert.deepEqual(invocation(facts({ cwd: "/tmp" })), [
    "deno",
    "run",
    "-A",
    "/work/project/mod.ts",
  ]);
  assert.deepEqual(
    invocation(facts({ cwd: "/work/proj" })).at(-1),
    [
      "/work/project/mod.ts",
    ].at(-1),
  );
});

Deno.test("invocation() repeats only the permissions granted", () => {
  assert.deepEqual(
    invocation(facts({ permissionFlags: ["--allow-read", "--allow-env"] })),
    ["deno", "run", "--allow-read", "--allow-env", "/work/project/mod.ts"],
  );
});

Deno.test("invocation() names deno by its path when PATH finds another", () => {
  assert.equal(invocation(facts({ path: "" }))[0], Deno.execPath());
});

Deno.test("invocation() of a compiled binary is the binary", () => {
  assert.deepEqual(
    invocation(facts({ standalone: true, execPath: "/opt/bin/epack" })),
    ["/opt/bin/epack"],
  );
});

Deno.test("hint() quotes words and carries the jobs directory", () => {
  assert.equal(
    hint(["jobs", "01ABCD"], { store: "/tmp/my jobs", facts: facts() }),
    "deno run -A /work/project/mod.ts jobs 01ABCD --jobs-dir '/tmp/my jobs'",
  );
  assert.equal(
    hint(["jobs"], {
      facts: facts({ standalone: true, execPath: "/opt/my epack" }),
    }),
    "'/opt/my epack' jobs",
  );
});

Deno.test("hint() carries a database store, its password shown as ***", () => {
  assert.equal(
    hint(["jobs", "01ABCD"], {
      store: "postgres://app@db.example:5432/jobs",
      facts: facts(),
    }),
    "deno run -A /work/project/mod.ts jobs 01ABCD --store " +
      "postgres://app@db.example:5432/jobs",
  );
  const line = hint(["jobs", "01ABCD"], {
    store: "postgres://app:s3cret@db.example/jobs?epack_lease_ttl=3000",
    facts: facts(),
  });
  assert.equal(
    line,
    "deno run -A /work/project/mod.ts jobs 01ABCD --store " +
      "'postgres://app:***@db.example/jobs?epack_lease_ttl=3000'",
  );
  assert.ok(!line.includes("s3cret"));
});

Deno.test("hint() stays one line a POSIX shell reads back: control characters", () => {
  const line = hint(["jobs"], { store: "/tmp/a\nb\tc'd\x1b", facts: facts() });
  assert.ok(![...line].some((c) => c < " " || c === "\x7f"), line);
  assert.equal(
    line,
    "deno run -A /work/project/mod.ts jobs --jobs-dir $'/tmp/a\\nb\\tc\\'d\\x1b'",
  );
});

Deno.test("a pasted hint with a newline in --jobs-dir names the same directory", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = `${dir}/a\nb`;
    const started = await cli([
      "run",
      "-d",
      "--jobs-dir",
      jobsDir,
      "--",
      "true",
    ]);
    assert.equal(started.code, 0, started.stderr);
    const line = /^ {2}Status: +(.*)$/m.exec(started.stdout)?.[1] ?? "";
    // Pasted in another directory, by an interactive shell.
    const pasted = await new Deno.Command("bash", {
      args: ["-c", line],
      cwd: dir,
      env: { NO_COLOR: "1" },
    }).output();
    const out = new TextDecoder().decode(pasted.stdout);
    assert.equal(
      pasted.code,
      0,
      `${line}\n${new TextDecoder().decode(pasted.stderr)}`,
    );
    assert.match(out, /^Job \w+\n {2}Status: /);
    await settled(jobsDir, out.split(/\s/)[1]);
  });
});
