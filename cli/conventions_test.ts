// The conventions docs/cli.md states for everything a user touches: where a
// job runs, where jobs live, one JSON dialect, and an installed command that
// names itself. The real CLI, as a subprocess.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cli,
  MOD,
  settled,
  withTempDir,
  writeRegistry,
} from "../testdata/cli_helpers.ts";

Deno.test("a job runs where the user stands, with and without --detach; --cwd DIR as cd DIR would", async () => {
  await withTempDir(async (dir) => {
    dir = await Deno.realPath(dir);
    await Deno.writeTextFile(join(dir, "deno.json"), "{}\n");
    const sub = join(dir, "sub", "deeper");
    await Deno.mkdir(sub, { recursive: true });
    await Deno.writeTextFile(join(dir, "sub", "who.sh"), "echo sub-who\n");
    await Deno.chmod(join(dir, "sub", "who.sh"), 0o755);
    const jobsDir = join(dir, ".epack", "jobs");
    const detached = async (...args: string[]) => {
      const r = await cli(["run", "-d", "--json", ...args], { cwd: sub });
      assert.equal(r.code, 0, r.stderr);
      const { id } = JSON.parse(r.stdout);
      assert.equal((await settled(jobsDir, id)).status, "completed");
      return await Deno.readTextFile(join(jobsDir, `${id}.log`));
    };
    assert.equal(await detached("--", "pwd"), `${sub}\n`);
    // The program and its arguments are DIR's; the store stays the
    // project's, found from where the user stands.
    assert.equal(
      await detached("--cwd", "..", "--", "sh", "-c", "pwd; ./who.sh"),
      `${join(dir, "sub")}\nsub-who\n`,
    );
    const fg = await cli(["run", "--cwd", "..", "--", "./who.sh"], {
      cwd: sub,
    });
    assert.deepEqual([fg.code, fg.stdout], [0, "sub-who\n"]);
    const here = await cli(["run", "--", "pwd"], { cwd: sub });
    assert.equal(here.stdout, `${sub}\n`);
    for (const detach of [[], ["-d"]]) {
      const missing = await cli([
        "run",
        ...detach,
        "--cwd",
        "nope",
        "--",
        "pwd",
      ], {
        cwd: sub,
      });
      assert.equal(missing.code, 1, missing.stderr);
      assert.match(missing.stderr, /nope.* missing or not a directory\n$/);
    }
    assert.deepEqual(
      await Array.fromAsync(Deno.readDir(sub)),
      [],
      "nothing was written in the user's directory",
    );
  });
});

Deno.test("outside any project, jobs live in the user's state directory, and a miss names it", async () => {
  await withTempDir(async (dir) => {
    dir = await Deno.realPath(dir);
    const env = { XDG_STATE_HOME: join(dir, "state"), HOME: dir };
    for (const d of ["a", "b"]) await Deno.mkdir(join(dir, d));
    const r = await cli(["run", "-d", "--json", "--", "true"], {
      cwd: join(dir, "a"),
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    const { id, log_path } = JSON.parse(r.stdout);
    const store = join(dir, "state", "epack", "jobs");
    assert.equal(log_path, join(store, `${id}.log`));
    const seen = await cli(["jobs", "wait", id], { cwd: join(dir, "b"), env });
    assert.equal(seen.code, 0, seen.stderr);
    await settled(store, id);
    const miss = await cli(["jobs", "nosuchjob"], { cwd: join(dir, "b"), env });
    assert.equal(
      miss.stderr,
      `error: Job not found: nosuchjob in ${store}; to look in another store: --store DIR|URL, or $EPACK_DETACH_STORE\n`,
    );
    const none = await cli(["jobs"], { cwd: join(dir, "b"), env });
    assert.match(none.stdout, new RegExp(`^No running jobs in ${store}\\.\n`));
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(dir, "a"))), []);
  });
});

/** Every key of every object in `value`, with where it was found. */
function* keys(value: unknown, at = "$"): Generator<[string, string]> {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* keys(v, `${at}[${i}]`);
  } else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      yield [k, at];
      yield* keys(v, `${at}.${k}`);
    }
  }
}

