// Specification of the hints' invocation: what a user pastes must start the
// same program, from source or compiled.

import assert from "node:assert/strict";
import { PERMISSIONS } from "../spawn/argv.ts";
import { hint, type HintFacts, invocation } from "./_hint.ts";

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

Deno.test("invocation() is `deno run -A mod.ts` from the project's directory", () => {
  assert.deepEqual(invocation(facts()), ["deno", "run", "-A", "mod.ts"]);
  assert.deepEqual(invocation(facts({ cwd: "/work/project/" })), [
    "deno",
    "run",
    "-A",
    "mod.ts",
  ]);
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
    ["deno", "run", "--allow-read", "--allow-env", "mod.ts"],
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
    "deno run -A mod.ts jobs 01ABCD --jobs-dir '/tmp/my jobs'",
  );
  assert.equal(
    hint(["jobs"], {
      facts: facts({ standalone: true, execPath: "/opt/my epack" }),
    }),
    "'/opt/my epack' jobs",
  );
});
