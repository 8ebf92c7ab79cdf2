import assert from "node:assert/strict";
import { describeLookupFailure, findExecutable } from "./which.ts";

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

Deno.test("findExecutable() checks a script's #! interpreter as the kernel will", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "detach_which_" });
  try {
    const script = async (name: string, text: string, mode = 0o755) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      await Deno.chmod(`${dir}/${name}`, mode);
    };
    await script("bad", "#!/nonexistent/sh\necho hi\n");
    await script("spaced", "#!  /nonexistent/sh -e\n");
    await script("crlf", "#!/bin/sh\r\necho hi\r\n");
    await script("good", "#! /bin/sh -e\necho hi\n");
    await script("noline", "#!/bin/sh");
    await script("empty", "#!\necho hi\n");
    await script("binary", "\x7fELF");
    await script("dirinterp", `#!${dir}\n`);
    const opts = { cwd: dir, path: dir };

    await t.step("a missing interpreter is a bad interpreter", () => {
      assert.deepEqual(findExecutable("./bad", opts), {
        ok: false,
        reason: "bad_interpreter",
        path: `${dir}/./bad`,
        interpreter: "/nonexistent/sh",
      });
      assert.deepEqual(findExecutable("bad", opts), {
        ok: false,
        reason: "bad_interpreter",
        path: `${dir}/bad`,
        interpreter: "/nonexistent/sh",
      });
    });
    await t.step("blanks before it and an argument after it", () => {
      const r = findExecutable("spaced", opts);
      assert.equal(r.ok === false && r.reason, "bad_interpreter");
      assert.equal(
        r.ok === false && "interpreter" in r && r.interpreter,
        "/nonexistent/sh",
      );
    });
    await t.step(
      "a CR ends no interpreter's name (the kernel keeps it)",
      () => {
        const r = findExecutable("crlf", opts);
        assert.equal(
          r.ok === false && "interpreter" in r && r.interpreter,
          "/bin/sh\r",
        );
      },
    );
    await t.step("a directory is no interpreter", () => {
      assert.equal(findExecutable("dirinterp", opts).ok, false);
    });
    await t.step(
      "a good interpreter, a line without newline, no #! at all",
      () => {
        for (const name of ["good", "noline", "empty", "binary"]) {
          assert.deepEqual(findExecutable(name, opts), {
            ok: true,
            path: `${dir}/${name}`,
          }, name);
        }
      },
    );
    await t.step(
      "the interpreter is checked only for an executable file",
      async () => {
        await script("badplain", "#!/nonexistent/sh\n", 0o644);
        assert.deepEqual(findExecutable("./badplain", opts), {
          ok: false,
          reason: "not_executable",
        });
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("describeLookupFailure() words each failure and gives a shell's exit code", () => {
  assert.deepEqual(
    describeLookupFailure("x", { ok: false, reason: "not_found" }),
    {
      message: "Command not found: x",
      exitCode: 127,
    },
  );
  assert.deepEqual(
    describeLookupFailure("/d", { ok: false, reason: "is_directory" }),
    {
      message: "Cannot execute /d: is a directory",
      exitCode: 126,
    },
  );
  assert.deepEqual(
    describeLookupFailure("f", { ok: false, reason: "not_executable" }),
    {
      message: "Cannot execute f: permission denied",
      exitCode: 126,
    },
  );
  assert.deepEqual(
    describeLookupFailure("s", {
      ok: false,
      reason: "bad_interpreter",
      path: "/bin/s",
      interpreter: "/nonexistent/sh",
    }),
    {
      message: "Cannot execute s: bad interpreter /nonexistent/sh",
      exitCode: 126,
    },
  );
});
