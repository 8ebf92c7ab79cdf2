// Tests of `epack jobs show`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts and, for edge cases, records written
// with JobStore.

import { FileJobStore } from "../../jobs.ts";
import { readLogTail } from "../../logs.ts";
import {
  assert,
  assertEquals,
  craftEnded,
  ended,
  jobs,
  settled,
  spawnJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";

Deno.test("jobs <id> shows every field and the last 10 lines of the log", async () => {
  const dir = await tempDir();
  try {
    const job = await spawnJob(dir, "sh", [
      "-c",
      "i=1; while [ $i -le 15 ]; do echo line $i; i=$((i+1)); done; exit 3",
    ]);
    const done = await until(dir, job.jobId, ended);
    const r = await jobs(dir, job.jobId.slice(0, 20));
    assertEquals(r.code, 0, r.stderr);
    const out = r.stdout;
    for (
      const want of [
        `Job ${job.jobId}\n`,
        "Status:      failed (exit code 3)",
        `Command:     sh -c 'i=1; while`,
        // Which supervised it: the perl shim, or the Deno supervisor.
        `PID:         ${job.pid} (supervisor: ${done.supervisor})`,
        `Worker PID:  ${done.workerPid}`,
        "Exit code:   3",
        "Error:       Exited with code 3",
        "Timeout:     1d",
        `Log:         ${job.logPath}`,
        `Working dir: ${done.workingDir}`,
        "Last 10 lines of the log:\n  line 6\n",
        "  line 15\n",
      ]
    ) {
      assert(out.includes(want), `missing ${JSON.stringify(want)} in\n${out}`);
    }
    assert(
      /Started: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+(s| seconds?) ago)\)/
        .test(out),
      out,
    );
    assert(/Completed: +\d{4}-.*ago|just now/.test(out), out);
    assert(/Duration: +\d+(ms|\.\ds)\n/.test(out), out);
    assert(!out.includes("line 5\n"), out);

    const same = await jobs(dir, "show", job.jobId);
    const strip = (text: string) => text.replace(/\(.*ago\)|\(just now\)/g, "");
    assertEquals(strip(same.stdout), strip(out));

    const j = await jobs(dir, job.jobId, "--json");
    const doc = JSON.parse(j.stdout);
    assertEquals([doc.id, doc.status, doc.exit_code], [job.jobId, "failed", 3]);
    assertEquals(doc.log_tail.length, 10);
    assertEquals(doc.log_tail[9], "line 15");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs <id> reads only the end of a large log", async (t) => {
  const dir = await tempDir();
  try {
    const store = new FileJobStore(dir);
    const job = await craftEnded(store);
    const size = 50 * 1024 * 1024;
    const tail = Array.from({ length: 20 }, (_, i) => `tail ${i + 1}\n`).join(
      "",
    );
    {
      // 50 MB of (sparse) zeros, then twenty lines.
      using f = await Deno.open(job.logPath, { write: true, truncate: true });
      await f.truncate(size);
      await f.seek(size, Deno.SeekMode.Start);
      await f.write(new TextEncoder().encode(tail));
    }

    await t.step("readLogTail reads a bounded number of bytes", async () => {
      const got = await readLogTail(job.logPath, { lines: 10 });
      assertEquals(
        got.lines,
        Array.from({ length: 10 }, (_, i) => `tail ${i + 11}`),
      );
      assertEquals(got.truncated, false);
      assert(got.bytesRead <= 2 * 64 * 1024, `read ${got.bytesRead} bytes`);
    });

    await t.step(
      "a log without newlines is cut at the byte bound",
      async () => {
        const blank = `${dir}/blank.log`;
        {
          using f = await Deno.open(blank, { write: true, create: true });
          await f.truncate(size);
        }
        const got = await readLogTail(blank, {
          lines: 10,
          maxBytes: 64 * 1024,
        });
        assertEquals(got.truncated, true);
        assertEquals(got.lines.length, 1);
        assert(got.bytesRead <= 2 * 64 * 1024, `read ${got.bytesRead} bytes`);
      },
    );

    await t.step("the CLI shows the tail", async () => {
      const r = await jobs(dir, job.id);
      assertEquals(r.code, 0, r.stderr);
      assert(
        r.stdout.includes("  tail 11\n") && r.stdout.endsWith("  tail 20\n"),
        r.stdout,
      );
      assert(!r.stdout.includes("tail 10\n"));
      const n = await jobs(dir, "logs", job.id, "-n", "3");
      assertEquals(n.stdout, "tail 18\ntail 19\ntail 20\n");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs <id> shows the last lines across <id>.log.1 and <id>.log", async () => {
  const dir = await tempDir();
  try {
    const job = await craftEnded(new FileJobStore(dir));
    const lines = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`)
        .join("");
    await Deno.writeTextFile(`${job.logPath}.1`, lines(1, 8));
    await Deno.writeTextFile(job.logPath, lines(9, 11));
    const r = await jobs(dir, job.id);
    assert(
      r.stdout.includes("Last 10 lines of the log:\n  line 2\n") &&
        r.stdout.endsWith("  line 11\n"),
      r.stdout,
    );
    // A rotation just before the end leaves <id>.log empty: the tail is
    // still there.
    await Deno.writeTextFile(job.logPath, "");
    const doc = JSON.parse((await jobs(dir, job.id, "--json")).stdout);
    assertEquals(doc.log_tail, lines(1, 8).trimEnd().split("\n"));
    // An <id>.log.1 that is a symbolic link is not followed.
    const secret = `${dir}.secret`;
    await Deno.writeTextFile(secret, "secret\n");
    try {
      await Deno.remove(`${job.logPath}.1`);
      await Deno.symlink(secret, `${job.logPath}.1`);
      const shown = await jobs(dir, job.id);
      assert(shown.stdout.endsWith("\nThe log is empty.\n"), shown.stdout);
    } finally {
      await Deno.remove(secret);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lost job's end and duration are unknown in jobs, jobs <id>, wait and --json", async () => {
  const dir = await tempDir();
  try {
    const store = new FileJobStore(dir);
    // As an older cancel recorded a job that died 0.7 s in: with the time
    // the loss was noticed, 19 s later, as if it were the end.
    const created = await store.create({ command: "sleep", args: ["1"] });
    const job = await store.update(created.id, (j) => {
      j.status = "lost";
      j.startedAt = new Date(Date.now() - 60_000);
      j.completedAt = new Date(j.startedAt.getTime() + 19_000);
      j.error = "Job was lost (its supervisor is gone)";
      return j;
    });
    const list = await jobs(dir, "--all");
    assertEquals(list.code, 0, list.stderr);
    const row = list.stdout.split("\n").find((l) => l.startsWith(job.id));
    assert(row !== undefined && /\blost\b.*\bunknown\b/.test(row), list.stdout);
    assert(!/\b19s\b/.test(list.stdout), list.stdout);

    const show = await jobs(dir, job.id);
    assertEquals(show.code, 0, show.stderr);
    assert(/\n {2}Duration: +unknown\n/.test(show.stdout), show.stdout);
    assert(
      /Completed: +unknown; recorded lost \d{4}-/.test(show.stdout),
      show.stdout,
    );
    assert(!/\b19s\b/.test(show.stdout), show.stdout);

    for (
      const args of [["--all", "--json"], [job.id, "--json"], [
        "wait",
        job.id,
        "--json",
      ]]
    ) {
      const r = await jobs(dir, ...args);
      const doc = JSON.parse(r.stdout);
      const one = doc.jobs ? doc.jobs[0] : doc;
      assertEquals(one.status, "lost", args.join(" "));
      assertEquals(one.duration_ms, null, args.join(" "));
    }
    const wait = await jobs(dir, "wait", job.id);
    assertEquals(wait.code, 1, wait.stderr);
    assertEquals(wait.stdout, `Job ${job.id} lost\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs <id> escapes the log's control characters; --json keeps them", async () => {
  const dir = await tempDir();
  try {
    const job = await spawnJob(dir, "printf", [
      "\\033[31mred\\033[0m\\ta\\r\\n",
    ]);
    await until(dir, job.jobId, ended);
    const r = await jobs(dir, job.jobId);
    assertEquals(r.code, 0, r.stderr);
    assert(
      ![...r.stdout].some((c) => c < " " && c !== "\t" && c !== "\n"),
      r.stdout,
    );
    assert(r.stdout.includes("  \\x1b[31mred\\x1b[0m\ta\\x0d\n"), r.stdout);
    const json = await jobs(dir, job.jobId, "--json");
    assertEquals(JSON.parse(json.stdout).log_tail, ["\x1b[31mred\x1b[0m\ta\r"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs and jobs <id> say when a job's supervisor is stopped", async () => {
  const dir = await tempDir();
  const job = await spawnJob(dir, "sleep", ["30"], { timeout: 60_000 });
  try {
    await until(dir, job.jobId, (j) => j.workerPid !== undefined);
    Deno.kill(job.pid, "SIGSTOP");
    const one = await jobs(dir, job.jobId);
    assertEquals(one.code, 0, one.stderr);
    assert(
      /Status: +running \(its supervisor is stopped \(SIGSTOP\)/.test(
        one.stdout,
      ),
      one.stdout,
    );
    const list = await jobs(dir);
    assert(list.stdout.includes(" running (supervisor stopped) "), list.stdout);
  } finally {
    Deno.kill(job.pid, "SIGCONT");
    await jobs(dir, "cancel", job.jobId);
    await settled(dir, job.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});
