// End-to-end tests of spawn(), the supervisor, timeouts and cancel, with
// real processes: the spawner is a real `deno run` that exits, the job is a
// real process tree, and it is stopped with real signals.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  cancel,
  DetachRecursionError,
  spawn,
  SpawnError,
  superviseIfRequested,
  waitForJob,
} from "./mod.ts";
import { _setRuntimeForTesting } from "./detach.ts";
import {
  type Job,
  JobNotFoundError,
  JobStore,
  SUPERVISOR_START_GRACE_MS,
} from "./jobs.ts";
import { findDetachFlag, selfArgv } from "./_argv.ts";
import { groupMembers, identifyGroup, readProcess } from "./timeout.ts";
import { withTempDir } from "./testdata/cli_helpers.ts";

const SPAWNER = fileURLToPath(
  new URL("./testdata/spawner.ts", import.meta.url),
);
const DENO = Deno.execPath();

interface Spawned {
  jobId: string;
  pid: number;
  logPath: string;
  argv: string[];
}

/** Runs the fixture, which spawns one job and exits; returns its output. */
async function spawnJob(
  options: Record<string, unknown>,
  denoFlags: string[] = ["-A"],
): Promise<{ code: number; result?: Spawned; stderr: string; ms: number }> {
  const started = performance.now();
  const out = await new Deno.Command(DENO, {
    args: ["run", ...denoFlags, SPAWNER, JSON.stringify(options)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr);
  return {
    code: out.code,
    result: out.code === 0 ? JSON.parse(stdout) : undefined,
    stderr,
    ms,
  };
}

async function mustSpawn(
  options: Record<string, unknown>,
  denoFlags?: string[],
): Promise<Spawned> {
  const r = await spawnJob(options, denoFlags);
  assert.equal(r.code, 0, `spawner failed: ${r.stderr}`);
  return r.result!;
}

async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 20_000,
  every = 25,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

function alive(pid: number): boolean {
  const p = readProcess(pid);
  return p !== undefined && p.state !== "Z" && p.state !== "X";
}

async function finalJob(dir: string, id: string): Promise<Job> {
  return await waitForJob(id, { jobsDir: dir, timeout: 30_000 });
}

Deno.test("spawn() records how a job ends after the spawner has exited", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("exit 0 is completed", async () => {
      const r = await spawnJob({ command: "echo", args: ["hi"], jobsDir: dir });
      assert.equal(r.code, 0, r.stderr);
      const job = await finalJob(dir, r.result!.jobId);
      assert.equal(job.status, "completed");
      assert.equal(job.exitCode, 0);
      assert.equal(job.signal, undefined);
      assert.ok(job.completedAt! >= job.startedAt);
      assert.equal(await Deno.readTextFile(job.logPath), "hi\n");
    });
    await t.step("the worker knows its job's ID", async () => {
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", "echo $EPACK_DETACH_JOB_ID"],
        external: true,
        jobsDir: dir,
      });
      const job = await finalJob(dir, jobId);
      assert.equal(await Deno.readTextFile(job.logPath), `${jobId}\n`);
    });
    await t.step("exit 3 is failed with exit code 3", async () => {
      const { jobId } = await mustSpawn({
        command: "exit",
        args: ["3"],
        jobsDir: dir,
      });
      const job = await finalJob(dir, jobId);
      assert.equal(job.status, "failed");
      assert.equal(job.exitCode, 3);
      assert.match(job.error ?? "", /code 3/);
    });
    await t.step(
      "a worker killed by a signal is failed with the signal",
      async () => {
        const { jobId } = await mustSpawn({
          command: "sh",
          args: ["-c", "kill -USR1 $$"],
          external: true,
          jobsDir: dir,
        });
        const job = await finalJob(dir, jobId);
        assert.equal(job.status, "failed");
        assert.equal(job.signal, "SIGUSR1");
        assert.equal(job.exitCode, undefined);
      },
    );
    await t.step("the spawner does not wait for the job", async () => {
      const r = await spawnJob({
        command: "sleep",
        args: ["5"],
        external: true,
        jobsDir: dir,
        grace: 200,
      });
      assert.equal(r.code, 0, r.stderr);
      // The spawner is a whole `deno run`; a generous bound, far below 5 s.
      assert.ok(r.ms < 4000, `spawner took ${r.ms} ms`);
      const store = new JobStore(dir);
      assert.equal((await store.load(r.result!.jobId)).status, "running");
      await cancel(r.result!.jobId, { jobsDir: dir, grace: 200 });
    });
  });
});

