// Tests of how the current program is started again: the argv it builds
// (the compiled-binary case by injected facts, as `deno compile` cannot run
// here) and the guard against detaching twice.

import assert from "node:assert/strict";
import {
  findDetachFlag,
  PACKAGE_ENTRIES,
  selfArgv,
  supervisorArgv,
} from "./argv.ts";

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

Deno.test("supervisorArgv() starts the supervisor", async (t) => {
  const local = {
    cli: "file:///opt/detach/mod.ts",
    supervisor: "file:///opt/detach/_supervise.ts",
  };
  const remote = {
    cli: "https://jsr.io/@epack/detach/1.0.0/mod.ts",
    supervisor: "https://jsr.io/@epack/detach/1.0.0/_supervise.ts",
  };
  const facts = {
    standalone: false,
    execPath: "/usr/bin/deno",
    mainModule: local.cli,
    permissionFlags: ["--allow-read", "--allow-run"],
  };
  await t.step(
    "the package's CLI: the module beside it that supervises",
    () => {
      assert.deepEqual(supervisorArgv(facts, {}, local), [
        "/usr/bin/deno",
        "run",
        "--allow-read",
        "--allow-run",
        "/opt/detach/_supervise.ts",
      ]);
      assert.deepEqual(
        supervisorArgv(
          { ...facts, mainModule: remote.cli },
          { permissionFlags: ["-A"], denoFlags: ["--cached-only"] },
          remote,
        ),
        ["/usr/bin/deno", "run", "-A", "--cached-only", remote.supervisor],
      );
    },
  );
  await t.step("any other program: the program itself, as its worker", () => {
    for (
      const mainModule of [
        "file:///home/me/app/main.ts",
        // Another copy of the package is not this one.
        "file:///elsewhere/detach/mod.ts",
        remote.cli,
      ]
    ) {
      const other = { ...facts, mainModule };
      assert.deepEqual(supervisorArgv(other, {}, local), selfArgv(other));
    }
  });
  await t.step("a compiled binary: the binary, whatever its entry", () => {
    const binary = { ...facts, standalone: true, execPath: "/opt/bin/epack" };
    assert.deepEqual(supervisorArgv(binary, {}, local), ["/opt/bin/epack"]);
  });
  await t.step("the real entries are the files beside _argv.ts", () => {
    assert.equal(
      PACKAGE_ENTRIES.cli,
      new URL("../mod.ts", import.meta.url).href,
    );
    assert.ok(Deno.statSync(new URL(PACKAGE_ENTRIES.supervisor)).isFile);
  });
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
