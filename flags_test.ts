// Specification of buildPullFlags: the flags a detached pull runs with must
// be exactly what epack's BuildPullFlags would produce for the same options.

import assert from "node:assert/strict";
import { buildPullFlags, type PullOptions } from "./flags.ts";

Deno.test("buildPullFlags() with no options is just --ci", () => {
  assert.deepEqual(buildPullFlags(), ["--ci"]);
  assert.deepEqual(buildPullFlags({}), ["--ci"]);
});

Deno.test("buildPullFlags() emits each string option alone, before --ci", async (t) => {
  const cases: [PullOptions, string[]][] = [
    [{ env: "prod" }, ["--env", "prod"]],
    [{ workspace: "acme" }, ["--workspace", "acme"]],
    [{ output: "out.epack" }, ["--output", "out.epack"]],
    [{ digest: "sha256:ab" }, ["--digest", "sha256:ab"]],
    [{ releaseId: "rel_1" }, ["--release", "rel_1"]],
    [{ version: "v1.2.3" }, ["--version", "v1.2.3"]],
  ];
  for (const [options, expected] of cases) {
    await t.step(`${Object.keys(options)[0]} → ${expected[0]}`, () => {
      assert.deepEqual(buildPullFlags(options), [...expected, "--ci"]);
    });
  }
});

Deno.test("buildPullFlags() skips empty strings", () => {
  assert.deepEqual(
    buildPullFlags({
      env: "",
      workspace: "",
      output: "",
      digest: "",
      releaseId: "",
      version: "",
    }),
    ["--ci"],
  );
  assert.deepEqual(
    buildPullFlags({ env: "", version: "v1" }),
    ["--version", "v1", "--ci"],
  );
});

Deno.test("buildPullFlags() keeps values verbatim, even ones that look like flags", () => {
  // Each value is its own argv element, so nothing needs quoting; a value
  // starting with "-" must not be dropped or split.
  assert.deepEqual(
    buildPullFlags({ output: "--detach", env: "a b" }),
    ["--env", "a b", "--output", "--detach", "--ci"],
  );
});

Deno.test("buildPullFlags() handles force", async (t) => {
  await t.step("undefined → no --force", () => {
    assert.deepEqual(buildPullFlags({}), ["--ci"]);
  });
  await t.step("false → no --force", () => {
    assert.deepEqual(buildPullFlags({ force: false }), ["--ci"]);
  });
  await t.step("true → --force", () => {
    assert.deepEqual(buildPullFlags({ force: true }), ["--force", "--ci"]);
  });
});

Deno.test("buildPullFlags() handles verify", async (t) => {
  await t.step("undefined → nothing (verify is the default)", () => {
    assert.deepEqual(buildPullFlags({ verify: undefined }), ["--ci"]);
  });
  await t.step("true → nothing", () => {
    assert.deepEqual(buildPullFlags({ verify: true }), ["--ci"]);
  });
  await t.step("false → --verify=false", () => {
    assert.deepEqual(buildPullFlags({ verify: false }), [
      "--verify=false",
      "--ci",
    ]);
  });
});

Deno.test("buildPullFlags() with every option keeps epack's order", () => {
  assert.deepEqual(
    buildPullFlags({
      // Given in a different order from the output on purpose.
      verify: false,
      force: true,
      version: "v1",
      releaseId: "rel_1",
      digest: "sha256:ab",
      output: "out.epack",
      workspace: "acme",
      env: "prod",
    }),
    [
      "--env",
      "prod",
      "--workspace",
      "acme",
      "--output",
      "out.epack",
      "--digest",
      "sha256:ab",
      "--release",
      "rel_1",
      "--version",
      "v1",
      "--force",
      "--verify=false",
      "--ci",
    ],
  );
});

Deno.test("buildPullFlags() always ends with --ci and never emits --detach", () => {
  const all: PullOptions = {
    env: "e",
    workspace: "w",
    output: "o",
    digest: "d",
    releaseId: "r",
    version: "v",
  };
  // Every subset of the string options, with each force/verify setting.
  const keys = Object.keys(all) as (keyof PullOptions)[];
  for (let mask = 0; mask < 1 << keys.length; mask++) {
    for (const force of [undefined, false, true]) {
      for (const verify of [undefined, false, true]) {
        const options: PullOptions = { force, verify };
        keys.forEach((k, i) => {
          if (mask & (1 << i)) {
            (options as Record<string, unknown>)[k] = all[k];
          }
        });
        const flags = buildPullFlags(options);
        assert.equal(flags.at(-1), "--ci", JSON.stringify(options));
        assert.equal(flags.indexOf("--ci"), flags.length - 1);
        assert.ok(
          !flags.some((f) => f.startsWith("--detach")),
          JSON.stringify(flags),
        );
      }
    }
  }
});

Deno.test("buildPullFlags() returns a fresh array each call", () => {
  const a = buildPullFlags({ env: "prod" });
  a.push("--detach");
  assert.deepEqual(buildPullFlags({ env: "prod" }), ["--env", "prod", "--ci"]);
});
