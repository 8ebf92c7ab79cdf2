// Tests of how the current program is started again: the argv it builds
// (the compiled-binary case by injected facts, as `deno compile` cannot run
// here) and the guard against detaching twice.

import assert from "node:assert/strict";
import { findDetachFlag, selfArgv } from "./_argv.ts";

Deno.test("selfArgv() starts the program again", async (t) => {
  await t.step("argv: the binary, then the program's arguments", () => {
    const facts = {
      standalone: true,
      execPath: "/opt/bin/epack",
      mainModule: "file:///ignored/main.ts",
      permissionFlags: ["--allow-read"],
    };
    assert.deepEqual(selfArgv(facts), ["/opt/bin/epack"]);
  });
  await t.step(
    "argv under deno run: permissions, deno flags, entry path",
    () => {
      const facts = {
        standalone: false,
        execPath: "/usr/bin/deno",
        mainModule: "file:///home/me/app/main.ts",
        permissionFlags: ["--allow-read", "--allow-run"],
      };
      assert.deepEqual(selfArgv(facts, { denoFlags: ["--config", "x.json"] }), [
        "/usr/bin/deno",
        "run",
        "--allow-read",
        "--allow-run",
        "--config",
        "x.json",
        "/home/me/app/main.ts",
      ]);
      assert.deepEqual(
        selfArgv({ ...facts, mainModule: "https://example.com/main.ts" }),
        [
          "/usr/bin/deno",
          "run",
          "--allow-read",
          "--allow-run",
          "https://example.com/main.ts",
        ],
      );
    },
  );
});

Deno.test("findDetachFlag() finds every spelling of --detach", async (t) => {
  for (const flags of [["--detach"], ["-d"], ["--detach=true"], ["-fd"]]) {
    await t.step(flags.join(" "), () => {
      assert.equal(findDetachFlag(["pull", ...flags]), flags[0]);
    });
  }
  await t.step("arguments after -- are not flags", () => {
    assert.equal(findDetachFlag(["run", "--", "ls", "-d"]), undefined);
    assert.equal(findDetachFlag(["pull", "x", "--detach"]), "--detach");
  });
});
