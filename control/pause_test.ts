// Tests of pause() and resume() against real jobs: a worker that counts in a
// file every 50 ms, real SIGSTOP and SIGCONT, and the supervisor's real ends
// (cancel, timeout, a kill from outside) while the job is paused.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cancel,
  JobStateError,
  pause,
  resume,
  waitForJob,
} from "../control.ts";
import { FileJobStore, type Job } from "../jobs.ts";
import {
  groupMembers,
  markedProcesses,
  readProcess,
} from "../process/inspect.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { finalJob, mustSpawn, until } from "../testdata/spawn_helpers.ts";

/**
 * A shell loop that writes a growing counter to `file` every 50 ms, by
 * rename: a worker stopped between truncating the file and writing it would
 * leave it empty for as long as it is paused.
 */
function counter(file: string): string {
  return `i=0; while :; do i=$((i+1)); echo $i > ${file}.tmp; mv -f ${file}.tmp ${file}; sleep 0.05; done`;
}

/** The counter's value; polled for until the file is first written. */
async function count(file: string): Promise<number> {
  return await until(
    `${file} to hold a counter`,
    async () => {
      const n = parseInt(await Deno.readTextFile(file).catch(() => ""), 10);
      return Number.isNaN(n) ? undefined : n;
    },
    2_000,
    5,
  );
}

/** An observation window: the time itself is what is tested. */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Starts a counting job and waits until its worker runs and counts. */
async function countingJob(
  dir: string,
  options: { timeout?: number; grace?: number; escape?: boolean } = {},
): Promise<
  { id: string; file: string; worker: number; store: FileJobStore }
> {
  const file = join(dir, "count");
  const loop = counter(file);
  // With `escape`, a second counter leaves the group by setsid: it still
  // carries the job's mark.
  const script = options.escape
    ? `setsid sh -c '${counter(join(dir, "count2"))}' & ${loop}`
    : loop;
  const { jobId } = await mustSpawn({
    command: "sh",
    args: ["-c", script],
    store: dir,
    grace: options.grace ?? 5_000,
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
  });
  const store = new FileJobStore(dir);
  const job = await until("the worker to start", async () => {
    const j = await store.load(jobId);
    return j.workerPid !== undefined ? j : undefined;
  });
  await until("the counter", async () => (await count(file)) >= 2);
  if (options.escape) {
    await until(
      "the second counter",
      async () => (await count(join(dir, "count2"))) >= 2,
    );
  }
  return { id: jobId, file, worker: job.workerPid!, store };
}

/**
 * Whether a process in this state runs nothing while its group is stopped:
 * T, stopped; Z, a child that exited just as its stopped parent stopped
 * (it stays a zombie until the parent runs again); D, a shell in the wait
 * of a vfork() whose child was stopped before its exec (dash starts its
 * commands so), for as long as that child is stopped. The counter that
 * stands still is what says the job runs nothing.
 */
function isHeld(state: string | undefined): boolean {
  return state === "T" || state === "Z" || state === "D";
}

/** Whether every live process of the group is stopped (or held by one). */
function allStopped(pgid: number): boolean {
  const states = (groupMembers(pgid) ?? []).map((pid) =>
    readProcess(pid)?.state
  );
  return states.includes("T") && states.every(isHeld);
}

/** Whether a live process is left in the group. */
function groupLives(pgid: number): boolean {
  return (groupMembers(pgid) ?? []).length > 0;
}

/** Asserts the counter does not move over ~300 ms, looked at twice. */
async function assertStill(file: string): Promise<void> {
  const a = await count(file);
  await sleep(150);
  const b = await count(file);
  await sleep(150);
  const c = await count(file);
  assert.deepEqual([b, c], [a, a], `the counter moved: ${a} ${b} ${c}`);
}

