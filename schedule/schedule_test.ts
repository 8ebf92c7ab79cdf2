// End-to-end tests of dependencies (`after`, `afterOk`) and the parallel
// limit, with real processes: jobs are spawned by testdata/spawner.ts (a
// real `deno run` that exits) or by the CLI, and their workers write the
// times they start and end, which the tests compare.

import assert from "node:assert/strict";
import { join } from "node:path";
import { cancel, type Job, waitForJob } from "../mod.ts";
import { FileJobStore } from "../jobs.ts";
import {
  createScheduled,
  DependencyCycleError,
  getJobLimit,
  setJobLimit,
} from "./schedule.ts";
import { PENDING_FILE } from "../spawn/launch.ts";
import { cli, withTempDir } from "../testdata/cli_helpers.ts";
import {
  alive,
  finalJob,
  gateCommand,
  mustSpawn,
  spawnJob,
  until,
} from "../testdata/spawn_helpers.ts";

/**
 * A worker that appends "start <ms>" and "end <ms>" to `file`, and in
 * between runs for `hold` seconds, or until the gate `hold` names is open
 * (see {@linkcode gate}); it exits with `code`.
 */
function timed(file: string, hold: number | string, code = 0) {
  const between = typeof hold === "number"
    ? `sleep ${hold}`
    : gateCommand(hold);
  return {
    program: "sh",
    args: [
      "-c",
      `echo "$1 start $(date +%s%3N)" >> "$2"; ${between}; echo "$1 end $(date +%s%3N)" >> "$2"; exit ${code}`,
      "sh",
    ],
    file,
  };
}

/** The gate a worker named `name` holds at, in `dir`. */
function gate(dir: string, name: string): string {
  return join(dir, `gate_${name}`);
}

/** Lets the worker named `name` go on past its gate. */
async function open(dir: string, name: string): Promise<void> {
  await Deno.writeTextFile(gate(dir, name), "");
}

/** Spawns a timed worker named `name`; returns its job ID. */
async function spawnTimed(
  dir: string,
  name: string,
  hold: number | string,
  extra: Record<string, unknown> = {},
  code = 0,
): Promise<string> {
  const { program, args } = timed(join(dir, "times"), hold, code);
  const { jobId } = await mustSpawn({
    command: program,
    args: [...args, name, join(dir, "times")],
    store: join(dir, "jobs"),
    ...extra,
  });
  return jobId;
}