Deno.test("a job runs detached: own session, stdin closed, survives its spawner's group", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      command: "sleep",
      args: ["30"],
      external: true,
      jobsDir: dir,
      grace: 200,
    });
    const store = new JobStore(dir);
    try {
      const job = await until("the worker to start", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined ? j : undefined;
      });
      const supervisor = readProcess(pid)!;
      assert.equal(supervisor.sid, pid, "the supervisor leads its session");
      const worker = readProcess(job.workerPid!)!;
      assert.equal(worker.pgid, job.workerPid, "the worker leads its group");
      assert.notEqual(supervisor.sid, readProcess(Deno.pid)!.sid);
      assert.equal(
        await Deno.realPath(`/proc/${job.workerPid}/fd/0`),
        "/dev/null",
      );
      // A hangup or Ctrl-C sent to the test's own process group cannot
      // reach it; check that the group is not ours.
      assert.notEqual(worker.pgid, readProcess(Deno.pid)!.pgid);
      assert.equal((await store.load(jobId)).status, "running");
    } finally {
      await cancel(jobId, { jobsDir: dir, grace: 200 });
    }
  });
});

Deno.test("a supervisor killed with SIGKILL leaves its job lost, and cancel ends the orphaned worker", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      command: "sh",
      args: ["-c", "sleep 60 & wait"],
      external: true,
      jobsDir: dir,
      grace: 300,
    });
    const store = new JobStore(dir);
    const job = await until("the worker to start", async () => {
      const j = await store.load(jobId);
      return j.workerPid !== undefined && j.workerStartTicks !== undefined
        ? j
        : undefined;
    });
    assert.equal(job.status, "running");
    Deno.kill(pid, "SIGKILL");
    const lost = await until("the job to be lost", async () => {
      const j = await store.load(jobId);
      return j.status === "lost" ? j : undefined;
    });
    assert.match(lost.error ?? "", /supervisor is gone/);
    // The worker and its child outlived the supervisor.
    assert.ok(alive(job.workerPid!));
    assert.equal(groupMembers(job.workerPid!)!.length, 2);

    // clean() keeps a lost job while its processes run: it is the only
    // handle on them. The store knows no processes; the caller says which
    // jobs to keep (as `jobs clean` does).
    const keep = (j: Job) => {
      const left = identifyGroup(
        j.workerPid!,
        j.workerStartTicks!,
        `EPACK_DETACH_JOB_ID=${j.id}`,
      );
      return left !== undefined && left.length > 0;
    };
    assert.deepEqual(await store.clean(0, { keep }), []);

    const result = await cancel(jobId, { jobsDir: dir, grace: 300 });
    assert.equal(result.outcome, "lost");
    assert.match(result.message, /stopped 2 leftover process/);
    assert.deepEqual(groupMembers(job.workerPid!), []);
    const recorded = await store.loadRecorded(jobId);
    assert.equal(recorded.status, "lost");
    assert.ok(recorded.completedAt !== undefined);
    assert.deepEqual(await store.clean(0, { keep }), [jobId]);
  });
});