/** Kills whatever is left of a job's processes (after a failed test). */
function killLeftovers(id: string, pgid: number): void {
  try {
    Deno.kill(-pgid, "SIGKILL");
  } catch {
    // Gone.
  }
  for (const p of markedProcesses(`EPACK_DETACH_JOB_ID=${id}`) ?? []) {
    try {
      Deno.kill(p.pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
}

Deno.test("pause() stops a job's processes and resume() lets them go on; the record says paused, then running", async () => {
  await withTempDir(async (dir) => {
    const { id, file, worker, store } = await countingJob(dir, {
      timeout: 10 * 60_000,
    });
    try {
      const paused = await pause(id, { store: dir });
      assert.equal(paused.outcome, "paused");
      assert.match(
        paused.message,
        new RegExp(
          `^Paused job ${id} \\(SIGSTOP to process group ${worker}\\)\\. Its timeout keeps counting: (9m\\d+s|10m) left\\.$`,
        ),
      );
      assert.ok(paused.timeoutLeft! > 9 * 60_000, `${paused.timeoutLeft}`);
      assert.equal(paused.job.status, "paused");
      const recorded = await store.loadRecorded(id);
      assert.equal(recorded.status, "paused");
      assert.ok(recorded.pausedAt instanceof Date);
      assert.ok(Date.now() - recorded.pausedAt.getTime() < 10_000);
      // A reader applying the lost rule sees it paused too, not lost.
      assert.equal((await store.load(id)).status, "paused");
      await until("the group to stop", () => allStopped(worker));
      // The worker's shell: stopped, or in its vfork wait (see isHeld).
      const state = readProcess(worker)?.state;
      assert.ok(state === "T" || state === "D", `the worker is ${state}`);
      await assertStill(file);

      const again = await pause(id, { store: dir });
      assert.equal(again.outcome, "already-paused");
      assert.match(
        again.message,
        /is already paused; its timeout keeps counting/,
      );

      const stopped = await count(file);
      const resumed = await resume(id, { store: dir });
      assert.equal(resumed.outcome, "resumed");
      assert.match(
        resumed.message,
        new RegExp(
          `^Resumed job ${id} \\(SIGCONT to process group ${worker}\\) after \\d+s paused\\. Its timeout: \\S+ left\\.$`,
        ),
      );
      const running = await store.loadRecorded(id);
      assert.equal(running.status, "running");
      assert.equal(running.pausedAt, undefined);
      await until(
        "the counter to move again",
        async () => (await count(file)) > stopped + 2,
      );
      assert.notEqual(readProcess(worker)?.state, "T");

      const twice = await resume(id, { store: dir });
      assert.equal(twice.outcome, "not-paused");
      assert.match(
        twice.message,
        /is not paused \(running\); nothing to resume/,
      );
    } finally {
      await cancel(id, { store: dir, grace: 0 });
      killLeftovers(id, worker);
    }
  });
});

Deno.test("pause() also stops the job's processes that left its group (by their mark), and resume() continues them", async () => {
  await withTempDir(async (dir) => {
    const { id, file, worker } = await countingJob(dir, { escape: true });
    const file2 = join(dir, "count2");
    try {
      const paused = await pause(id, { store: dir });
      // The escaped shell and its sleep, when it is caught in one.
      assert.match(
        paused.message,
        /and to [12] process\(es\) of the job that had left it/,
      );
      await until("every process of the job to stop", () => {
        const marked = markedProcesses(`EPACK_DETACH_JOB_ID=${id}`) ?? [];
        return marked.length >= 2 && marked.some((p) => p.state === "T") &&
          marked.every((p) => isHeld(p.state));
      });
      await assertStill(file);
      await assertStill(file2);
      const at = await count(file2);
      await resume(id, { store: dir });
      await until(
        "the escaped counter to move",
        async () => (await count(file2)) > at + 2,
      );
    } finally {
      const done = await cancel(id, { store: dir, grace: 1_000 });
      assert.equal(done.outcome, "cancelled");
      assert.deepEqual(markedProcesses(`EPACK_DETACH_JOB_ID=${id}`), []);
      killLeftovers(id, worker);
    }
  });
});

Deno.test("cancel() of a paused job ends it cancelled on SIGTERM, well before its grace, and nothing of it is left", async () => {
  await withTempDir(async (dir) => {
    const { id, worker } = await countingJob(dir, { grace: 120_000 });
    try {
      await pause(id, { store: dir });
      await until("the group to stop", () => allStopped(worker));
      const started = Date.now();
      const result = await cancel(id, { store: dir });
      const took = Date.now() - started;
      assert.equal(result.outcome, "cancelled", result.message);
      assert.equal(result.job.status, "cancelled");
      // SIGKILL was due after 120 s: the stopped group woke and ended on
      // SIGTERM long before.
      assert.ok(took < 60_000, `${took} ms`);
      assert.match(result.job.error ?? "", /sent SIGTERM/);
      assert.doesNotMatch(result.job.error ?? "", /SIGKILL/);
      assert.deepEqual(groupMembers(worker), []);
      assert.equal(result.job.pausedAt?.constructor, Date);
    } finally {
      killLeftovers(id, worker);
    }
  });
});

Deno.test("a timeout that passes while the job is paused ends it timed_out", async () => {
  await withTempDir(async (dir) => {
    const { id, worker } = await countingJob(dir, {
      timeout: 2_500,
      grace: 8_000,
    });
    try {
      const paused = await pause(id, { store: dir });
      assert.match(paused.message, /Its timeout keeps counting: [12]s left\./);
      const ended = await finalJob(dir, id);
      assert.equal(ended.status, "timed_out");
      assert.match(ended.error ?? "", /sent SIGTERM/);
      // Ended by SIGTERM, long before the 8 s grace would have ended in SIGKILL.
      const ran = ended.completedAt!.getTime() -
        (ended.supervisedAt ?? ended.startedAt).getTime();
      assert.ok(ran < 2_500 + 5_000, `${ran} ms`);
      assert.deepEqual(groupMembers(worker), []);
      await assert.rejects(
        () => resume(id, { store: dir }),
        JobStateError,
        "has ended (timed_out); nothing to resume",
      );
    } finally {
      killLeftovers(id, worker);
    }
  });
});

Deno.test("a worker killed with SIGKILL from outside while paused is recorded failed with the signal, not left paused", async () => {
  await withTempDir(async (dir) => {
    const { id, worker } = await countingJob(dir);
    try {
      await pause(id, { store: dir });
      await until("the group to stop", () => allStopped(worker));
      Deno.kill(worker, "SIGKILL");
      const ended: Job = await waitForJob(id, {
        store: dir,
        timeout: 15_000,
      });
      assert.equal(ended.status, "failed");
      assert.equal(ended.signal, "SIGKILL");
      assert.match(ended.error ?? "", /Killed by SIGKILL/);
    } finally {
      // The worker's `sleep`, stopped with it, is left in the group.
      killLeftovers(id, worker);
    }
  });
});

Deno.test("pause() and resume() refuse what they cannot act on, and leave its record as it was", async (t) => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);

    await t.step("an ended job: refused, with its status", async () => {
      const { jobId } = await mustSpawn({
        command: "true",
        store: dir,
      });
      const ended = await finalJob(dir, jobId);
      assert.equal(ended.status, "completed");
      const before = await Deno.readTextFile(store.recordPath(jobId));
      for (const fn of [pause, resume]) {
        await assert.rejects(() => fn(jobId, { store: dir }), (err) => {
          assert.ok(err instanceof JobStateError, String(err));
          assert.equal(err.status, "completed");
          assert.equal(err.jobId, jobId);
          assert.match(err.message, /has ended \(completed\); nothing to/);
          return true;
        });
      }
      assert.equal(
        await Deno.readTextFile(store.recordPath(jobId)),
        before,
      );
    });

    for (const status of ["waiting", "queued"] as const) {
      await t.step(`a ${status} job: nothing to pause yet`, async () => {
        const job = await store.create({ command: "x" });
        await store.update(job.id, (j) => ({ ...j, status }));
        const before = await Deno.readTextFile(store.recordPath(job.id));
        await assert.rejects(
          () => pause(job.id, { store: dir }),
          JobStateError,
          `is ${status}: it has not started, so there is nothing to pause yet`,
        );
        await assert.rejects(
          () => resume(job.id, { store: dir }),
          JobStateError,
          "nothing to resume yet",
        );
        assert.equal(
          await Deno.readTextFile(store.recordPath(job.id)),
          before,
        );
      });
    }

    await t.step("a running job whose worker has not started", async () => {
      const job = await store.create({ command: "x" });
      await Deno.writeFile(store.livenessPath(job.id), new Uint8Array());
      await assert.rejects(
        () => pause(job.id, { store: dir }),
        JobStateError,
        "has not started its worker yet",
      );
      assert.equal((await store.loadRecorded(job.id)).status, "running");
    });

    await t.step("a job being cancelled", async () => {
      const job = await store.create({ command: "x" });
      await Deno.writeFile(store.livenessPath(job.id), new Uint8Array());
      await store.update(job.id, (j) => {
        j.workerPid = Deno.pid;
        j.cancelRequestedAt = new Date();
        return j;
      });
      await assert.rejects(
        () => pause(job.id, { store: dir }),
        JobStateError,
        "is being cancelled",
      );
    });

    await t.step("a group that cannot be told to be the job's", async () => {
      // Our own PID as the worker, with another start time: a reused PID.
      const job = await store.create({ command: "x" });
      await Deno.writeFile(store.livenessPath(job.id), new Uint8Array());
      await store.update(job.id, (j) => {
        j.workerPid = Deno.pid;
        j.workerStartTicks = (readProcess(Deno.pid)!.startTicks ?? 1) + 1;
        return j;
      });
      await assert.rejects(
        () => pause(job.id, { store: dir }),
        Error,
        "cannot be identified safely",
      );
      assert.equal((await store.loadRecorded(job.id)).status, "running");
    });

    await t.step(
      "a record epack's Go code wrote (no liveness file)",
      async () => {
        const id = "job_20260101_000000_1";
        const text = JSON.stringify({
          id,
          command: "pull",
          status: "running",
          pid: Deno.pid,
          started_at: "2026-01-01T00:00:00Z",
          log_path: join(dir, `${id}.log`),
        });
        await Deno.writeTextFile(join(dir, `${id}.json`), text);
        await assert.rejects(
          () => pause(id, { store: dir }),
          Error,
          "was not started by @epack/detach",
        );
        assert.equal(await Deno.readTextFile(join(dir, `${id}.json`)), text);
      },
    );
  });
});