/** The start and end times each worker wrote, by name. */
async function readTimes(
  dir: string,
): Promise<Map<string, { start?: number; end?: number }>> {
  const times = new Map<string, { start?: number; end?: number }>();
  let text = "";
  try {
    text = await Deno.readTextFile(join(dir, "times"));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  for (const line of text.split("\n").filter(Boolean)) {
    const [name, what, ms] = line.split(" ");
    const t = times.get(name) ?? {};
    t[what as "start" | "end"] = Number(ms);
    times.set(name, t);
  }
  return times;
}

/** The most workers that ran at one moment. */
function mostAtOnce(times: Map<string, { start?: number; end?: number }>) {
  const events: [number, number][] = [];
  for (const { start, end } of times.values()) {
    events.push([start!, 1], [end!, -1]);
  }
  // An end and a start at the same millisecond: the end first.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, now += d);
  return most;
}

async function load(dir: string, id: string): Promise<Job> {
  return await new FileJobStore(join(dir, "jobs")).load(id);
}

async function final(dir: string, id: string): Promise<Job> {
  return await finalJob(join(dir, "jobs"), id);
}

Deno.test("spawn() with after: the job waits, with no process, and starts once its dependency has ended", async () => {
  await withTempDir(async (dir) => {
    const a = await spawnTimed(dir, "a", 1.5);
    const b = await spawnTimed(dir, "b", 0, { after: [a], timeout: 1_000 });
    const waiting = await load(dir, b);
    assert.equal(waiting.status, "waiting");
    assert.equal(waiting.pid, 0);
    assert.deepEqual(waiting.after, [a]);
    assert.equal(waiting.workerPid, undefined);
    const ended = await final(dir, b);
    // Its timeout (1 s) counts from its start, not from its creation: it
    // waited longer than that.
    assert.equal(ended.status, "completed", ended.error);
    assert.equal(ended.env, undefined, "the environment is not kept");
    const times = await readTimes(dir);
    assert.ok(times.get("b")!.start! >= times.get("a")!.end!, "b before a");
    const aJob = await final(dir, a);
    assert.ok(ended.startedAt >= aJob.completedAt!);
  });
});

Deno.test("spawn() with after: a dependency given by a unique prefix is stored in full; a dependency that has ended already lets the job start at once", async () => {
  await withTempDir(async (dir) => {
    const a = await spawnTimed(dir, "a", 0);
    await final(dir, a);
    const b = await spawnTimed(dir, "b", 0, { after: [a.slice(-8)] });
    const job = await final(dir, b);
    assert.equal(job.status, "completed");
    assert.deepEqual(job.after, [a]);
  });
});

Deno.test("spawn() with after and afterOk: a dependency that failed ends the job cancelled, naming it", async () => {
  await withTempDir(async (dir) => {
    const a = await spawnTimed(dir, "a", 0.3, {}, 3);
    const b = await spawnTimed(dir, "b", 0, { after: [a], afterOk: true });
    const c = await spawnTimed(dir, "c", 0, { after: [a] });
    const ended = await final(dir, b);
    assert.equal(ended.status, "cancelled");
    assert.match(ended.error!, new RegExp(`job ${a} .*ended failed`));
    assert.equal(ended.workerPid, undefined);
    // Without afterOk, any end will do.
    assert.equal((await final(dir, c)).status, "completed");
    const times = await readTimes(dir);
    assert.equal(times.has("b"), false, "b ran");
  });
});

Deno.test("spawn() with after refuses an unknown job, and leaves nothing behind", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const a = await spawnTimed(dir, "a", 0);
    await final(dir, a);
    // Job a's supervisor may still be writing (a temp file renamed in):
    // what a refused spawn must not leave is a file of its own.
    const names = () =>
      [...Deno.readDirSync(jobsDir)].map((e) => e.name)
        .filter((n) => !n.endsWith(".tmp")).sort();
    const before = names();
    const r = await spawnJob({
      command: "true",
      store: jobsDir,
      after: ["01ARYZ6S41TSV4RRFFQ69G5FAV"],
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /SpawnError: Cannot run after it: Job not found: 01ARYZ6S41TSV4RRFFQ69G5FAV/,
    );
    assert.deepEqual(names(), before);
  });
});

Deno.test("a cycle of dependencies is refused when the job is recorded", async () => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);
    // Only explicit IDs can make one: x names y before y exists.
    await store.create({ id: "job_x", command: "x", after: ["job_y"] });
    await assert.rejects(
      () =>
        createScheduled(store, {
          id: "job_y",
          command: "y",
          after: ["job_x"],
          supervisorArgv: ["true"],
        }),
      (err) =>
        err instanceof DependencyCycleError &&
        err.message.includes("job_y -> job_x -> job_y"),
    );
    await assert.rejects(() => store.load("job_y"));
  });
});

Deno.test("a chain of jobs runs in order: a, then b after a, then c after b", async () => {
  await withTempDir(async (dir) => {
    // a runs until b and c are made: c must be seen waiting.
    const a = await spawnTimed(dir, "a", gate(dir, "a"));
    const b = await spawnTimed(dir, "b", 0.5, { after: [a] });
    const c = await spawnTimed(dir, "c", 0, { after: [b] });
    assert.equal((await load(dir, c)).status, "waiting");
    await open(dir, "a");
    assert.equal((await final(dir, c)).status, "completed");
    const t = await readTimes(dir);
    assert.ok(t.get("b")!.start! >= t.get("a")!.end!);
    assert.ok(t.get("c")!.start! >= t.get("b")!.end!);
  });
});

