// Reports from inside a job: the checks, the throttle against a real store,
// an ended job's record left alone, and real detached jobs (`run --detach`)
// whose worker reports progress and a result through report.ts.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  flushReports,
  reportProgress,
  reportResult,
  setReportInterval,
} from "./report.ts";
import { JobReporter, MIN_PROGRESS_INTERVAL } from "./store/reporter.ts";
import { FileJobStore, type Job } from "./jobs.ts";
import { type JobStore, openStore, STORE_ENV } from "./store.ts";
import { startCluster } from "./testdata/pg_cluster.ts";
import { JOB_ID_ENV } from "./store/job_id.ts";
import { cli } from "./testdata/cli_helpers.ts";
import { until } from "./testdata/spawn_helpers.ts";

const REPORT = new URL("./report.ts", import.meta.url).href;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detach_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("report.ts reads the store from the variable the CLI uses", () => {
  // report.ts keeps its own copy of the name, so that importing it loads no
  // store: the two must agree.
  assert.equal(STORE_ENV, "EPACK_DETACH_STORE");
});

Deno.test("outside a job the calls do nothing, but still refuse bad values", async (t) => {
  assert.equal(Deno.env.get(JOB_ID_ENV), undefined, "tests run outside a job");
  await t.step("they return false", async () => {
    assert.equal(setReportInterval(MIN_PROGRESS_INTERVAL), false);
    assert.equal(reportProgress({ done: 1, total: 2, unit: "files" }), false);
    assert.equal(await reportResult({ ok: true }), false);
    assert.equal(await flushReports(), false);
  });
  await t.step("a bad value throws, as it would in a job", async () => {
    assert.throws(() => reportProgress({ done: -1 }), RangeError);
    await assert.rejects(
      () => reportResult([1] as unknown as Record<string, unknown>),
      TypeError,
    );
  });
});

Deno.test("bad reports are refused with one-line errors", async (t) => {
  const reporter = new JobReporter({ jobId: "job_1", store: "/nonexistent" });
  const bad: [string, unknown, typeof TypeError | typeof RangeError, RegExp][] =
    [
      ["no done", {}, TypeError, /"done" is not a number/],
      ["done a string", { done: "3" }, TypeError, /"done" is not a number/],
      ["negative", { done: -1 }, RangeError, /finite number, 0 or more/],
      ["NaN", { done: NaN }, RangeError, /finite number/],
      ["Infinity", { done: Infinity }, RangeError, /finite number/],
      ["total NaN", { done: 1, total: NaN }, RangeError, /"total"/],
      ["done > total", { done: 3, total: 2 }, RangeError, /more than "total"/],
      ["unit a number", { done: 1, unit: 5 }, TypeError, /"unit" is not/],
      ["long unit", { done: 1, unit: "u".repeat(33) }, RangeError, /32/],
      ["message newline", { done: 1, message: "a\nb" }, RangeError, /U\+000A/],
      ["message ESC", { done: 1, message: "\x1b[2J" }, RangeError, /U\+001B/],
      ["message C1", { done: 1, message: "\x9b" }, RangeError, /U\+009B/],
      [
        "long message",
        { done: 1, message: "m".repeat(201) },
        RangeError,
        /200/,
      ],
      ["not an object", 5, TypeError, /not an object/],
    ];
  for (const [what, value, type, pattern] of bad) {
    await t.step(what, () => {
      assert.throws(
        () => reporter.progress(value as never),
        (err: Error) => {
          assert.ok(err instanceof type, `${err.name}: ${err.message}`);
          assert.match(err.message, pattern);
          assert.match(err.message, /^Invalid progress: /);
          assert.ok(!err.message.includes("\n"), err.message);
          return true;
        },
      );
    });
  }
  await t.step("200 characters of emoji are within the bound", () => {
    reporter.progress({ done: 0, message: "🙂".repeat(200), unit: "é" });
  });
  const badResults: [string, unknown, typeof TypeError | typeof RangeError][] =
    [
      ["an array", [1], TypeError],
      ["null", null, TypeError],
      ["a string", "ok", TypeError],
      ["a BigInt", { n: 1n }, TypeError],
      [
        "a cycle",
        (() => {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        })(),
        TypeError,
      ],
      ["a toJSON that is not an object", { toJSON: () => 3 }, TypeError],
      ["too large", { blob: "x".repeat(64 * 1024) }, RangeError],
      [
        "nested more than 100 deep",
        (() => {
          let v: unknown = 1;
          for (let i = 0; i < 100; i++) v = [v];
          return { deep: v };
        })(),
        RangeError,
      ],
    ];
  for (const [what, value, type] of badResults) {
    await t.step(`a result that is ${what}`, async () => {
      await assert.rejects(
        () => reporter.result(value as never),
        (err: Error) => {
          assert.ok(err instanceof type, `${err.name}: ${err.message}`);
          assert.match(err.message, /^Invalid result: /);
          assert.ok(!err.message.includes("\n"));
          return true;
        },
      );
    });
  }
  await t.step("an interval below the floor", () => {
    assert.throws(
      () => new JobReporter({ jobId: "j", store: "x", interval: 1 }),
      RangeError,
    );
    assert.throws(() => (reporter.interval = NaN), RangeError);
    reporter.interval = MIN_PROGRESS_INTERVAL;
  });
});

