// Load and soak tests: what must hold at volume (a thousand leases on one
// server, a thousand IDs from four processes, a burst of spawns). They take
// tens of seconds, so `deno task test` leaves them out and `deno task
// test:load` runs them; CI runs them once. Within this file they run one
// after another, so that each has the machine's load to itself.

import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "npm:postgres@3.4.9";
import { FileJobStore, type Job } from "../jobs.ts";
import type { SpawnOptions } from "../mod.ts";
import { PostgresJobStore } from "../postgres.ts";
import { decodeTime } from "../store/job_id.ts";
import { startCluster } from "../testdata/pg_cluster.ts";
import { removeSettled, until } from "../testdata/poll.ts";
import { MOD, withTempDir } from "../testdata/cli_helpers.ts";
import {
  DENO,
  finalJob,
  type Spawned,
  SPAWNER,
  spawnJob,
} from "../testdata/spawn_helpers.ts";
import {
  type Child,
  finish,
  kill,
  waitFor,
  withStore,
  writeScript,
} from "../testdata/store_helpers.ts";

const HOLD_MANY = new URL("../testdata/hold_many.ts", import.meta.url)
  .pathname;

/** How many jobs have each status. */
function countStatuses(jobs: { status: string }[]): Record<string, number> {
  const by: Record<string, number> = {};
  for (const j of jobs) by[j.status] = (by[j.status] ?? 0) + 1;
  return by;
}