Deno.test("a parallel limit of 2 runs 5 jobs never more than 2 at once, in the order they were made", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    await setJobLimit(2, { store: jobsDir });
    assert.equal(await getJobLimit({ store: jobsDir }), 2);
    const names = ["j1", "j2", "j3", "j4", "j5"];
    const ids: string[] = [];
    // Each holds at its own gate: j1 and j2 take both slots (j2 made once
    // j1 runs, so that they start in order too), and the rest find them
    // taken.
    for (const name of names) {
      ids.push(await spawnTimed(dir, name, gate(dir, name)));
      if (name === "j1") {
        await until(
          "j1 to start",
          async () => (await readTimes(dir)).get("j1")?.start !== undefined,
        );
      }
    }
    for (const id of ids.slice(2)) {
      assert.equal((await load(dir, id)).status, "queued");
    }
    // Let them go one at a time, each once the job that takes its slot
    // has started, so that the order of starts is the queue's alone.
    for (const [i, name] of names.entries()) {
      await open(dir, name);
      const next = names[i + 2];
      if (next !== undefined) {
        await until(
          `${next} to start`,
          async () => (await readTimes(dir)).get(next)?.start !== undefined,
        );
      }
    }
    for (const id of ids) {
      assert.equal((await final(dir, id)).status, "completed");
    }
    const times = await readTimes(dir);
    assert.equal(times.size, 5);
    assert.ok(mostAtOnce(times) <= 2, `${mostAtOnce(times)} at once`);
    const order = [...times.entries()].sort((x, y) => x[1].start! - y[1].start!)
      .map(([name]) => name);
    assert.deepEqual(order, ["j1", "j2", "j3", "j4", "j5"]);
    assert.equal(
      await Deno.lstat(join(jobsDir, PENDING_FILE)).catch(() => undefined),
      undefined,
      "the pending marker is gone once nothing waits",
    );
  });
});

Deno.test("the parallel limit holds across processes: several `run --detach` at once", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const file = join(dir, "times");
    let r = await cli(["jobs", "limit", "2", "--jobs-dir", jobsDir]);
    assert.equal(r.code, 0, r.stderr);
    const runs = await Promise.all(
      ["p1", "p2", "p3", "p4", "p5", "p6"].map((name) =>
        cli([
          "run",
          "--detach",
          "--json",
          "--jobs-dir",
          jobsDir,
          "--",
          "sh",
          ...timed(file, 0.5).args,
          name,
          file,
        ])
      ),
    );
    const ids = runs.map((run) => {
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout).id as string;
    });
    for (const id of ids) {
      assert.equal((await final(dir, id)).status, "completed");
    }
    const times = await readTimes(dir);
    assert.equal(times.size, 6);
    assert.ok(mostAtOnce(times) <= 2, `${mostAtOnce(times)} at once`);
    r = await cli(["jobs", "limit", "--json", "--jobs-dir", jobsDir]);
    assert.deepEqual(JSON.parse(r.stdout), {
      limit: 2,
      running: 0,
      queued: 0,
      waiting: 0,
    });
  });
});

Deno.test("a supervisor killed with SIGKILL frees its slot, and the next `jobs` command starts the queue", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    await setJobLimit(1, { store: jobsDir });
    const a = await spawnTimed(dir, "a", 30);
    const b = await spawnTimed(dir, "b", 0);
    const running = await until("a's worker", async () => {
      const job = await load(dir, a);
      return job.workerPid !== undefined ? job : undefined;
    });
    assert.equal((await load(dir, b)).status, "queued");
    Deno.kill(running.pid, "SIGKILL");
    try {
      await until("a lost", async () => (await load(dir, a)).status === "lost");
      // Nobody ran the scheduler: the supervisor that would have is dead.
      assert.equal((await load(dir, b)).status, "queued");
      const r = await cli(["jobs", "--jobs-dir", jobsDir]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await final(dir, b)).status, "completed");
    } finally {
      try {
        Deno.kill(-running.workerPid!, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  });
});