/** A real file store that counts the writes made through it. */
function counting(dir: string): JobStore & { updates: number } {
  const backend = new FileJobStore(dir);
  const counted = Object.create(backend) as JobStore & { updates: number };
  counted.updates = 0;
  counted.update = (id, fn) => {
    counted.updates++;
    return backend.update(id, fn);
  };
  return counted;
}

Deno.test("progress is throttled: one write per interval, the latest value lands", async () => {
  await withDir(async (dir) => {
    const job = await new FileJobStore(dir).create({ command: "sync" });
    const store = counting(dir);
    const interval = 200;
    const reporter = new JobReporter({ jobId: job.id, store, interval });
    const started = Date.now();
    let calls = 0;
    // A chatty worker: bursts of reports, yielding to the event loop in
    // between (as one that awaits reads would), for about a second.
    while (Date.now() - started < 1_000) {
      for (let i = 0; i < 10_000; i++) {
        reporter.progress({ done: calls++, unit: "items" });
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await reporter.flush();
    const elapsed = Date.now() - started;
    // One write at once, then at most one per interval, plus the last.
    const bound = Math.ceil(elapsed / interval) + 2;
    assert.ok(calls > 100_000, `only ${calls} calls`);
    assert.ok(
      store.updates <= bound,
      `${store.updates} writes for ${calls} calls in ${elapsed} ms`,
    );
    assert.ok(store.updates >= 3, `${store.updates} writes`);
    assert.equal(reporter.writes, store.updates);
    const record = await new FileJobStore(dir).load(job.id);
    assert.equal(record.progress?.done, calls - 1, "the last value landed");
    assert.equal(record.status, "running");
  });
});

Deno.test("a trailing write lands the last value without a flush", async () => {
  await withDir(async (dir) => {
    const jobs = new FileJobStore(dir);
    const job = await jobs.create({ command: "sync" });
    const reporter = new JobReporter({
      jobId: job.id,
      store: dir,
      interval: 100,
    });
    reporter.progress({ done: 1, total: 3 });
    reporter.progress({ done: 2, total: 3 });
    reporter.progress({ done: 3, total: 3, message: "done" });
    const p = await until("the last value", async () => {
      const p = (await jobs.load(job.id)).progress;
      return p?.done === 3 ? p : undefined;
    }, 5_000);
    assert.equal(p.message, "done");
    assert.ok(reporter.writes <= 2, `${reporter.writes} writes`);
    await reporter[Symbol.asyncDispose]();
  });
});

Deno.test("a report never changes an ended job", async (t) => {
  await withDir(async (dir) => {
    const jobs = new FileJobStore(dir);
    const job = await jobs.create({ command: "sync" });
    await using reporter = new JobReporter({ jobId: job.id, store: dir });
    reporter.progress({ done: 5, total: 10 });
    await reporter.flush();
    const ended = await jobs.finish(job.id, {
      status: "completed",
      exitCode: 0,
    });
    const before = await Deno.readTextFile(jobs.recordPath(job.id));
    await t.step("progress after the end is dropped", async () => {
      reporter.interval = MIN_PROGRESS_INTERVAL;
      await new Promise((r) => setTimeout(r, MIN_PROGRESS_INTERVAL));
      reporter.progress({ done: 9, total: 10 });
      await reporter.flush();
      assert.equal(await Deno.readTextFile(jobs.recordPath(job.id)), before);
    });
    await t.step("a result after the end is refused", async () => {
      await assert.rejects(
        () => reporter.result({ late: true }),
        /Cannot record the result: job .* has ended \(completed\)/,
      );
      const after = await jobs.load(job.id);
      assert.equal(after.status, "completed");
      assert.deepEqual(after.completedAt, ended.completedAt);
      assert.equal(after.result, undefined);
      assert.equal(after.progress?.done, 5);
    });
  });
});

Deno.test("a write that fails surfaces at flush, not at the report", async () => {
  await withDir(async (dir) => {
    const reporter = new JobReporter({ jobId: "job_gone", store: dir });
    reporter.progress({ done: 1 });
    await assert.rejects(() => reporter.flush(), /job_gone/);
    // Reported once: the next flush is clean.
    await reporter.flush();
  });
});

Deno.test("a job's result is kept when the job ends", async () => {
  await withDir(async (dir) => {
    const jobs = new FileJobStore(dir);
    const job = await jobs.create({ command: "sync" });
    await using reporter = new JobReporter({ jobId: job.id, store: dir });
    reporter.progress({ done: 2, total: 2, unit: "files" });
    await reporter.result({ files: 2, names: ["a", "b"] });
    const ended = await jobs.finish(job.id, {
      status: "completed",
      exitCode: 0,
    });
    assert.deepEqual(ended.result, { files: 2, names: ["a", "b"] });
    assert.equal(ended.progress?.total, 2);
    // epack's key, an object, as its Go code reads it.
    const raw = JSON.parse(await Deno.readTextFile(jobs.recordPath(job.id)));
    assert.deepEqual(raw.result, { files: 2, names: ["a", "b"] });
    assert.equal(raw.progress.unit, "files");
    assert.match(raw.progress.updated_at, /^\d{4}-\d\d-\d\dT/);
  });
});

// --- Real jobs ---------------------------------------------------------------

const WORKER = `
import { flushReports, reportProgress, reportResult, setReportInterval } from "${REPORT}";

if (!setReportInterval(100)) throw new Error("not in a job");
reportProgress({ done: 1, total: 3, unit: "files", message: "first file" });
await flushReports();
while (true) {
  try {
    Deno.statSync("go");
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 20));
  }
}
// Chatty, and synchronous: no write can happen until the loop ends.
for (let i = 0; i <= 100_000; i++) {
  reportProgress({ done: i, total: 100_000, unit: "B" });
}
await reportResult({ files: 3, ok: true });
// After the result, and no flush: the normal end lands it.
reportProgress({ done: 3, total: 3, unit: "files", message: "all done" });
console.log("worker done");
`;

Deno.test("a detached job reports its progress and its result", async (t) => {
  await withDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    await Deno.writeTextFile(join(dir, "worker.ts"), WORKER);
    const started = await cli([
      "run",
      "--detach",
      "--json",
      "--jobs-dir",
      jobsDir,
      "--",
      Deno.execPath(),
      "run",
      "-A",
      "worker.ts",
    ], { cwd: dir });
    assert.equal(started.code, 0, started.stderr);
    const id: string = JSON.parse(started.stdout).id;
    const jobs = new FileJobStore(jobsDir);
    try {
      let running: Job | undefined;
      await t.step(
        "its first report is in the record while it runs",
        async () => {
          running = await until("the first report", async () => {
            const job = await jobs.load(id);
            return job.progress !== undefined ? job : undefined;
          });
          assert.equal(running.status, "running");
          assert.deepEqual(
            { ...running.progress, updatedAt: undefined },
            {
              done: 1,
              total: 3,
              unit: "files",
              message: "first file",
              updatedAt: undefined,
            },
          );
        },
      );
      await t.step("`jobs` shows it", async () => {
        const r = await cli(["jobs", "--jobs-dir", jobsDir]);
        assert.equal(r.code, 0, r.stderr);
        const [head, row] = r.stdout.split("\n");
        assert.match(head, /DURATION\s+PROGRESS\s+COMMAND$/);
        assert.match(row, /33% 1\/3 files\s+\S+ run -A worker.ts$/);
      });
      await t.step("`jobs <id>` shows it, and --json has it", async () => {
        const r = await cli(["jobs", id, "--jobs-dir", jobsDir]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          /\n {2}Progress: +33% 1\/3 files, first file \(reported .*\)\n/,
        );
        const j = await cli(["jobs", id, "--json", "--jobs-dir", jobsDir]);
        const body = JSON.parse(j.stdout);
        assert.equal(body.progress.done, 1);
        assert.equal(body.progress.message, "first file");
      });
      await Deno.writeTextFile(join(dir, "go"), "");
      const end = await until("the end", async () => {
        const job = await jobs.load(id);
        return job.status === "running" ? undefined : job;
      });
      await t.step("the end has the result and the last progress", () => {
        assert.equal(end.status, "completed", end.error);
        assert.deepEqual(end.result, { files: 3, ok: true });
        assert.equal(end.progress?.done, 3);
        assert.equal(end.progress?.message, "all done");
        assert.ok(end.progress!.updatedAt >= running!.progress!.updatedAt);
      });
      await t.step("`jobs <id>` shows the result", async () => {
        const r = await cli(["jobs", id, "--jobs-dir", jobsDir]);
        assert.match(r.stdout, /\n {2}Result: +\{"files":3,"ok":true\}\n/);
        // An ended job's progress is history: no column in the list.
        const all = await cli(["jobs", "--all", "--jobs-dir", jobsDir]);
        assert.doesNotMatch(all.stdout, /PROGRESS/);
      });
    } finally {
      await Deno.writeTextFile(join(dir, "go"), "");
      await cli(["jobs", "cancel", id, "--jobs-dir", jobsDir]);
      await until("the end", async () => {
        const job = await jobs.load(id);
        return job.status === "running" ? undefined : true;
      });
    }
  });
});

