// Where jobs live when no store is named: the project's .epack/jobs, else
// one directory per user, never the current directory.

import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../testdata/cli_helpers.ts";

const OPEN = new URL("./open.ts", import.meta.url).href;

/** defaultJobsDir() and findWorkingDir() as a process in `cwd` sees them. */
async function seen(cwd: string, env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { defaultJobsDir, findWorkingDir } from "${OPEN}";
       console.log(JSON.stringify([defaultJobsDir(), findWorkingDir()]));`,
    ],
    cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  return out.success
    ? JSON.parse(new TextDecoder().decode(out.stdout)) as [string, string]
    : err;
}

Deno.test({
  name:
    "defaultJobsDir() is the project's .epack/jobs, else the user's state directory",
  // macOS keeps state in ~/Library/Application Support, whatever XDG says.
  ignore: Deno.build.os === "darwin",
  fn: async () => {
    await withTempDir(async (dir) => {
      dir = await Deno.realPath(dir);
      const project = join(dir, "p");
      const deeper = join(project, "sub", "deeper");
      const outside = join(dir, "elsewhere");
      await Deno.mkdir(deeper, { recursive: true });
      await Deno.mkdir(outside);
      await Deno.writeTextFile(join(project, "deno.jsonc"), "{}");
      const env = {
        XDG_STATE_HOME: join(dir, "state"),
        HOME: join(dir, "home"),
      };
      assert.deepEqual(await seen(deeper, env), [
        join(project, ".epack", "jobs"),
        project,
      ]);
      // Outside any project: one directory per user, whatever the cwd; a job
      // spawn()s still runs where it was started.
      assert.deepEqual(await seen(outside, env), [
        join(dir, "state", "epack", "jobs"),
        outside,
      ]);
      assert.deepEqual(await seen(outside, { HOME: join(dir, "home") }), [
        join(dir, "home", ".local", "state", "epack", "jobs"),
        outside,
      ]);
      // A relative XDG_STATE_HOME is ignored, as the XDG spec says.
      assert.deepEqual(
        (await seen(outside, { XDG_STATE_HOME: "rel", HOME: "/h" }))[0],
        "/h/.local/state/epack/jobs",
      );
      assert.match(
        String(await seen(outside, {})),
        /Neither XDG_STATE_HOME nor HOME is set/,
      );
    });
  },
});