Deno.test("cancel() ends a waiting or a queued job at once, and it never starts", async (t) => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    // a runs until both steps have made and cancelled their jobs.
    const a = await spawnTimed(dir, "a", gate(dir, "a"));
    await t.step("a waiting job; what runs after it starts", async () => {
      const b = await spawnTimed(dir, "b", 0, { after: [a] });
      const c = await spawnTimed(dir, "c", 0, { after: [b] });
      const started = Date.now();
      const result = await cancel(b, { store: jobsDir, grace: 120_000 });
      // No process to stop: it does not wait for the 120 s grace.
      assert.ok(Date.now() - started < 60_000);
      assert.equal(result.outcome, "cancelled");
      assert.match(result.message, /it was waiting; it never started/);
      assert.equal(result.job.status, "cancelled");
      assert.equal((await final(dir, c)).status, "completed");
      assert.equal((await readTimes(dir)).has("b"), false);
    });
    await t.step("a queued job", async () => {
      await setJobLimit(1, { store: jobsDir });
      // Behind a: the slot is taken until q is cancelled.
      const blocker = await spawnTimed(dir, "blocker", 0);
      const q = await spawnTimed(dir, "q", 0);
      assert.equal((await load(dir, q)).status, "queued");
      const r = await cli(["jobs", "cancel", q, "--jobs-dir", jobsDir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /it was queued; it never started/);
      await open(dir, "a");
      await final(dir, blocker);
      const next = await spawnTimed(dir, "next", 0);
      assert.equal((await final(dir, next)).status, "completed");
      const job = await waitForJob(q, { store: jobsDir, timeout: 1_000 });
      assert.equal(job.status, "cancelled");
      assert.equal((await readTimes(dir)).has("q"), false);
    });
    await final(dir, a);
  });
});

Deno.test("jobs limit: shows, sets and removes the limit; refuses bad values and a PostgreSQL store", async () => {
  await withTempDir(async (jobsDir) => {
    const limit = (...args: string[]) =>
      cli(["jobs", "limit", ...args, "--jobs-dir", jobsDir]);
    let r = await limit();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No parallel limit/);
    r = await limit("3");
    assert.match(r.stdout, /Parallel limit set to 3\./);
    assert.equal(await Deno.readTextFile(join(jobsDir, "limit")), "3\n");
    r = await limit("--json");
    assert.equal(JSON.parse(r.stdout).limit, 3);
    r = await limit("0", "--json");
    assert.equal(JSON.parse(r.stdout).limit, null);
    r = await limit("two");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid limit "two"/);
    r = await limit("100001");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid parallel limit: 100001/);
    r = await cli([
      "jobs",
      "limit",
      "2",
      "--store",
      "postgres://u@127.0.0.1:1/db",
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /jobs limit needs a store that can schedule \(a jobs directory\); postgres:\/\/u@127\.0\.0\.1:1\/db cannot/,
    );
    r = await cli(["jobs", "limit", "--help"]);
    assert.match(r.stdout, /FIFO/);
  });
});

Deno.test("spawn() with after on a PostgreSQL store is refused before connecting", async () => {
  await withTempDir(async (dir) => {
    const r = await spawnJob({
      command: "true",
      workingDir: dir,
      store: "postgres://u@127.0.0.1:1/db",
      after: ["01ARYZ6S41TSV4RRFFQ69G5FAV"],
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /needs a store that can schedule \(a jobs directory\); postgres:\/\/u@127\.0\.0\.1:1\/db cannot/,
    );
  });
});

Deno.test("spawn() without after or a limit takes no scheduler lock and lists nothing", async () => {
  await withTempDir(async (dir) => {
    const { jobId } = await mustSpawn({ command: "true", store: dir });
    await finalJob(dir, jobId);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.equal(names.includes(".schedule.lock"), false);
    assert.equal(names.includes(PENDING_FILE), false);
  });
});

Deno.test("a job's end hook does not hold back the jobs that wait for it", async () => {
  await withTempDir(async (dir) => {
    // The hook holds until the test opens its gate: b must start while it
    // is not over.
    const hook = gate(dir, "hook");
    const a = await spawnTimed(dir, "a", 0.5, { onEnd: gateCommand(hook) });
    const b = await spawnTimed(dir, "b", 0, { after: [a] });
    // Plain reads, no waiter: a waiter would run a repair pass itself.
    await until("b ended", async () => {
      const job = await load(dir, b);
      return job.status === "completed" ? job : undefined;
    }, 30_000);
    const t = await readTimes(dir);
    const gap = t.get("b")!.start! - t.get("a")!.end!;
    assert.ok(gap >= 0, `b started ${-gap} ms before a ended`);
    assert.ok(gap < 20_000, `b started ${gap} ms after a ended`);
    // The hook was still running: b did not wait for it. Then it ends, and
    // a's supervisor with it: nothing is left behind.
    const { pid } = await load(dir, a);
    assert.ok(alive(pid), "a's supervisor (running its hook) is still there");
    await Deno.writeTextFile(hook, "");
    await until("a's supervisor to exit", () => !alive(pid));
  });
});