Deno.test("concurrent readers of a lost job all see it lost", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    const job = await store.create({ command: "x" });
    await store.update(job.id, (j) => ({ ...j, supervisedAt: new Date() }));
    // Each probe tries the liveness lock; probes must not mistake each other
    // for a live supervisor.
    const seen = await Promise.all(
      Array.from({ length: 40 }, () => store.load(job.id)),
    );
    assert.deepEqual(new Set(seen.map((j) => j.status)), new Set(["lost"]));
  });
});

Deno.test("identifyGroup() claims a group that lost its leader only by the job's mark", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "child.pid");
    // The leader starts a background child and exits; this test reaps it,
    // so the group is left without a leader, as under an init that reaps.
    const leader = new Deno.Command("sh", {
      args: ["-c", `sleep 30 & echo $! > ${pidFile}`],
      env: { EPACK_DETACH_JOB_ID: "job_mark" },
      detached: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ticks = readProcess(leader.pid)!.startTicks;
    await leader.status;
    const child = Number(await Deno.readTextFile(pidFile));
    try {
      assert.equal(readProcess(leader.pid), undefined, "the leader is gone");
      const found = identifyGroup(
        leader.pid,
        ticks,
        "EPACK_DETACH_JOB_ID=job_mark",
      );
      assert.deepEqual(found?.map((p) => p.pid), [child]);
      // Without the leader, its PID may lead a stranger's session by now:
      // no mark, or another job's mark, claims nothing.
      assert.equal(identifyGroup(leader.pid, ticks), undefined);
      assert.equal(
        identifyGroup(leader.pid, ticks, "EPACK_DETACH_JOB_ID=other"),
        undefined,
      );
      // Members that started before the recorded worker are not the job's.
      assert.equal(
        identifyGroup(
          leader.pid,
          ticks + 10_000_000,
          "EPACK_DETACH_JOB_ID=job_mark",
        ),
        undefined,
      );
    } finally {
      Deno.kill(child, "SIGKILL");
    }
  });
});

Deno.test("cancel() refuses a job that has no liveness file, and leaves its record as it was", async () => {
  await withTempDir(async (dir) => {
    // A running record as the Go epack writes it: no supervisor, no .live.
    const id = "job_20260101_000000_1";
    const text = JSON.stringify({
      id,
      command: "pull",
      args: null,
      status: "running",
      pid: Deno.pid,
      started_at: "2026-01-01T00:00:00.123456789+01:00",
      log_path: join(dir, `${id}.log`),
    });
    await Deno.writeTextFile(join(dir, `${id}.json`), text);
    await assert.rejects(
      () => cancel(id, { jobsDir: dir }),
      Error,
      "was not started by @epack/detach",
    );
    assert.equal(await Deno.readTextFile(join(dir, `${id}.json`)), text);
  });
});

Deno.test("a supervisor that takes its lock after the start grace records the job lost and does not run it", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    const marker = join(dir, "ran");
    const job = await store.create({
      command: "sh",
      argv: ["sh", "-c", `touch ${marker}`],
    });
    // Not yet late when the supervisor starts, but late by the time it gets
    // the lock: a reader holding the lock (as a probe does, briefly) keeps
    // it waiting past the grace period.
    await store.update(job.id, (j) => ({
      ...j,
      startedAt: new Date(Date.now() - SUPERVISOR_START_GRACE_MS + 1500),
    }));
    const probe = await Deno.open(store.livenessPath(job.id));
    await probe.lock(false);
    const supervisor = new Deno.Command(DENO, {
      args: ["run", "-A", SPAWNER, "__epack_detach_supervise__", dir, job.id],
    }).output();
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await store.load(job.id)).status, "lost");
    await probe.unlock();
    probe.close();
    assert.equal((await supervisor).code, 0);
    const recorded = await store.loadRecorded(job.id);
    assert.equal(recorded.status, "lost");
    assert.match(recorded.error ?? "", /started more than 30s late/);
    assert.equal(await Deno.stat(marker).catch(() => undefined), undefined);
  });
});

