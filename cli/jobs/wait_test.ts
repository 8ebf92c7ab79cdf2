// Tests of `epack jobs wait`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts and, for edge cases, records written
// with JobStore.

import { FileJobStore, type Job } from "../../jobs.ts";
import { jobExitCode, WAIT_EXIT } from "./wait.ts";
import {
  assert,
  assertEquals,
  ENTRY,
  jobs,
  type Spawned,
  spawnJob,
  stopJob,
  tempDir,
  until,
  watchesFiles,
} from "../../testdata/cli_helpers.ts";
import { until as poll } from "../../testdata/poll.ts";

Deno.test("jobs wait passes the job's exit code on and returns as soon as it ends", async (t) => {
  const dir = await tempDir();
  const left: string[] = [];
  try {
    await t.step("exit 0 and exit 3, once the job ends", async () => {
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
      const store = new FileJobStore(dir);
      for (const [id, at] of [[ok.jobId, a.at], [bad.jobId, b.at]] as const) {
        const end = (await store.load(id)).completedAt!.getTime();
        // Not a timing test (bench/wait_latency.ts measures how soon): it
        // returns once the job has ended, not at some later poll or never.
        assert(at - end < 30_000, `returned ${at - end} ms after the end`);
      }
    });

    await t.step("an ended job: at once, with --json", async () => {
      const r = await jobs(
        dir,
        "wait",
        "--json",
        (await new FileJobStore(dir).list()).jobs[0].id,
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
      assert(
        / timed out \(killed by SIGTERM\) after /.test(r.stdout),
        r.stdout,
      );
    });

    await t.step("--timeout passes first: 75 and one error line", async () => {
      const job = await spawnJob(dir, "sleep", ["120"], { grace: 200 });
      left.push(job.jobId);
      const started = performance.now();
      const r = await jobs(dir, "wait", job.jobId, "--timeout", "300ms");
      // Long before the job's end.
      assert(performance.now() - started < 60_000);
      assertEquals(r.code, WAIT_EXIT.WAIT_TIMEOUT);
      assertEquals(
        r.stderr,
        `error: Timed out after 300ms waiting for job ${job.jobId}; it has not ended\n`,
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

Deno.test("jobs wait tells its own Ctrl-C (75) from a cancelled job (130)", async (t) => {
  const dir = await tempDir();
  let job: Spawned | undefined;
  try {
    job = await spawnJob(dir, "sleep", ["30"]);
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      await t.step(
        `${signal} to the waiter: 75, and the job runs on`,
        async () => {
          const waiter = new Deno.Command(Deno.execPath(), {
            args: [...ENTRY, "wait", job!.jobId, "--jobs-dir", dir],
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
            env: { NO_COLOR: "1" },
          }).spawn();
          await poll("the waiter to watch", () => watchesFiles(waiter.pid));
          waiter.kill(signal);
          const out = await waiter.output();
          const stderr = new TextDecoder().decode(out.stderr);
          assertEquals(out.code, WAIT_EXIT.WAIT_TIMEOUT, stderr);
          assertEquals(out.signal, null);
          assertEquals(
            stderr,
            `error: Stopped waiting for job ${
              job!.jobId
            } (${signal}); the job has not ended\n`,
          );
          assertEquals(
            (await new FileJobStore(dir).load(job!.jobId)).status,
            "running",
          );
        },
      );
    }
    await t.step("the job cancelled while waited for: 130", async () => {
      const waiting = jobs(dir, "wait", job!.jobId);
      const cancelled = await jobs(dir, "cancel", job!.jobId, "--grace", "1s");
      assertEquals(cancelled.code, 0, cancelled.stderr);
      const w = await waiting;
      assertEquals(w.code, WAIT_EXIT.CANCELLED, w.stderr);
      assertEquals(WAIT_EXIT.CANCELLED, 130);
      assert(/^Job \w+ cancelled after /.test(w.stdout), w.stdout);
    });
  } finally {
    if (job) await stopJob(dir, job.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});
