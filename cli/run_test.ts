// Specification of `epack run`: any program, in the foreground with its exit
// code passed through, or as a job.

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseRunArgs } from "./run.ts";
import {
  cli,
  lines,
  listDir,
  liveInGroup,
  MOD,
  pasteHints,
  readWhenWritten,
  runs,
  selfInvocation,
  waitForRecord,
  withTempDir,
} from "../testdata/cli_helpers.ts";

Deno.test("parseRunArgs() leaves the program's own flags alone", () => {
  const a = parseRunArgs(["--timeout", "1m", "--", "ls", "-la", "--json"]);
  assert.equal(a.program, "ls");
  assert.deepEqual(a.args, ["-la", "--json"]);
  assert.equal(a.timeout, 60_000);
  assert.equal(a.json, false);
  const b = parseRunArgs(["-d", "sh", "-c", "exit 1", "--detach"]);
  assert.equal(b.detach, true);
  assert.deepEqual([b.program, ...b.args], ["sh", "-c", "exit 1", "--detach"]);
  assert.equal(parseRunArgs(["--", "--weird"]).program, "--weird");
});

Deno.test("run passes the program's exit code through", async (t) => {
  await t.step("its code and its output", async () => {
    const r = await cli([
      "run",
      "--",
      "sh",
      "-c",
      "echo out; echo err >&2; exit 7",
    ]);
    assert.equal(r.code, 7);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
  });
  await t.step("0, without --", async () => {
    const r = await cli(["run", "true"]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
  });
  await t.step("128+N when signal N ends it", async () => {
    const r = await cli(["run", "--", "sh", "-c", "kill -TERM $$"]);
    assert.equal(r.code, 143);
    const k = await cli(["run", "--", "sh", "-c", "kill -KILL $$"]);
    assert.equal(k.code, 137);
  });
});

Deno.test("run --timeout stops the program and exits 124", async () => {
  const started = Date.now();
  const r = await cli(["run", "--timeout", "300ms", "--", "sleep", "120"]);
  assert.equal(r.code, 124);
  assert.ok(
    Date.now() - started < 60_000,
    "stopped on SIGTERM, long before 120 s",
  );
  assert.deepEqual(lines(r.stderr), [
    "error: sleep timed out after 300ms and was stopped",
  ]);
  const quick = await cli([
    "run",
    "--timeout",
    "30s",
    "--",
    "sh",
    "-c",
    "exit 3",
  ]);
  assert.equal(quick.code, 3, "a program that ends in time keeps its code");
});

Deno.test("run --timeout stops everything the program started", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "pgid");
    // The shell leads the program's group; its child sleeps on after the
    // shell is gone unless the whole group is stopped.
    const r = await cli([
      "run",
      "--timeout",
      "1s",
      "--",
      "sh",
      "-c",
      `sleep 300 & echo $$ $! > ${pidFile}; wait`,
    ]);
    assert.equal(r.code, 124, r.stderr);
    const [pgid, sleeper] = (await readWhenWritten(pidFile)).split(" ")
      .map(Number);
    assert.ok(pgid > 1 && sleeper > 1);
    assert.equal(await runs(sleeper), false, "the program's child was stopped");
    assert.deepEqual(await liveInGroup(pgid), [], "nothing of the group runs");
  });
});

/**
 * Starts a foreground `run` of a shell script (which may write the PID of a
 * child it starts to the file `child`); the run and the shell's PID.
 */