Deno.test("cancel() of a lost job leaves alone a PID that now belongs to another process", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    // A record whose worker PID is our own process, with another start
    // time: as if the PID had been reused after the job died.
    const job = await store.create({ command: "x" });
    await store.update(job.id, (j) => {
      j.supervisedAt = new Date();
      j.workerPid = Deno.pid;
      j.workerStartTicks = readProcess(Deno.pid)!.startTicks + 1;
      return j;
    });
    await Deno.writeFile(store.livenessPath(job.id), new Uint8Array());
    const result = await cancel(job.id, { jobsDir: dir, grace: 100 });
    assert.equal(result.outcome, "lost");
    assert.match(result.message, /cannot be identified safely .*left alone/);
  });
});

Deno.test("a timeout stops the worker and its grandchild, leaving no process of the group", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "grandchild.pid");
    const { jobId } = await mustSpawn({
      command: "sh",
      // The grandchild ignores SIGTERM, so the escalation to SIGKILL is
      // needed to end it.
      args: [
        "-c",
        `sh -c 'trap "" TERM; echo $$ > ${pidFile}; while :; do sleep 0.1; done' & wait`,
      ],
      external: true,
      jobsDir: dir,
      timeout: 700,
      grace: 400,
    });
    const grandchild = Number(
      await until("the grandchild", async () => {
        const text = await Deno.readTextFile(pidFile).catch(() => "");
        return text.trim() || undefined;
      }),
    );
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "timed_out");
    assert.match(job.error ?? "", /timeout of 700ms/);
    assert.match(job.error ?? "", /SIGKILL/);
    assert.deepEqual(groupMembers(job.workerPid!), []);
    assert.ok(!alive(grandchild), "the grandchild is gone");
  });
});

Deno.test("cancel() stops a running job, and is a no-op on one that has ended", async (t) => {
  await withTempDir(async (dir) => {
    await t.step(
      "a running job is cancelled and its group is gone",
      async () => {
        const { jobId } = await mustSpawn({
          command: "sh",
          args: ["-c", "sleep 60 & sleep 60"],
          external: true,
          jobsDir: dir,
        });
        const store = new JobStore(dir);
        const started = await until("the worker to start", async () => {
          const j = await store.load(jobId);
          return j.workerPid !== undefined ? j : undefined;
        });
        const result = await cancel(jobId, { jobsDir: dir, grace: 500 });
        assert.equal(result.outcome, "cancelled");
        assert.equal(result.job.status, "cancelled");
        assert.equal(result.job.signal, "SIGTERM");
        assert.deepEqual(groupMembers(started.workerPid!), []);
      },
    );
    await t.step("an ended job is left as it was", async () => {
      const { jobId } = await mustSpawn({ command: "echo", jobsDir: dir });
      const before = await finalJob(dir, jobId);
      const result = await cancel(jobId, { jobsDir: dir });
      assert.equal(result.outcome, "already-ended");
      assert.match(result.message, /already ended \(completed\)/);
      assert.deepEqual(result.job, before);
    });
  });
});

