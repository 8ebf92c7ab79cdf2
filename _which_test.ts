import assert from "node:assert/strict";
import { findExecutable } from "./_which.ts";

Deno.test("findExecutable() answers as a shell would", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "detach_which_" });
  try {
    const bin = `${dir}/bin`;
    const other = `${dir}/other`;
    await Deno.mkdir(bin);
    await Deno.mkdir(other);
    await Deno.writeTextFile(`${bin}/tool`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(`${other}/plain`, "x", { mode: 0o644 });
    await Deno.writeTextFile(`${bin}/plain`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.mkdir(`${other}/adir`);
    const path = `${other}:${bin}`;

    await t.step("a name is searched for on the path", () => {
      assert.deepEqual(findExecutable("tool", { cwd: dir, path }), {
        ok: true,
        path: `${bin}/tool`,
      });
    });
    await t.step("a non-executable file is passed over for a later one", () => {
      assert.deepEqual(findExecutable("plain", { cwd: dir, path }), {
        ok: true,
        path: `${bin}/plain`,
      });
      assert.deepEqual(findExecutable("plain", { cwd: dir, path: other }), {
        ok: false,
        reason: "not_executable",
      });
    });
    await t.step("directories on the path are skipped", () => {
      assert.deepEqual(findExecutable("adir", { cwd: dir, path }), {
        ok: false,
        reason: "not_found",
      });
    });
    await t.step("a path names one file, relative to cwd", () => {
      assert.deepEqual(findExecutable("bin/tool", { cwd: dir, path: "" }), {
        ok: true,
        path: `${dir}/bin/tool`,
      });
      assert.deepEqual(findExecutable("./other/adir", { cwd: dir, path }), {
        ok: false,
        reason: "is_directory",
      });
      assert.deepEqual(findExecutable(`${other}/plain`, { cwd: "/", path }), {
        ok: false,
        reason: "not_executable",
      });
      assert.deepEqual(findExecutable("./nope", { cwd: dir, path }), {
        ok: false,
        reason: "not_found",
      });
    });
    await t.step("an empty name is not found", () => {
      assert.deepEqual(findExecutable("", { cwd: dir, path }).ok, false);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