Deno.test("1,000 jobs' leases stay held on a server with max_connections 100", async () => {
  await using cluster = await startCluster();
  const logDir = await Deno.makeTempDir({ prefix: "detach_pglogs_" });
  const N = 1_000;
  const PROCS = 4;
  const ttl = 6_000;
  const url = `${cluster.url}?epack_lease_ttl=${ttl}&epack_renew_every=2000` +
    `&epack_log_dir=${encodeURIComponent(logDir)}`;
  const children: Deno.ChildProcess[] = [];
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  try {
    await using store = await PostgresJobStore.open(url);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      ids.push((await store.create({ command: "x", id: `job_${i}` })).id);
    }
    const [{ max }] = await admin<{ max: string }[]>`
      SELECT current_setting('max_connections') AS max`;
    assert.equal(max, "100");
    // Four processes of 250 supervisors' leases each, on one host.
    for (let p = 0; p < PROCS; p++) {
      const mine = ids.filter((_, i) => i % PROCS === p);
      const child = new Deno.Command(DENO, {
        args: ["run", "-A", HOLD_MANY, url, ...mine],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      children.push(child);
    }
    for (const child of children) {
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      const { value } = await reader.read();
      reader.releaseLock();
      assert.ok(value?.startsWith(`held ${N / PROCS}`), `child said ${value}`);
    }
    // Watched past two TTLs (the soak itself): every lease must have been
    // renewed, several times. The holders' pools close once idle (2 s);
    // after that only the renewals connect, one batch per host per period.
    let peak = 0;
    let steady = 0;
    const start = Date.now();
    while (Date.now() - start < 2 * ttl + 1_000) {
      const [{ n }] = await admin<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE backend_type = 'client backend'`;
      peak = Math.max(peak, n);
      if (Date.now() - start > 4_000) steady = Math.max(steady, n);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(
      countStatuses((await store.list()).jobs),
      { running: N },
      "all still held",
    );
    // As another host sees them: by their leases, which this host's one
    // renewer renews (a reader of this host goes by the jobs' locks).
    const [{ leased }] = await admin<{ leased: number }[]>`
      SELECT count(*)::int AS leased FROM epack_detach_jobs
      WHERE lease_until > now()`;
    assert.equal(leased, N, "leases current");
    // The four processes' idle pools have closed; the renewals come one
    // per host per period.
    console.log(
      `connections: peak ${peak}, steady ${steady} (incl. 2 of the test)`,
    );
    assert.ok(peak < 40, `peak client connections ${peak}`);
    assert.ok(steady <= 4, `steady client connections ${steady}`);
    // One process killed: its 250 jobs are lost within the TTL (and a
    // second of margin), the rest still run.
    children[0].kill("SIGKILL");
    await children[0].status;
    const killed = Date.now();
    let seenAt = 0;
    const after = await until(
      "the killed holder's jobs lost",
      async () => {
        seenAt = Date.now();
        const by = countStatuses((await store.list()).jobs);
        return by.lost === N / PROCS ? by : undefined;
      },
      ttl + 3_000,
      200,
    );
    const took = seenAt - killed;
    assert.ok(took <= ttl + 1_000, `lost ${took} ms after the kill`);
    assert.deepEqual(after, { running: N - N / PROCS, lost: N / PROCS });
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.stdout.cancel().catch(() => {});
      await child.status;
    }
    await admin.end();
    await removeSettled(logDir);
  }
});

const CREATOR = `
const [dir, n] = Deno.args;
const store = new FileJobStore(dir);
console.log("ready");
await new Response(Deno.stdin.readable).text();
const ids = [];
for (let i = 0; i < Number(n); i++) {
  ids.push((await store.create({ command: "pull" })).id);
}
console.log(JSON.stringify(ids));
`;

Deno.test("JobStore.create() from 4 processes makes 1,000 distinct IDs that sort by creation time", async () => {
  await withStore(async (store, tmp) => {
    const script = await writeScript(tmp, "creator.ts", CREATOR);
    const PER = 250;
    const children = Array.from({ length: 4 }, () => {
      const process = new Deno.Command(DENO, {
        args: [
          "run",
          "-A",
          "--quiet",
          script,
          store.dir,
          String(PER),
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = process.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      return { process, reader, out: "" } satisfies Child;
    });
    const start = Date.now();
    let outputs: string[];
    try {
      await Promise.all(children.map((c) => waitFor(c, "ready")));
      await Promise.all(children.map((c) => c.process.stdin.close()));
      outputs = await Promise.all(children.map((c) => finish(c)));
    } finally {
      await Promise.all(children.map(async (c) => {
        await c.process.stdin.close().catch(() => {});
        await kill(c);
      }));
    }
    const end = Date.now();
    const perProcess = outputs.map((out) =>
      JSON.parse(out.trim().split("\n").at(-1)!) as string[]
    );
    const all = perProcess.flat();
    assert.equal(all.length, 1000);
    assert.equal(new Set(all).size, 1000, "IDs collided");

    for (const ids of perProcess) {
      // In the order one process created them, its IDs increase.
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1] < ids[i]);
    }
    const { jobs, invalid } = await store.list();
    assert.deepEqual(invalid, []);
    assert.equal(jobs.length, 1000);
    for (const job of jobs) {
      // The ID carries the creation time: within the run, and no later
      // than the recorded start.
      const t = decodeTime(job.id);
      assert.ok(t >= start - 1 && t <= end, `${job.id}: ${t}`);
      assert.ok(t <= job.startedAt.getTime(), job.id);
      assert.ok(job.startedAt.getTime() - t < 1000, job.id);
    }
  });
});

Deno.test("20 jobs spawned concurrently from 4 processes are all recorded, with distinct IDs", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const five = JSON.stringify(
      Array.from({ length: 5 }, () => ({
        command: "true",
        store: jobsDir,
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
      const job = await finalJob(jobsDir, id);
      assert.equal(job.status, "completed", `${id}: ${job.error}`);
    }
    const { jobs, invalid } = await new FileJobStore(jobsDir).list();
    assert.equal(jobs.length, 20);
    assert.deepEqual(invalid, []);
  });
});

/** The PIDs of the processes whose command line holds every one of `parts`. */
function processesWith(...parts: string[]): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (parts.every((p) => argv.includes(p))) pids.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

Deno.test("SIGKILL of every Deno process of ours while 10 jobs run loses no end: each record says exactly how its job ended, and its retries and hooks happen", async () => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const gate = join(dir, "gate");
    const wait = `while [ ! -e '${gate}' ]; do sleep 0.02; done; `;
    const hook = (name: string) =>
      `echo "$EPACK_JOB_STATUS $EPACK_JOB_EXIT_CODE$EPACK_JOB_SIGNAL" > '${dir}/hook-${name}'`;
    // The last line only once the log is under half the cap: no rotation
    // comes while it is written, so it is kept (a rotation loses what is
    // written between its copy and its truncate: the cap is soft).
    const lines =
      "i=1; while [ $i -lt 3000 ]; do printf '%099d\\n' $i; i=$((i+1)); done; " +
      `while [ "$(wc -c < '${jobsDir}'/$EPACK_DETACH_JOB_ID.log)" -ge 8192 ]; ` +
      "do sleep 0.01; done; printf '%099d\\n' 3000";
    const cases: {
      name: string;
      options: SpawnOptions;
      expect: Partial<Job>;
      hook?: string;
      attempts?: number;
    }[] = [
      {
        name: "ok",
        options: { args: [wait + "exit 0"], onEnd: hook("ok") },
        expect: { status: "completed", exitCode: 0 },
        hook: "completed 0",
      },
      {
        name: "exit3",
        options: { args: [wait + "exit 3"] },
        expect: { status: "failed", exitCode: 3, error: "Exited with code 3" },
      },
      {
        name: "exit127",
        options: { args: [wait + "exit 127"] },
        expect: {
          status: "failed",
          exitCode: 127,
          error: "Exited with code 127",
        },
      },
      {
        name: "signal",
        options: { args: [wait + "kill -9 $$"], onEnd: hook("signal") },
        expect: { status: "failed", signal: "SIGKILL" },
        hook: "failed SIGKILL",
      },
      {
        name: "timeout",
        options: {
          args: ["sleep 60"],
          timeout: 6_000,
          grace: 200,
          onEnd: hook("timeout"),
        },
        expect: { status: "timed_out", signal: "SIGTERM" },
        hook: "timed_out SIGTERM",
      },
      {
        name: "retried",
        options: {
          args: [
            wait +
            `n=$(cat '${dir}/n' 2>/dev/null || echo 0); echo $((n+1)) > '${dir}/n'; [ $n -ge 2 ]`,
          ],
          retries: 3,
          retryDelay: 200,
          onEnd: hook("retried"),
        },
        expect: { status: "completed", exitCode: 0 },
        hook: "completed 0",
        attempts: 3,
      },
      {
        name: "retries-out",
        options: { args: [wait + "exit 4"], retries: 1, retryDelay: 100 },
        expect: { status: "failed", exitCode: 4 },
        attempts: 2,
      },
      {
        name: "capped",
        options: {
          args: [wait + lines],
          logMax: 16 * 1024,
          onEnd: hook("capped"),
        },
        expect: { status: "completed", exitCode: 0 },
        hook: "completed 0",
      },
      {
        name: "slow",
        options: { args: [wait + "sleep 1; exit 7"] },
        expect: { status: "failed", exitCode: 7 },
      },
      {
        name: "late-hook",
        options: {
          args: [wait + "exit 0"],
          onEnd: `sleep 1; ${hook("late-hook")}`,
        },
        expect: { status: "completed", exitCode: 0 },
        hook: "completed 0",
      },
    ];
    const spawned = await Promise.all(
      cases.map(async (c) =>
        (await spawnJob({
          command: "sh",
          ...c.options,
          args: ["-c", ...c.options.args!],
          store: jobsDir,
        })).result!
      ),
    );
    const store = new FileJobStore(jobsDir);
    // Every job runs: its supervisor (the shim) has started its worker.
    for (const s of spawned) {
      await until(
        `job ${s.jobId}'s worker`,
        async () => (await store.load(s.jobId)).workerPid,
      );
    }
    // Deno processes of ours meanwhile: readers waiting on the jobs.
    const waiters = spawned.map((s) =>
      new Deno.Command(DENO, {
        args: [
          "run",
          "-A",
          MOD,
          "jobs",
          "wait",
          s.jobId,
          "--jobs-dir",
          jobsDir,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn()
    );
    await until(
      "the waiters",
      () =>
        processesWith("jobs", "wait", jobsDir).length === waiters.length ||
        undefined,
    );
    const ours = () => [
      ...processesWith(jobsDir, "__epack_detach_supervise__"),
      ...processesWith("jobs", "wait", jobsDir),
    ];
    let killed = 0;
    for (const pid of ours()) {
      Deno.kill(pid, "SIGKILL");
      killed++;
    }
    await Promise.all(waiters.map((w) => w.status));
    // The jobs end; for a while every finisher the shims run is killed too,
    // as soon as it is seen (long before it can have written anything).
    await Deno.writeTextFile(gate, "");
    const until3s = Date.now() + 3_000;
    while (Date.now() < until3s) {
      for (const pid of processesWith(jobsDir, "--finish")) {
        try {
          Deno.kill(pid, "SIGKILL");
          killed++;
        } catch {
          // Ended meanwhile.
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    console.log(`killed ${killed} Deno processes of ours`);
    assert.ok(killed >= waiters.length);
    // Once the shims' finishers have run: every record (as written, not as
    // a reader folds it) says exactly how its job ended.
    for (const [i, c] of cases.entries()) {
      const id = spawned[i].jobId;
      const job = await until(
        `job ${c.name} recorded`,
        async () => {
          const j = await store.loadRecorded(id);
          return j.status === "running" ? undefined : j;
        },
        60_000,
        100,
      );
      for (const [key, value] of Object.entries(c.expect)) {
        assert.equal(
          job[key as keyof Job],
          value,
          `${c.name}: ${key} (${job.error})`,
        );
      }
      assert.equal(job.supervisor, "shim");
      if (c.attempts !== undefined) {
        assert.equal(job.attempts?.length, c.attempts, c.name);
      }
      if (c.hook !== undefined) {
        const said = await until(
          `${c.name}'s hook`,
          () =>
            Deno.readTextFile(`${dir}/hook-${c.name}`).catch(() => undefined),
          30_000,
          100,
        );
        assert.equal(said.trim(), c.hook, c.name);
      }
      if (c.name === "capped") {
        // The hook's note follows the end in the log: once it is there.
        const kept = await until("the capped log's hook note", async () => {
          const text = await Deno.readTextFile(`${job.logPath}.1`) +
            await Deno.readTextFile(job.logPath);
          return text.includes("on-end hook") ? text : undefined;
        });
        assert.ok(
          kept.length <= 16 * 1024 + 1_000,
          `${kept.length} bytes kept`,
        );
        assert.match(kept, /0*3000\n\[@epack\/detach\] on-end hook/);
      }
    }
    // No shim is left once all is done.
    await until(
      "the shims to exit",
      () => processesWith(jobsDir, ".shim-").length === 0 || undefined,
      30_000,
    );
  });
});
