// The PostgreSQL store against the file store, measured side by side in one
// run (interleaved where it can be, so a noisy neighbour hits both), on a
// throwaway cluster with fsync on (the file store fdatasyncs its records):
//
// - open + create: what recording a new job costs a spawn, from a program
//   that has not opened the store yet (a fresh process each time);
// - list 10,000 jobs;
// - end-recorded latency: from finish() to a watcher in another process
//   seeing the end (file: inotify; PostgreSQL: LISTEN/NOTIFY);
// - one supervisor's extra memory (peak RSS of a process holding one job's
//   liveness, against one holding nothing) and its connections.
//
//   deno run -A bench/pg_measure.ts [--rounds N] [--jobs N]

import { parseArgs } from "node:util";
import postgres from "npm:postgres@3.4.9";
import { startCluster } from "../testdata/pg_cluster.ts";
import { type JobStore, openStore } from "../store.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "9" },
    jobs: { type: "string", default: "10000" },
  },
});
const ROUNDS = Number(values.rounds);
const JOBS = Number(values.jobs);
const HERE = new URL(".", import.meta.url).pathname;

await using cluster = await startCluster({ noFsync: false });
const tmp = await Deno.makeTempDir({ prefix: "detach_pgbench_" });
await Deno.mkdir(`${tmp}/work`);
const pgUrl = `${cluster.url}?epack_log_dir=${
  encodeURIComponent(`${tmp}/pglogs`)
}`;
const fileDir = `${tmp}/jobs`;
const stores: Record<string, string> = { file: fileDir, postgres: pgUrl };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function child(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${HERE}/testdata/pg_measure_child.ts`, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`child ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout).trim();
}

const rows: [string, string, string, string][] = [];
const row = (what: string, file: number, pg: number, unit: string) =>
  rows.push([
    what,
    `${file.toFixed(1)} ${unit}`,
    `${pg.toFixed(1)} ${unit}`,
    `${(pg / file).toFixed(1)}×`,
  ]);

try {
  // Open + create, in a fresh process (includes loading the client).
  const create: Record<string, number[]> = { file: [], postgres: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of ["file", "postgres"]) {
      create[kind].push(Number(await child(["create", stores[kind]])));
    }
  }
  row(
    "open store + create a job (fresh process)",
    median(create.file),
    median(create.postgres),
    "ms",
  );
  // spawn(): record the job and start its supervisor, in a fresh process.
  const detach: Record<string, number[]> = { file: [], postgres: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of ["file", "postgres"]) {
      detach[kind].push(
        Number(await child(["detach", stores[kind], `${tmp}/work`])),
      );
    }
  }
  row(
    "spawn(): time to detach (fresh process, store not yet open)",
    median(detach.file),
    median(detach.postgres),
    "ms",
  );
  // Program start-up, the same processes: the whole run of the child.
  const wall: Record<string, number[]> = { file: [], postgres: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of ["file", "postgres"]) {
      const t0 = performance.now();
      await child(["create", stores[kind]]);
      wall[kind].push(performance.now() - t0);
    }
  }
  row(
    "whole process: start, open, create, exit",
    median(wall.file),
    median(wall.postgres),
    "ms",
  );

  // List N jobs.
  const open: Record<string, JobStore> = {};
  for (const kind of ["file", "postgres"]) {
    open[kind] = await openStore(stores[kind]);
  }
  for (const kind of ["file", "postgres"]) {
    const have = (await open[kind].list()).jobs.length;
    const store = open[kind];
    for (let i = have; i < JOBS; i += 100) {
      await Promise.all(
        Array.from(
          { length: Math.min(100, JOBS - i) },
          () => store.create({ command: "x", args: ["a"] }),
        ),
      );
    }
  }
  const list: Record<string, number[]> = { file: [], postgres: [] };
  for (let i = 0; i < Math.min(ROUNDS, 5); i++) {
    for (const kind of ["file", "postgres"]) {
      const t0 = performance.now();
      const { jobs } = await open[kind].list();
      list[kind].push(performance.now() - t0);
      if (jobs.length < JOBS) throw new Error(`${kind}: ${jobs.length} jobs`);
    }
  }
  row(
    `list ${JOBS} jobs`,
    median(list.file),
    median(list.postgres),
    "ms",
  );

  // End-recorded latency: a watcher in another process.
  const seen: Record<string, number[]> = { file: [], postgres: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of ["file", "postgres"]) {
      const job = await open[kind].create({ command: "x" });
      const w = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${HERE}/testdata/pg_measure_child.ts`,
          "watch",
          stores[kind],
          job.id,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = w.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let got = "";
      while (!got.includes("ready")) got += (await reader.read()).value ?? "";
      const t0 = Date.now();
      await open[kind].finish(job.id, { status: "completed", exitCode: 0 });
      while (!got.includes("ended")) got += (await reader.read()).value ?? "";
      const at = Number(got.split("ended ")[1]);
      seen[kind].push(at - t0);
      reader.releaseLock();
      await w.stdout.cancel().catch(() => {});
      await w.status;
    }
  }
  row(
    "end recorded → seen by a watcher in another process",
    median(seen.file),
    median(seen.postgres),
    "ms",
  );

  // One supervisor's memory: a process holding one job's liveness.
  const rss: Record<string, number[]> = { file: [], postgres: [], none: [] };
  for (let i = 0; i < Math.min(ROUNDS, 5); i++) {
    for (const kind of ["none", "file", "postgres"]) {
      let id = "none";
      if (kind !== "none") id = (await open[kind].create({ command: "x" })).id;
      rss[kind].push(
        Number(await child(["hold", kind === "none" ? "" : stores[kind], id])),
      );
    }
  }
  row(
    "peak RSS of a process holding one job (idle baseline " +
      `${(median(rss.none) / 1024).toFixed(1)} MiB)`,
    median(rss.file) / 1024,
    median(rss.postgres) / 1024,
    "MiB",
  );

  // Connections while 50 jobs are held on one host, sampled for 12 s.
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  const held = await Promise.all(
    Array.from({ length: 50 }, () => open.postgres.create({ command: "x" })),
  );
  const holders = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${HERE}/testdata/pg_measure_child.ts`,
      "holdmany",
      pgUrl + "&epack_renew_every=2000&epack_lease_ttl=6000",
      ...held.map((j) => j.id),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const r2 = holders.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await r2.read();
  let peak = 0;
  let samples = 0;
  let sum = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < 12_000) {
    const [{ n }] = await admin<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND application_name LIKE 'epack-detach lease%'`;
    peak = Math.max(peak, n);
    sum += n;
    samples++;
    await new Promise((r) => setTimeout(r, 20));
  }
  holders.kill("SIGTERM");
  r2.releaseLock();
  await holders.stdout.cancel().catch(() => {});
  await holders.status;
  await admin.end();
  for (const s of Object.values(open)) await s[Symbol.asyncDispose]();

  console.log(
    "| measure | file store | PostgreSQL store | PostgreSQL / file |",
  );
  console.log("| --- | --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log(
    `\nRenewal connections while one host holds 50 jobs' leases (renew every 2 s), sampled every 20 ms for 12 s: peak ${peak}, mean ${
      (sum / samples).toFixed(3)
    } (the file store: 0).`,
  );
  console.log(
    `Rounds: ${ROUNDS}; ${Deno.build.target}; PostgreSQL on 127.0.0.1, fsync on.`,
  );
} finally {
  await Deno.remove(tmp, { recursive: true });
}
