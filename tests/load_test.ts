// Load and soak tests: what must hold at volume (a thousand leases on one
// server, a thousand IDs from four processes, a burst of spawns). They take
// tens of seconds, so `deno task test` leaves them out and `deno task
// test:load` runs them; CI runs them once. Within this file they run one
// after another, so that each has the machine's load to itself.

import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "npm:postgres@3.4.9";
import { FileJobStore } from "../jobs.ts";
import { PostgresJobStore } from "../postgres.ts";
import { decodeTime } from "../store/job_id.ts";
import { startCluster } from "../testdata/pg_cluster.ts";
import { until } from "../testdata/poll.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import {
  DENO,
  finalJob,
  type Spawned,
  SPAWNER,
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
    await Deno.remove(logDir, { recursive: true });
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