// `before` runs ahead of the PID file's write, so a trap it sets is in
// place once the test sees the file.
async function startRun(dir: string, script: string, before = "") {
  const pidFile = join(dir, "pgid");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MOD,
      "run",
      "--",
      "sh",
      "-c",
      `${before}echo $$ > ${pidFile}; ${script}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pgid = Number(await readWhenWritten(pidFile));
  return { child, pgid };
}

Deno.test("SIGTERM to a foreground run stops the program's whole group", async () => {
  await withTempDir(async (dir) => {
    const { child, pgid } = await startRun(
      dir,
      `sleep 300 & echo $! > ${join(dir, "child")}; wait`,
    );
    const sleeper = Number(await readWhenWritten(join(dir, "child")));
    child.kill("SIGTERM");
    const out = await child.output();
    assert.equal(out.code, 143, new TextDecoder().decode(out.stderr));
    assert.equal(await runs(sleeper), false, "the program's child was stopped");
    assert.deepEqual(await liveInGroup(pgid), [], "nothing of the group runs");
  });
});

Deno.test("a foreground run passes SIGINT (a terminal's Ctrl-C) to the program", async () => {
  await withTempDir(async (dir) => {
    // The program has a group of its own, which a terminal's Ctrl-C no
    // longer reaches: run must pass it on, and the program decides.
    const { child, pgid } = await startRun(
      dir,
      `while :; do sleep 0.1; done`,
      `trap 'echo interrupted; exit 5' INT; `,
    );
    assert.notEqual(pgid, child.pid, "the program leads a group of its own");
    child.kill("SIGINT");
    const out = await child.output();
    assert.equal(out.code, 5, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout), "interrupted\n");
    assert.deepEqual(await liveInGroup(pgid), []);
  });
});

Deno.test("a foreground run passes SIGUSR2 and SIGQUIT on, and outlives SIGALRM, SIGVTALRM and SIGPROF", async () => {
  await withTempDir(async (dir) => {
    // The program notes what reaches it; SIGQUIT (a terminal's Ctrl-\)
    // ends it, as it would end a program in the foreground. (SIGUSR1 is
    // passed on the same way, but would also open Deno's inspector in epack
    // itself, which only a signal mask set before it starts prevents.)
    const seen = join(dir, "seen");
    const { child, pgid } = await startRun(
      dir,
      `while :; do sleep 0.05; done`,
      `trap 'echo usr2 >> ${seen}' USR2; trap 'echo quit >> ${seen}; exit 7' QUIT; `,
    );
    for (const s of ["SIGALRM", "SIGVTALRM", "SIGPROF", "SIGUSR2"] as const) {
      child.kill(s);
    }
    assert.equal(await readWhenWritten(seen), "usr2");
    child.kill("SIGQUIT");
    const out = await child.output();
    assert.equal(out.code, 7, new TextDecoder().decode(out.stderr));
    assert.equal(await Deno.readTextFile(seen), "usr2\nquit\n");
    assert.deepEqual(await liveInGroup(pgid), []);
  });
});

Deno.test("run reports a program it cannot run with 127 or 126", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "script.sh"), "#!/bin/sh\necho hi\n");
    const cases: [string[], number, RegExp][] = [
      [
        ["run", "--", "no-such-program-zz"],
        127,
        /^error: Command not found: no-such-program-zz$/,
      ],
      [
        [
          "run",
          "-d",
          "--jobs-dir",
          join(dir, "jobs"),
          "--",
          "no-such-program-zz",
        ],
        127,
        /Command not found/,
      ],
      [
        ["run", "--", join(dir, "script.sh")],
        126,
        /^error: Cannot execute .*script\.sh: permission denied$/,
      ],
      [
        [
          "run",
          "-d",
          "--jobs-dir",
          join(dir, "jobs"),
          "--",
          join(dir, "script.sh"),
        ],
        126,
        /Cannot execute/,
      ],
    ];
    await Promise.all(cases.map(async ([args, code, message]) => {
      const r = await cli(args);
      assert.equal(r.code, code, r.stderr);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.match(lines(r.stderr)[0], message);
    }));
    assert.deepEqual(await listDir(dir), ["script.sh"], "no job was recorded");
  });
});

Deno.test("run --detach runs the program as a job", async (t) => {
  await withTempDir(async (dir) => {
    const jobs = join(dir, "jobs");
    await t.step("its exit code and output are recorded", async () => {
      const r = await cli([
        "run",
        "--detach",
        "--json",
        "--jobs-dir",
        jobs,
        "--",
        "sh",
        "-c",
        "echo from the job; exit 3",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const job = JSON.parse(r.stdout);
      assert.equal(job.command, "sh");
      assert.deepEqual(job.args, ["-c", "echo from the job; exit 3"]);
      assert.equal(job.timeout_ms, 24 * 60 * 60 * 1000);
      const record = await waitForRecord(jobs, job.id);
      assert.equal(record.status, "failed");
      assert.equal(record.exit_code, 3);
      assert.equal(await Deno.readTextFile(job.log_path), "from the job\n");
    });
    await t.step("--timeout limits the job", async () => {
      const r = await cli([
        "run",
        "-d",
        "--timeout",
        "300ms",
        "--jobs-dir",
        jobs,
        "--",
        "sleep",
        "30",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const id = /Started job (\w+)/.exec(r.stdout)?.[1];
      assert.ok(id, r.stdout);
      assert.match(r.stdout, /Timeout: 300ms/);
      assert.equal((await waitForRecord(jobs, id)).status, "timed_out");
    });
  });
});

Deno.test("run --detach prints hints that work when pasted", async () => {
  await withTempDir(async (dir) => {
    // From outside the repository: the hint names mod.ts by its full path.
    const jobs = join(dir, "jobs dir");
    const r = await cli(
      ["run", "-d", "--jobs-dir", jobs, "--", "sh", "-c", "echo hello"],
      { cwd: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    const id = /Started job (\w+)/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    assert.ok(
      r.stdout.includes(`  Follow:  ${selfInvocation(dir)} jobs logs ${id} -f`),
      r.stdout,
    );
    const { status, follow } = await pasteHints(r.stdout, dir);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^Job ${id}\n`));
    assert.equal(follow.code, 0, follow.stderr);
    assert.equal(follow.stdout, "hello\n");
    assert.equal((await waitForRecord(jobs, id)).status, "completed");
  });
});

Deno.test("user text is printed escaped in every output: Started job, jobs, errors", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs\x1b[7m");
    const r = await cli([
      "run",
      "--detach",
      "--jobs-dir",
      jobsDir,
      "--",
      "printf",
      "a\x1b[2Jb\rc\n",
    ]);
    assert.equal(r.code, 0, r.stderr);
    // deno-lint-ignore no-control-regex -- control characters are the point
    assert.doesNotMatch(r.stdout, /[\x1b\r]/, "no raw control characters");
    const [started, log, , status] = lines(r.stdout);
    // Quoted as a shell reads it back, and on one line.
    const command = "printf $'a\\x1b[2Jb\\x0dc\\n'";
    assert.ok(started.endsWith(`: ${command}`), started);
    assert.ok(log.includes("jobs\\x1b[7m/"), log);
    assert.ok(status.includes("jobs\\x1b[7m"), status);
    const id = /^Started job (\w+)/.exec(started)![1];
    await waitForRecord(jobsDir, id);
    // `jobs` shows the same command, escaped the same way.
    const list = await cli(["jobs", "--all", "--jobs-dir", jobsDir]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      new RegExp(`^${id}  completed .* printf \\$'a\\\\x1b`, "m"),
    );
    const show = await cli(["jobs", id, "--jobs-dir", jobsDir]);
    assert.ok(show.stdout.includes(`Command:     ${command}\n`), show.stdout);

    // An error naming what the user typed: escaped too.
    const missing = await cli(["run", "--", "no\x1b[2Jsuch"]);
    assert.equal(missing.code, 127);
    assert.equal(missing.stderr, "error: Command not found: no\\x1b[2Jsuch\n");
  });
});