Deno.test("a worker that exits with Deno.exit() after flushReports() keeps its last report", async () => {
  await withDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    await Deno.writeTextFile(
      join(dir, "worker.ts"),
      `import { flushReports, reportProgress } from "${REPORT}";
for (let i = 1; i <= 5000; i++) reportProgress({ done: i, message: "step " + i });
await flushReports();
Deno.exit(0);
`,
    );
    const started = await cli([
      "run",
      "-d",
      "--json",
      "--jobs-dir",
      jobsDir,
      "--",
      Deno.execPath(),
      "run",
      "-A",
      "worker.ts",
    ], { cwd: dir });
    assert.equal(started.code, 0, started.stderr);
    const id: string = JSON.parse(started.stdout).id;
    const jobs = new FileJobStore(jobsDir);
    const end = await until("the end", async () => {
      const job = await jobs.load(id);
      return job.status === "running" ? undefined : job;
    });
    assert.equal(end.status, "completed", end.error);
    assert.equal(end.progress?.done, 5000);
    assert.equal(end.progress?.message, "step 5000");
  });
});

Deno.test("the job's worker gets its store in EPACK_DETACH_STORE", async () => {
  await withDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const started = await cli([
      "run",
      "-d",
      "--json",
      "--jobs-dir",
      jobsDir,
      "--",
      "sh",
      "-c",
      `printf '%s|%s' "$${STORE_ENV}" "$${JOB_ID_ENV}"`,
    ], { cwd: dir, env: { [STORE_ENV]: join(dir, "elsewhere") } });
    assert.equal(started.code, 0, started.stderr);
    const id: string = JSON.parse(started.stdout).id;
    const jobs = new FileJobStore(jobsDir);
    const end = await until("the end", async () => {
      const job = await jobs.load(id);
      return job.status === "running" ? undefined : job;
    });
    assert.equal(await Deno.readTextFile(end.logPath), `${jobsDir}|${id}`);
  });
});