Deno.test("a signal to the supervisor at any moment never orphans the worker", async (t) => {
  await withTempDir(async (dir) => {
    // The worker ends on SIGTERM at once, but its child ignores it, so
    // stopping takes the whole grace period after the worker has exited: a
    // window in which the supervisor must go on catching signals.
    const stubborn = `sh -c 'trap "" TERM; while :; do sleep 0.1; done' & wait`;
    await t.step("cancelled twice", async () => {
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", stubborn],
        external: true,
        jobsDir: dir,
        grace: 800,
      });
      const store = new JobStore(dir);
      const started = await until("the worker to start", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined ? j : undefined;
      });
      const [first, second] = await Promise.all([
        cancel(jobId, { jobsDir: dir }),
        new Promise((r) => setTimeout(r, 200)).then(() =>
          cancel(jobId, { jobsDir: dir })
        ),
      ]);
      assert.equal(first.job.status, "cancelled", first.message);
      assert.equal(second.job.status, "cancelled", second.message);
      assert.match(first.job.error ?? "", /SIGKILL/);
      assert.deepEqual(groupMembers(started.workerPid!), []);
    });
    await t.step("cancelled while a timeout is stopping it", async () => {
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", stubborn],
        external: true,
        jobsDir: dir,
        timeout: 300,
        grace: 1000,
      });
      const store = new JobStore(dir);
      const started = await until("the worker to start", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined ? j : undefined;
      });
      await new Promise((r) => setTimeout(r, 600)); // inside the grace period
      const result = await cancel(jobId, { jobsDir: dir });
      assert.equal(result.job.status, "timed_out", result.message);
      assert.deepEqual(groupMembers(started.workerPid!), []);
    });
    await t.step(
      "cancelled the moment its supervisor takes the lock",
      async () => {
        await superviseIfRequested();
        const store = new JobStore(dir);
        for (let i = 0; i < 5; i++) {
          const { jobId } = await mustSpawn({
            command: "sleep",
            args: ["60"],
            external: true,
            jobsDir: dir,
            grace: 300,
          });
          // Right after supervisedAt is stamped the supervisor is still
          // starting the worker: cancel() signals it in that window.
          await until(
            "the supervisor to start",
            async () => {
              const j = await store.loadRecorded(jobId).catch(() => undefined);
              return j?.supervisedAt !== undefined ? true : undefined;
            },
            20_000,
            1,
          );
          const result = await cancel(jobId, { jobsDir: dir });
          assert.equal(result.job.status, "cancelled", result.message);
          const job = await store.loadRecorded(jobId);
          if (job.workerPid !== undefined) {
            assert.deepEqual(groupMembers(job.workerPid), []);
          }
        }
      },
    );
  });
});

Deno.test("waitForJob() takes timeouts beyond setTimeout's 24.8-day limit", async () => {
  await withTempDir(async (dir) => {
    const { jobId } = await mustSpawn({
      command: "sleep",
      args: ["0.3"],
      external: true,
      jobsDir: dir,
    });
    // Passed to setTimeout as is, 30 days would overflow to 1 ms and the
    // wait would give up at once.
    const job = await waitForJob(jobId, {
      jobsDir: dir,
      timeout: 30 * 24 * 60 * 60 * 1000,
    });
    assert.equal(job.status, "completed");
  });
});

Deno.test("waitForJob() reports a record removed during the wait, and refuses a bad timeout", async () => {
  await withTempDir(async (dir) => {
    const store = new JobStore(dir);
    const job = await store.create({ command: "x" });
    await assert.rejects(
      () => waitForJob(job.id, { jobsDir: dir, timeout: NaN }),
      RangeError,
    );
    // The outcome is taken at once, so the rejection is never unhandled.
    const outcome = waitForJob(job.id, { jobsDir: dir, timeout: 10_000 })
      .then(() => undefined, (err: unknown) => err);
    await new Promise((r) => setTimeout(r, 100));
    await store.delete(job.id);
    assert.ok((await outcome) instanceof JobNotFoundError);
  });
});

Deno.test("spawn() refuses a command line that would detach again", async (t) => {
  await withTempDir(async (dir) => {
    for (
      const flags of [["--detach"], ["-d"], ["--detach=true"], ["-fd"]]
    ) {
      await t.step(flags.join(" "), async () => {
        const r = await spawnJob({ command: "pull", flags, jobsDir: dir });
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /DetachRecursionError: A detached job cannot detach again/,
        );
      });
    }
    await t.step("nothing was recorded", () => {
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    });
    await t.step("arguments after -- are not flags", () => {
      assert.equal(findDetachFlag(["run", "--", "ls", "-d"]), undefined);
      assert.equal(findDetachFlag(["pull", "x", "--detach"]), "--detach");
    });
    await t.step(
      "in-process: DetachRecursionError before anything runs",
      async () => {
        await superviseIfRequested();
        await assert.rejects(
          () => spawn({ command: "pull", args: ["-d"], jobsDir: dir }),
          DetachRecursionError,
        );
      },
    );
  });
});