Deno.test("every --json output of every command is snake_case, and a job's ID is `id`", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const reg = join(dir, "reg");
    await writeRegistry(reg, [{
      name: "api",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
    }]);
    const seen: string[] = [];
    const json = async (args: string[], code = 0) => {
      // Before any `--`: what follows it is the program's.
      const r = await cli([args[0], "--json", ...args.slice(1)], { cwd: dir });
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      const docs = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
      for (const doc of docs) {
        for (const [key, at] of keys(doc)) {
          assert.match(
            key,
            /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/,
            `${args[0]} ${at}`,
          );
          assert.ok(!/^(job_?id|jobs_dir)$/.test(key), `${args} ${at}.${key}`);
        }
      }
      seen.push(args.slice(0, 2).join(" "));
      return docs;
    };
    const at = ["--jobs-dir", jobsDir];
    const [started] = await json([
      "run",
      "-d",
      ...at,
      "--name",
      "n1",
      "--",
      "sh",
      "-c",
      "sleep 30",
    ]);
    const [pulled] = await json(["pull", reg, "-d", ...at, "-o", "out.epack"]);
    for (const job of [started, pulled]) {
      assert.ok(typeof job.id === "string" && typeof job.log_path === "string");
    }
    await json(["pull", reg, "--dry-run"]);
    await json(["pull", reg, "nope"], 1);
    await json(["--version"]);
    await json(["jobs", "wait", pulled.id, ...at]);
    await json(["jobs", ...at]);
    await json(["jobs", "list", "--all", ...at]);
    const [shown] = await json(["jobs", pulled.id, ...at]);
    assert.equal(shown.result.dry_run, false, "the pull's result, recorded");
    await json(["jobs", "show", "n1", ...at]);
    await json(["jobs", "logs", pulled.id, ...at]);
    await json(["jobs", "pause", "n1", ...at]);
    await json(["jobs", "resume", "n1", ...at]);
    await json(["jobs", "cancel", "n1", ...at]);
    const [refused] = await json(["jobs", "pause", "n1", ...at], 1);
    assert.deepEqual(Object.keys(refused), [
      "error",
      "exit_code",
      "id",
      "status",
    ]);
    const [restarted] = await json(["jobs", "restart", "n1", ...at]);
    assert.equal(restarted.restart_of, started.id);
    await json(["jobs", "cancel", "n1", ...at]);
    await json(["jobs", "wait", restarted.id, started.id, ...at], 130);
    await settled(jobsDir, pulled.id);
    await json(["jobs", "rm", pulled.id, ...at]);
    for (const job of [started, restarted]) await settled(jobsDir, job.id);
    await json(["jobs", "clean", "--older-than", "0s", ...at]);
    await json(["jobs", "limit", ...at]);
    await json(["jobs", "report", "--done", "1", ...at]);
    await json(["jobs", "nosuch", ...at], 1);
    await json(["run", "--", "/nonexistent/program"], 127);
    // Each command, and each `jobs` subcommand, was run.
    const { JOBS_SUBCOMMANDS } = await import("./jobs/main.ts");
    for (const sub of JOBS_SUBCOMMANDS) {
      assert.ok(
        seen.includes(`jobs ${sub}`) ||
          sub === "show" && seen.includes("jobs show"),
        sub,
      );
    }
    for (const command of ["pull", "run", "jobs", "--version"]) {
      assert.ok(seen.some((s) => s.startsWith(command)), command);
    }
  });
});

Deno.test("an installed command names itself by its installed name", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "root");
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["install", "-g", "-A", "-n", "ep", "--root", root, MOD],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(install.success, new TextDecoder().decode(install.stderr));
    const shim = join(root, "bin", "ep");
    const sh = async (line: string, path: string) => {
      const out = await new Deno.Command("sh", {
        args: ["-c", line],
        cwd: dir,
        env: { PATH: path, XDG_STATE_HOME: dir, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder();
      return text.decode(out.stdout) + text.decode(out.stderr);
    };
    const deno = Deno.execPath().slice(0, Deno.execPath().lastIndexOf("/"));
    const onPath = `${join(root, "bin")}:${deno}:/usr/bin:/bin`;
    // Each job is waited for: its supervisor must be done with the
    // directory before it goes.
    const settle = async (text: string) => {
      const id = /Started job (\w+)/.exec(text)?.[1];
      assert.ok(id, text);
      await settled(join(dir, "epack", "jobs"), id);
    };
    const started = await sh("ep run -d -- true", onPath);
    await settle(started);
    assert.match(started, /\n {2}Status: {2}ep jobs \w+\n/, started);
    assert.match(
      await sh("ep nope", onPath),
      /\nRun 'ep --help' for usage\.\n$/,
    );
    assert.match(await sh("ep --help", onPath), /'epack' here stands for 'ep'/);
    // Not on PATH: the shim by its path.
    const byPath = await sh(
      `'${shim}' run -d -- true`,
      `${deno}:/usr/bin:/bin`,
    );
    await settle(byPath);
    assert.ok(byPath.includes(`  Status:  ${shim} jobs `), byPath);
  });
});