Deno.test("a paused job whose worker is killed from outside leaves nothing stopped, and its retry runs", async (t) => {
  await withTempDir(async (dir) => {
    const file = join(dir, "count");
    const store = new FileJobStore(dir);
    /** A job whose worker runs a counter in the background, and waits. */
    const start = async (retries: number) => {
      await Deno.remove(file).catch(() => {});
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", `(${counter(file)}) & wait`],
        store: dir,
        grace: 300,
        retries,
        retryDelay: 50,
      });
      const job = await until("the worker", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined ? j : undefined;
      });
      await until("the counter", async () => (await count(file)) >= 2);
      assert.equal((await pause(jobId, { store: dir })).outcome, "paused");
      await until("the group to stop", () => allStopped(job.workerPid!));
      // Killed from outside: the counter, a child of the worker, is left.
      Deno.kill(job.workerPid!, "SIGKILL");
      return { id: jobId, pgid: job.workerPid! };
    };
    await t.step(
      "without retries: it ends failed, what it left is stopped",
      async () => {
        const { id, pgid } = await start(0);
        try {
          const ended = await finalJob(dir, id);
          assert.equal(ended.status, "failed");
          assert.equal(ended.signal, "SIGKILL");
          await until("the counter to be stopped", () => !groupLives(pgid));
          assert.match(
            await Deno.readTextFile(store.logPath(id)),
            /stopped \d+ process(es)? the job left in its process group/,
          );
        } finally {
          killLeftovers(id, pgid);
        }
      },
    );
    await t.step(
      "with a retry: the next attempt runs, and the record says so",
      async () => {
        const { id, pgid } = await start(1);
        try {
          const next = await until("attempt 2, running", async () => {
            const j = await store.load(id);
            return j.attempts?.length === 2 && j.status === "running" &&
              j.workerPid !== pgid && j;
          });
          assert.equal(next.pausedAt, undefined);
          assert.equal(next.attempts?.[0].signal, "SIGKILL");
          assert.ok(!groupLives(pgid), "the first group is left");
          const a = await count(file);
          await until(
            "attempt 2 to count",
            async () => (await count(file)) > a,
          );
          assert.match(
            await Deno.readTextFile(store.logPath(id)),
            /the job was paused: attempt 2 will run, not paused/,
          );
          assert.equal(
            (await resume(id, { store: dir })).outcome,
            "not-paused",
          );
          assert.equal((await pause(id, { store: dir })).outcome, "paused");
          assert.equal((await resume(id, { store: dir })).outcome, "resumed");
          const done = await cancel(id, { store: dir, grace: 300 });
          assert.equal(done.job.status, "cancelled", done.message);
          killLeftovers(id, next.workerPid!);
        } finally {
          killLeftovers(id, pgid);
        }
      },
    );
  });
});