Deno.test("spawn() failures leave no running record and no process", async (t) => {
  await superviseIfRequested();
  await withTempDir(async (dir) => {
    await t.step("an unwritable jobs directory", async () => {
      let jobsDir: string;
      if (Deno.uid() === 0) {
        // root ignores directory modes (a job would really start there), so
        // the jobs directory goes under a regular file instead.
        await Deno.writeTextFile(join(dir, "file"), "");
        jobsDir = join(dir, "file", "jobs");
      } else {
        await Deno.mkdir(join(dir, "locked"), { mode: 0o500 });
        jobsDir = join(dir, "locked", "jobs");
      }
      const r = await spawnJob({ command: "echo", jobsDir });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /SpawnError: Cannot record the job in .*(file|locked)\/jobs/,
      );
    });
    await t.step("a missing executable", async () => {
      const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      await assert.rejects(
        () =>
          spawn({
            command: "no-such-program-xyz",
            external: true,
            jobsDir: join(dir, "jobs"),
          }),
        SpawnError,
        "Command not found: no-such-program-xyz",
      );
      const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(after, before, "nothing was written");
    });
    await t.step("a supervisor that cannot be started", async () => {
      _setRuntimeForTesting({
        standalone: true,
        execPath: join(dir, "no-such-binary"),
        mainModule: "file:///nowhere.ts",
        permissionFlags: [],
      });
      try {
        const jobs = join(dir, "jobs");
        await assert.rejects(
          () => spawn({ command: "echo", jobsDir: jobs }),
          SpawnError,
          "Cannot start the supervisor",
        );
        const { jobs: all } = await new JobStore(jobs).list();
        assert.equal(all.length, 1);
        assert.equal(all[0].status, "failed");
        assert.match(all[0].error ?? "", /Cannot start the supervisor/);
      } finally {
        _setRuntimeForTesting(undefined);
      }
    });
  });
});

Deno.test("20 jobs spawned concurrently from 4 processes are all recorded, with distinct IDs", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const five = JSON.stringify(
      Array.from({ length: 5 }, () => ({
        command: "true",
        external: true,
        jobsDir,
      })),
    );
    const outputs = await Promise.all(
      Array.from({ length: 4 }, () =>
        new Deno.Command(DENO, {
          args: ["run", "-A", SPAWNER, five],
          stdout: "piped",
          stderr: "piped",
        }).output()),
    );
    const ids: string[] = [];
    for (const out of outputs) {
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const spawned: Spawned[] = JSON.parse(
        new TextDecoder().decode(out.stdout),
      );
      ids.push(...spawned.map((r) => r.jobId));
    }
    assert.equal(ids.length, 20);
    assert.equal(new Set(ids).size, 20);
    for (const id of ids) {
      const job = await finalJob(join(dir, "jobs"), id);
      assert.equal(job.status, "completed", `${id}: ${job.error}`);
    }
    const { jobs, invalid } = await new JobStore(join(dir, "jobs")).list();
    assert.equal(jobs.length, 20);
    assert.deepEqual(invalid, []);
  });
});

