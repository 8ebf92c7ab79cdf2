// Tests of `epack jobs`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts (real supervisors, real workers, real
// signals) and, for edge cases, records written with JobStore.

import { type Job, JobStore } from "./jobs.ts";
import { jobExitCode, readLogTail, WAIT_EXIT } from "./cli_jobs.ts";

const MOD = new URL("./mod.ts", import.meta.url).pathname;
const SPAWNER = new URL("./testdata/spawner.ts", import.meta.url).pathname;
/** `epack jobs`, the real CLI, as users run it from source. */
const ENTRY = ["run", "-A", MOD, "jobs"];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `epack jobs <args> --jobs-dir <dir>`. */
async function jobs(dir: string, ...args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...ENTRY, ...args, "--jobs-dir", dir],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

interface Spawned {
  jobId: string;
  pid: number;
  logPath: string;
}

/** Starts a real job of an external command through the fixture. */
async function spawnJob(
  dir: string,
  command: string,
  args: string[],
  extra: Record<string, unknown> = {},
): Promise<Spawned> {
  const options = { program: command, args, jobsDir: dir, ...extra };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SPAWNER, JSON.stringify(options)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

/** Polls the record (the test's own clock, not the code under test's). */
async function until(
  dir: string,
  id: string,
  done: (job: Job) => boolean,
  ms = 15_000,
): Promise<Job> {
  const store = new JobStore(dir);
  const deadline = Date.now() + ms;
  for (;;) {
    const job = await store.load(id);
    if (done(job)) return job;
    if (Date.now() > deadline) {
      throw new Error(`Job ${id} still ${job.status} after ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ended = (job: Job) => job.status !== "running";

/** Whether a process has exited (a zombie counts: it runs nothing). */
function gone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z";
  } catch {
    return true;
  }
}

/** Stops a job the test left running, whatever state it is in. */
async function stopJob(dir: string, id: string): Promise<void> {
  const job = await new JobStore(dir).loadRecorded(id).catch(() => undefined);
  for (const pid of [job?.pid, job?.workerPid]) {
    if (pid === undefined || pid <= 1) continue;
    for (const target of [-pid, pid]) {
      try {
        Deno.kill(target, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

function assert(cond: unknown, message = "assertion failed"): asserts cond {
  if (!cond) throw new Error(message);
}

function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) {
    throw new Error(`${message}\n  actual:   ${a}\n  expected: ${e}`);
  }
}

/** One `error:` line, the usage hint when `hint`, exit 1, nothing else. */
function assertCliError(run: Run, hint: string | undefined, match?: RegExp) {
  const lines = run.stderr.split("\n").filter((l) => l !== "");
  assertEquals(run.code, 1, `exit code (stderr: ${run.stderr})`);
  assertEquals(run.stdout, "", "stdout");
  assert(lines[0].startsWith("error: "), `first line: ${lines[0]}`);
  assert(!/^\s+at /m.test(run.stderr), `stack trace: ${run.stderr}`);
  if (hint === undefined) {
    assertEquals(lines.length, 1, `stderr: ${run.stderr}`);
  } else {
    assertEquals(lines.length, 2, `stderr: ${run.stderr}`);
    assertEquals(lines[1], `Run 'epack ${hint} --help' for usage.`);
  }
  if (match) assert(match.test(lines[0]), `${lines[0]} !~ ${match}`);
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "detach_cli_jobs_" });
}

/** A finished job written straight into the store, ended `agoMs` ago. */
async function craftEnded(
  store: JobStore,
  options: { id?: string; agoMs?: number; exitCode?: number } = {},
): Promise<Job> {
  const job = await store.create({
    id: options.id,
    command: "sh",
    args: ["-c", "true"],
  });
  await store.complete(job.id, { exitCode: options.exitCode ?? 0 });
  const at = new Date(Date.now() - (options.agoMs ?? 0));
  return await store.update(job.id, (j) => {
    j.startedAt = new Date(at.getTime() - 1000);
    j.completedAt = at;
    return j;
  });
}

Deno.test("jobs lists running jobs by default, all with --all, one status with --status", async (t) => {
  const dir = await tempDir();
  let running: Spawned | undefined;
  try {
    running = await spawnJob(dir, "sleep", ["30"], { grace: 200 });
    const failed = await spawnJob(dir, "sh", ["-c", "echo hi; exit 3"]);
    await until(dir, failed.jobId, ended);

    await t.step("default: running jobs only, as a table", async () => {
      const r = await jobs(dir);
      assertEquals(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n");
      assert(
        /^ID\s+STATUS\s+COMMAND\s+STARTED\s+DURATION$/.test(lines[0]),
        lines[0],
      );
      assertEquals(lines.length, 2, r.stdout);
      assert(lines[1].startsWith(running!.jobId), lines[1]);
      assert(
        /running\s+sleep 30\s+(just now|\d+ seconds? ago)\s+\S+$/.test(
          lines[1],
        ),
        lines[1],
      );
      assert(!r.stdout.includes(failed.jobId));
      assert(!r.stdout.includes("\x1b["), "no colour in a pipe");
    });

    await t.step("--all: every job, newest first", async () => {
      const r = await jobs(dir, "--all");
      assertEquals(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n").slice(1);
      assertEquals(lines.map((l) => l.split(/\s+/)[0]), [
        failed.jobId,
        running!.jobId,
      ]);
      assert(/failed\s+sh -c 'echo hi; exit 3'/.test(lines[0]), lines[0]);
    });

    await t.step("--status failed", async () => {
      const r = await jobs(dir, "--status", "failed");
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.includes(failed.jobId));
      assert(!r.stdout.includes(running!.jobId));
      const none = await jobs(dir, "--status", "cancelled");
      assertEquals(none.stdout, "No cancelled jobs.\n");
    });

    await t.step("--json: the on-disk keys plus duration_ms", async () => {
      const r = await jobs(dir, "--all", "--json");
      assertEquals(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assertEquals(doc.invalid, []);
      assertEquals(doc.jobs.length, 2);
      const f = doc.jobs[0];
      assertEquals(
        [f.id, f.command, f.args, f.status, f.exit_code],
        [failed.jobId, "sh", ["-c", "echo hi; exit 3"], "failed", 3],
      );
      assertEquals(f.log_path, failed.logPath);
      assert(typeof f.started_at === "string" && f.completed_at);
      assert(typeof f.duration_ms === "number" && f.duration_ms >= 0);
      assertEquals(doc.jobs[1].status, "running");
    });
  } finally {
    if (running) await stopJob(dir, running.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs warns about invalid job files and still lists the valid jobs", async () => {
  const dir = await tempDir();
  try {
    const store = new JobStore(dir);
    const good = await craftEnded(store);
    await Deno.writeTextFile(`${dir}/BROKEN1.json`, "{not json");
    await Deno.writeTextFile(`${dir}/bad name.json`, "{}");

    const r = await jobs(dir, "--all");
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.includes(good.id), r.stdout);
    const warnings = r.stderr.trimEnd().split("\n");
    assertEquals(warnings.length, 2, r.stderr);
    assert(
      warnings[0].startsWith(
        "warning: skipping invalid job file BROKEN1: not valid JSON",
      ),
      warnings[0],
    );
    assert(
      warnings[1].startsWith(
        "warning: skipping invalid job file bad name.json:",
      ),
      warnings[1],
    );

    const j = await jobs(dir, "--all", "--json");
    assertEquals(j.stderr, "");
    const doc = JSON.parse(j.stdout);
    assertEquals(doc.jobs.map((x: { id: string }) => x.id), [good.id]);
    assertEquals(doc.invalid.map((x: { id: string }) => x.id), [
      "BROKEN1",
      "bad name.json",
    ]);
    assert(
      doc.invalid[0].reason && doc.invalid[0].path.endsWith("BROKEN1.json"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

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
        `PID:         ${job.pid} (supervisor)`,
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
      /Started: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+ seconds? ago)\)/
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
    const store = new JobStore(dir);
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

    await t.step("the CLI shows the tail, fast", async () => {
      const started = performance.now();
      const r = await jobs(dir, job.id);
      const ms = performance.now() - started;
      assertEquals(r.code, 0, r.stderr);
      assert(
        r.stdout.includes("  tail 11\n") && r.stdout.endsWith("  tail 20\n"),
        r.stdout,
      );
      assert(!r.stdout.includes("tail 10\n"));
      // Generous: a deno start costs ~0.1 s; reading 50 MB would not fail
      // this alone, the byte count above is the real check.
      assert(ms < 5_000, `took ${ms} ms`);
      const n = await jobs(dir, "logs", job.id, "-n", "3");
      assertEquals(n.stdout, "tail 18\ntail 19\ntail 20\n");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs logs prints the log, its last N lines, or JSON lines", async (t) => {
  const dir = await tempDir();
  try {
    const job = await spawnJob(dir, "sh", [
      "-c",
      "printf 'a\\nb\\n\\nc\\nno newline'",
    ]);
    await until(dir, job.jobId, ended);

    await t.step("all of it, byte for byte", async () => {
      const r = await jobs(dir, "logs", job.jobId);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "a\nb\n\nc\nno newline");
    });
    await t.step("-n N", async () => {
      assertEquals(
        (await jobs(dir, "logs", job.jobId, "-n", "2")).stdout,
        "c\nno newline",
      );
      assertEquals(
        (await jobs(dir, "logs", job.jobId, "-n3")).stdout,
        "\nc\nno newline",
      );
      assertEquals(
        (await jobs(dir, "logs", job.jobId, "--lines", "0")).stdout,
        "",
      );
      assertEquals(
        (await jobs(dir, "logs", job.jobId, "-n", "99")).stdout,
        "a\nb\n\nc\nno newline",
      );
    });
    await t.step("--json: one object per line", async () => {
      const r = await jobs(dir, "logs", job.jobId, "--json", "-n", "3");
      assertEquals(
        r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).line),
        ["", "c", "no newline"],
      );
    });
    await t.step("a large log streams through unchanged", async () => {
      const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) =>
        i % 61 === 60 ? 10 : 97 + (i % 26)
      );
      await Deno.writeFile(job.logPath, big);
      const out = await new Deno.Command(Deno.execPath(), {
        args: [...ENTRY, "logs", job.jobId, "--jobs-dir", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0);
      assertEquals(out.stdout.length, big.length);
      assert(out.stdout.every((b, i) => b === big[i]), "bytes differ");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs logs -f follows the log and stops after the job's last bytes", async () => {
  const dir = await tempDir();
  try {
    const job = await spawnJob(dir, "sh", [
      "-c",
      "echo one; sleep 0.4; echo two; sleep 0.4; printf three; exit 2",
    ]);
    const started = performance.now();
    const r = await jobs(dir, "logs", "-f", job.jobId);
    const ms = performance.now() - started;
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "one\ntwo\nthree");
    const done = await new JobStore(dir).load(job.jobId);
    assertEquals(done.status, "failed");
    assert(ms < 10_000, `took ${ms} ms`);

    // An ended job: -f prints what there is and returns.
    const again = await jobs(dir, "logs", "-f", "-n", "1", job.jobId);
    assertEquals(again.stdout, "three");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs wait passes the job's exit code on and returns as soon as it ends", async (t) => {
  const dir = await tempDir();
  const left: string[] = [];
  try {
    await t.step("exit 0 and exit 3, promptly", async () => {
      const ok = await spawnJob(dir, "sh", ["-c", "sleep 1; exit 0"]);
      const bad = await spawnJob(dir, "sh", ["-c", "sleep 1; exit 3"]);
      const timed = async (id: string) => {
        const r = await jobs(dir, "wait", id);
        return { r, at: Date.now() };
      };
      const [a, b] = await Promise.all([timed(ok.jobId), timed(bad.jobId)]);
      assertEquals(a.r.code, 0, a.r.stderr);
      assertEquals(b.r.code, 3, b.r.stderr);
      assert(/^Job \w+ completed after \d/.test(a.r.stdout), a.r.stdout);
      assert(
        /^Job \w+ failed \(exit code 3\) after \d/.test(b.r.stdout),
        b.r.stdout,
      );
      const store = new JobStore(dir);
      for (const [id, at] of [[ok.jobId, a.at], [bad.jobId, b.at]] as const) {
        const end = (await store.load(id)).completedAt!.getTime();
        // A slow poll would return up to a whole period late; the watcher
        // returns within milliseconds (see the report for the figure).
        assert(at - end < 1_500, `returned ${at - end} ms after the end`);
      }
    });

    await t.step("an ended job: at once, with --json", async () => {
      const r = await jobs(
        dir,
        "wait",
        "--json",
        (await new JobStore(dir).list()).jobs[0].id,
      );
      const doc = JSON.parse(r.stdout);
      assertEquals(r.code, doc.cli_exit_code);
      assert(doc.status === "failed" || doc.status === "completed");
    });

    await t.step("killed by a signal: 128 + signo", async () => {
      const job = await spawnJob(dir, "sh", ["-c", "kill -9 $$"]);
      const r = await jobs(dir, "wait", job.jobId);
      assertEquals(r.code, 137, r.stderr);
      assert(r.stdout.includes("failed (killed by SIGKILL)"), r.stdout);
    });

    await t.step("timed out: 124", async () => {
      const job = await spawnJob(dir, "sleep", ["30"], {
        timeout: 300,
        grace: 200,
      });
      left.push(job.jobId);
      const r = await jobs(dir, "wait", job.jobId);
      assertEquals(r.code, WAIT_EXIT.TIMED_OUT, r.stderr);
      assert(r.stdout.includes("timed_out"), r.stdout);
    });

    await t.step("--timeout passes first: 75 and one error line", async () => {
      const job = await spawnJob(dir, "sleep", ["30"], { grace: 200 });
      left.push(job.jobId);
      const started = performance.now();
      const r = await jobs(dir, "wait", job.jobId, "--timeout", "300ms");
      assert(performance.now() - started < 5_000);
      assertEquals(r.code, WAIT_EXIT.WAIT_TIMEOUT);
      assertEquals(
        r.stderr,
        `error: Timed out after 300ms waiting for job ${job.jobId}; it is still running\n`,
      );
    });
  } finally {
    for (const id of left) await stopJob(dir, id);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobExitCode() maps each end to the documented exit code", () => {
  const base: Job = {
    id: "x1234",
    command: "c",
    args: [],
    flags: [],
    status: "completed",
    pid: 1,
    startedAt: new Date(),
    logPath: "",
  };
  const cases: [Partial<Job>, number][] = [
    [{ status: "completed", exitCode: 0 }, 0],
    [{ status: "failed", exitCode: 3 }, 3],
    [{ status: "failed", exitCode: 256 }, 1],
    [{ status: "failed", signal: "SIGKILL" }, 137],
    [{ status: "failed", signal: "SIGTERM" }, 143],
    [{ status: "failed", signal: "SIGNOPE" }, 1],
    [{ status: "failed", error: "Cannot start x: command not found" }, 1],
    [{ status: "timed_out", signal: "SIGTERM" }, 124],
    [{ status: "cancelled", signal: "SIGTERM" }, 130],
    [{ status: "lost" }, 1],
  ];
  for (const [patch, code] of cases) {
    assertEquals(
      jobExitCode({ ...base, ...patch }),
      code,
      JSON.stringify(patch),
    );
  }
});

Deno.test("jobs cancel stops a running job and does nothing to an ended one", async () => {
  const dir = await tempDir();
  let job: Spawned | undefined;
  try {
    job = await spawnJob(dir, "sleep", ["30"], { grace: 500 });
    const running = await until(
      dir,
      job.jobId,
      (j) => j.workerPid !== undefined,
    );
    const r = await jobs(dir, "cancel", job.jobId);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, `Job ${job.jobId} cancelled\n`);
    const after = await new JobStore(dir).load(job.jobId);
    assertEquals(after.status, "cancelled");
    assert(gone(running.workerPid!), "the worker is still running");

    const again = await jobs(dir, "cancel", job.jobId, "--json");
    assertEquals(again.code, 0, again.stderr);
    const doc = JSON.parse(again.stdout);
    assertEquals(doc.outcome, "already-ended");
    assert(/already ended \(cancelled\); nothing to cancel/.test(doc.message));
    assertEquals(doc.job.status, "cancelled");

    const w = await jobs(dir, "wait", job.jobId);
    assertEquals(w.code, WAIT_EXIT.CANCELLED);
  } finally {
    if (job) await stopJob(dir, job.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lost job is shown lost, wait exits 1, logs -f stops", async () => {
  const dir = await tempDir();
  let job: Spawned | undefined;
  try {
    job = await spawnJob(dir, "sh", ["-c", "echo started; exec sleep 30"]);
    await until(dir, job.jobId, (j) => j.workerPid !== undefined);
    // SIGKILL leaves no chance to record anything: only the released
    // liveness lock tells.
    Deno.kill(job.pid, "SIGKILL");
    await until(dir, job.jobId, (j) => j.status === "lost");
    const show = await jobs(dir, job.jobId);
    assert(/Status: +lost\n/.test(show.stdout), show.stdout);
    assert(show.stdout.includes("Duration:    unknown"), show.stdout);
    const w = await jobs(dir, "wait", job.jobId);
    assertEquals(w.code, 1, w.stderr);
    const f = await jobs(dir, "logs", "-f", job.jobId);
    assertEquals([f.code, f.stdout], [0, "started\n"]);
    const list = await jobs(dir, "--status", "lost");
    assert(list.stdout.includes(job.jobId), list.stdout);
  } finally {
    if (job) await stopJob(dir, job.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs clean removes old ended jobs and never running ones", async () => {
  const dir = await tempDir();
  let running: Spawned | undefined;
  try {
    const store = new JobStore(dir);
    const day = 24 * 60 * 60 * 1000;
    const old = await craftEnded(store, { agoMs: 2 * day, exitCode: 1 });
    const recent = await craftEnded(store, { agoMs: 60_000 });
    running = await spawnJob(dir, "sleep", ["30"], { grace: 200 });
    await until(dir, running.jobId, (j) => j.supervisedAt !== undefined);
    // A job that has run for days is still not "old".
    await store.update(running.jobId, (j) => {
      j.startedAt = new Date(Date.now() - 3 * day);
      return j;
    });

    const r = await jobs(dir, "clean");
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "Removed 1 job that ended more than 1d ago.\n");
    const ids = async () => (await store.list()).jobs.map((j) => j.id).sort();
    assertEquals(await ids(), [recent.id, running.jobId].sort());
    await Deno.stat(old.logPath).then(
      () => assert(false, "the old log is still there"),
      () => {},
    );

    const c = await jobs(dir, "--clean", "--older-than", "30s", "--json");
    assertEquals(JSON.parse(c.stdout), { cleaned: 1, removed: [recent.id] });
    assertEquals(await ids(), [running.jobId]);
    assertEquals((await store.load(running.jobId)).status, "running");
  } finally {
    if (running) await stopJob(dir, running.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a job ID prefix (or suffix) of 4 or more characters selects a job", async (t) => {
  const dir = await tempDir();
  try {
    const store = new JobStore(dir);
    await craftEnded(store, { id: "abcd1111" });
    await craftEnded(store, { id: "abcd2222" });
    await craftEnded(store, { id: "zzzz9999" });

    await t.step("a unique prefix", async () => {
      const r = await jobs(dir, "abcd1");
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.startsWith("Job abcd1111\n"), r.stdout);
      assert(
        (await jobs(dir, "show", "zzzz")).stdout.startsWith("Job zzzz9999\n"),
      );
      assertEquals((await jobs(dir, "wait", "zzzz")).code, 0);
    });
    await t.step(
      "the last characters, when no ID starts with them",
      async () => {
        const r = await jobs(dir, "show", "9999");
        assertEquals(r.code, 0, r.stderr);
        assert(r.stdout.startsWith("Job zzzz9999\n"), r.stdout);
      },
    );
    await t.step("an ambiguous prefix lists the candidates", async () => {
      assertCliError(
        await jobs(dir, "abcd"),
        undefined,
        /^error: Ambiguous job ID prefix abcd: matches abcd1111, abcd2222$/,
      );
    });
    await t.step("3 characters are too few", async () => {
      assertCliError(await jobs(dir, "zzz"), "jobs", /too short/);
      assertCliError(await jobs(dir, "logs", "zzz"), "jobs logs", /too short/);
    });
    await t.step(
      "with --json, the error is also a JSON object on stdout",
      async () => {
        const r = await jobs(dir, "show", "qqqq", "--json");
        assertEquals(r.code, 1);
        assertEquals(r.stderr, "error: Job not found: qqqq\n");
        assertEquals(JSON.parse(r.stdout), {
          error: "Job not found: qqqq",
          exitCode: 1,
        });
      },
    );
    await t.step("no match", async () => {
      assertCliError(
        await jobs(dir, "wait", "qqqq"),
        undefined,
        /^error: Job not found: qqqq$/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs --help and each subcommand's --help print usage", async () => {
  const dir = await tempDir();
  try {
    for (
      const sub of [[], ["list"], ["show"], ["logs"], ["wait"], ["cancel"], [
        "clean",
      ]]
    ) {
      for (const flag of ["--help", "-h"]) {
        const r = await jobs(dir, ...sub, flag);
        assertEquals([r.code, r.stderr], [0, ""], `${sub} ${flag}`);
        assert(r.stdout.includes("Usage:\n  epack jobs"), r.stdout);
        if (sub.length > 0) assert(r.stdout.includes(`epack jobs ${sub[0]}`));
      }
    }
    const wait = await jobs(dir, "wait", "--help");
    assert(
      wait.stdout.includes("124") && wait.stdout.includes("130"),
      wait.stdout,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("usage errors print one line and a hint and exit 1", async () => {
  const dir = await tempDir();
  try {
    const cases: [string[], string, RegExp][] = [
      [["--bogus"], "jobs", /^error: Unknown option '--bogus'$/],
      [
        ["--status", "nope"],
        "jobs",
        /Invalid --status "nope": use one of running,/,
      ],
      [["--status"], "jobs", /--status/],
      [["wait"], "jobs wait", /^error: Missing job ID$/],
      [
        ["wait", "abcd", "--timeout", "soon"],
        "jobs wait",
        /Invalid --timeout value "soon"/,
      ],
      [["cancel", "abcd", "--grace", "-1s"], "jobs cancel", /--grace/],
      [["clean", "--older-than", "1y"], "jobs clean", /Invalid --older-than/],
      [["--clean", "--older-than", "x"], "jobs", /Invalid --older-than/],
      [["logs", "abcd", "-n", "x"], "jobs logs", /Invalid -n value "x"/],
      [["logs", "abcd", "-n", "-3"], "jobs logs", /-n/],
      [["logs", "abcd", "--follow=yes"], "jobs logs", /follow/],
      [["show", "a", "b"], "jobs show", /Unexpected argument "b"/],
      [["abcd", "--all"], "jobs", /cannot be used with a job ID/],
      [["--clean", "--all"], "jobs", /--clean cannot be combined/],
      [["--older-than", "1h"], "jobs", /--older-than goes with --clean/],
      [
        ["logs", "abcd", "--timeout", "1s"],
        "jobs logs",
        /Unknown option '--timeout'/,
      ],
    ];
    for (const [args, hint, match] of cases) {
      assertCliError(await jobs(dir, ...args), hint, match);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile job IDs are rejected before anything is touched", async () => {
  const dir = await tempDir();
  try {
    for (
      const id of [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "a b c d",
        "abcd.json",
      ]
    ) {
      for (const sub of [[], ["logs"], ["wait"], ["cancel"]]) {
        assertCliError(
          await jobs(dir, ...sub, id),
          ["jobs", ...sub].join(" "),
          /^error: Invalid job ID .*: only letters, digits and underscores are allowed$/,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs with no jobs directory says there are none", async () => {
  const dir = await tempDir();
  try {
    const missing = `${dir}/nothing/here`;
    const r = await jobs(missing);
    assertEquals([r.code, r.stdout], [
      0,
      "No running jobs.\nUse --all to show jobs that have ended.\n",
    ]);
    assertEquals((await jobs(missing, "--all")).stdout, "No jobs.\n");
    assertEquals(JSON.parse((await jobs(missing, "--json")).stdout), {
      jobs: [],
      invalid: [],
    });
    assertCliError(
      await jobs(missing, "show", "abcd"),
      undefined,
      /Job not found: abcd/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAS_SCRIPT = (() => {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "statuses are coloured on a terminal unless NO_COLOR is set",
  // script(1) gives the command a pseudo-terminal as stdout.
  ignore: !HAS_SCRIPT,
  async fn() {
    const dir = await tempDir();
    try {
      await craftEnded(new JobStore(dir), { exitCode: 3 });
      const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
      const line = [Deno.execPath(), ...ENTRY, "--all", "--jobs-dir", dir]
        .map(quote).join(" ");
      const onTty = async (env: Record<string, string>) => {
        const out = await new Deno.Command("/usr/bin/script", {
          args: ["-qc", line, "/dev/null"],
          env,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        return new TextDecoder().decode(out.stdout);
      };
      const colored = await onTty({ NO_COLOR: "" });
      assert(colored.includes("\x1b[31mfailed\x1b[0m"), colored);
      const plain = await onTty({ NO_COLOR: "1" });
      assert(plain.includes("failed") && !plain.includes("\x1b["), plain);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