Deno.test("a detached job reports to a PostgreSQL store", async () => {
  await using cluster = await startCluster();
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      join(dir, "worker.ts"),
      `import { reportProgress, reportResult } from "${REPORT}";
reportProgress({ done: 7, total: 9, unit: "rows", message: "copying" });
await reportResult({ rows: 9 });
reportProgress({ done: 9, total: 9, unit: "rows" });
`,
    );
    const started = await cli([
      "run",
      "-d",
      "--json",
      "--store",
      cluster.url,
      "--",
      Deno.execPath(),
      "run",
      "-A",
      "worker.ts",
      // The job's log goes to its user's state directory: the test's own.
    ], { cwd: dir, env: { XDG_STATE_HOME: dir } });
    assert.equal(started.code, 0, started.stderr);
    const id: string = JSON.parse(started.stdout).id;
    await using store = await openStore(
      `${cluster.url}?epack_log_dir=${encodeURIComponent(`${dir}/epack/logs`)}`,
    );
    const end = await until("the end", async () => {
      const job = await store.load(id);
      return job.status === "running" ? undefined : job;
    }, 30_000);
    assert.equal(end.status, "completed", end.error);
    assert.deepEqual(end.result, { rows: 9 });
    assert.deepEqual(
      { ...end.progress, updatedAt: undefined },
      { done: 9, total: 9, unit: "rows", updatedAt: undefined },
    );
  });
});