Deno.test("a large log is byte-exact, stdout and stderr together", async () => {
  await withTempDir(async (dir) => {
    const mib = 64;
    const { jobId } = await mustSpawn({
      command: "sh",
      args: [
        "-c",
        `head -c ${
          mib * 1024 * 1024
        } /dev/zero; printf 'to stderr\\n' >&2; printf end`,
      ],
      external: true,
      jobsDir: dir,
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "completed");
    const size = (await Deno.stat(job.logPath)).size;
    assert.equal(size, mib * 1024 * 1024 + "to stderr\n".length + 3);
    const file = await Deno.open(job.logPath);
    try {
      await file.seek(-13, Deno.SeekMode.End);
      const tail = new Uint8Array(13);
      await file.read(tail);
      assert.equal(new TextDecoder().decode(tail), "to stderr\nend");
    } finally {
      file.close();
    }
    assert.equal((await Deno.stat(job.logPath)).mode! & 0o777, 0o600);
  });
});

Deno.test({
  name: "a deno compile binary is started with its own arguments",
  // The last step calls spawn() in this process: by design it starts the
  // supervisor, unrefs it and never waits for it, which Deno 2.7's resource
  // and op sanitizers count as a leak (2.8 and later do not).
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
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
  await t.step("end to end with a stand-in binary", async () => {
    await superviseIfRequested();
    await withTempDir(async (dir) => {
      // A stand-in for a compiled binary: like one, it takes the program's
      // arguments directly (deno compile cannot run on our machines).
      const binary = join(dir, "epack-bin");
      await Deno.writeTextFile(
        binary,
        `#!/bin/sh\nexec ${JSON.stringify(DENO)} run -A ${
          JSON.stringify(SPAWNER)
        } "$@"\n`,
      );
      await Deno.chmod(binary, 0o755);
      _setRuntimeForTesting({
        standalone: true,
        execPath: binary,
        mainModule: "file:///ignored.ts",
        permissionFlags: [],
      });
      let jobId: string;
      let supervisor: number;
      try {
        const r = await spawn({
          command: "echo",
          args: ["from", "the binary"],
          jobsDir: dir,
        });
        jobId = r.jobId;
        supervisor = r.pid;
        assert.deepEqual(r.job.argv, [binary, "echo", "from", "the binary"]);
      } finally {
        _setRuntimeForTesting(undefined);
      }
      const job = await finalJob(dir, jobId);
      assert.equal(job.status, "completed", job.error);
      assert.equal(await Deno.readTextFile(job.logPath), "from the binary\n");
      // The supervisor is this process's child: wait until Deno has reaped
      // it, so its end is not seen by the sanitizers of the next test.
      await until(
        "the supervisor to be reaped",
        () => readProcess(supervisor) === undefined ? true : undefined,
      );
    });
  });
});

Deno.test("the job gets the spawner's permissions and never more", async (t) => {
  await withTempDir(async (dir) => {
    await t.step(
      "unscoped grants are passed on one by one, without -A",
      async () => {
        const { jobId, argv } = await mustSpawn(
          { command: "perms", jobsDir: dir },
          ["--allow-read", "--allow-write", "--allow-run", "--allow-env"],
        );
        assert.ok(!argv.includes("-A") && !argv.includes("--allow-all"));
        assert.deepEqual(argv.filter((a) => a.startsWith("--allow")), [
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-run",
        ]);
        const job = await finalJob(dir, jobId);
        assert.equal(job.status, "completed", job.error);
        assert.equal(
          await Deno.readTextFile(job.logPath),
          "read\nwrite\nenv\nrun\n",
        );
      },
    );
    await t.step("a scoped grant is not widened", async () => {
      const { jobId, argv } = await mustSpawn(
        { command: "perms", jobsDir: dir },
        [
          "--allow-read",
          "--allow-write",
          "--allow-run",
          "--allow-env",
          "--allow-net=127.0.0.1",
        ],
      );
      assert.ok(!argv.some((a) => a.startsWith("--allow-net")));
      const job = await finalJob(dir, jobId);
      assert.doesNotMatch(await Deno.readTextFile(job.logPath), /net/);
    });
    await t.step(
      "permissionFlags states scoped grants explicitly",
      async () => {
        const { argv } = await mustSpawn(
          {
            command: "echo",
            jobsDir: dir,
            permissionFlags: ["--allow-read", "--allow-write", "--allow-run"],
          },
          ["-A"],
        );
        assert.deepEqual(argv.filter((a) => a.startsWith("--allow")), [
          "--allow-read",
          "--allow-write",
          "--allow-run",
        ]);
      },
    );
  });
});
